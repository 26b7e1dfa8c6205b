"""``voicestack voices``: every voice this machine can load, with what it is; addons on
the search path that cannot load are listed apart, with the reason."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

# (header, field) of the table; a voice's entry is a dict with these fields and more
COLUMNS = [("NAME", "name"), ("LANGUAGE", "language"), ("ARCHITECTURE", "architecture"),
           ("SPEAKERS", "speakers"), ("DESCRIPTION", "description")]
WIDTHS = {"speakers": 32, "description": 70}  # longer cells are cut (--json has them whole)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("voices", help="list the voices this machine can load",
                       description="List the voices this machine can load, and addons on VOICESTACK_VOICES "
                                   "that are broken, with the reason.")
    p.add_argument("--json", action="store_true", help="machine-readable output: a JSON list of voices")
    p.set_defaults(func=run)


def describe(name: str, path: Path | None) -> dict[str, Any]:
    """One voice as a dict: name, path, ok, and what its manifest says (or the error)."""
    from voicestack.addon import read_manifest
    from voicestack.catalog import builtin_dir
    from voicestack.errors import VoicestackError

    entry: dict[str, Any] = {"name": name, "path": str(path) if path else None, "ok": True}
    try:
        root = builtin_dir(name) if path is None else path
        entry["path"] = str(root)
        manifest = read_manifest(root)
    except (VoicestackError, OSError) as err:
        from voicestack.cli import one_line

        entry.update(ok=False, error=one_line(err))
        return entry
    entry.update(language=manifest.language, architecture=manifest.architecture,
                 sample_rate=manifest.sample_rate, version=manifest.version,
                 speakers=list(manifest.speakers), default_speaker=manifest.default_speaker,
                 description=" ".join(manifest.description.split()))
    return entry


def list_voices() -> tuple[list[dict[str, Any]], list[str]]:
    """(voices, warnings about the search path)."""
    from voicestack.catalog import ENV_PATH, addon_dirs, voice_names

    warnings = [f"{ENV_PATH}: {p} is not a directory" for p in os.environ.get(ENV_PATH, "").split(os.pathsep)
                if p and not Path(p).is_dir()]
    found = addon_dirs()
    return [describe(n, found.get(n)) for n in voice_names()], warnings


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "-"
    return "" if value is None else str(value)


def run(args: argparse.Namespace) -> int:
    voices, warnings = list_voices()
    for line in warnings:
        print(f"voicestack: warning: {line}", file=sys.stderr)
    broken = [v for v in voices if not v["ok"]]
    if args.json:
        print(json.dumps(voices, indent=2, ensure_ascii=False))
        return 0
    good = [v for v in voices if v["ok"]]
    rows = [[_cut(_cell(v.get(key)), WIDTHS.get(key, 1000)) for _, key in COLUMNS] for v in good]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, (h, _) in enumerate(COLUMNS)]
    for row in [[h for h, _ in COLUMNS], *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if broken:
        print(f"\nbroken addons ({len(broken)}; `voicestack addon validate PATH` lists every problem):")
        for v in broken:
            print(f"  {v['name']}  {v['path']}\n    {v['error']}")
    return 0
