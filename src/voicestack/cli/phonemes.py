"""``voicestack say --dry-run``: what the voice's front-end makes of a text, without
loading any network: the normalised text, then each piece the stack would encode at
once, as phonemes (read back from its ids through the voice's symbol table) and ids."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

PIPER_MARKS = {"^", "$", "_"}  # begin, end and pad of Piper id sequences: structure, not sound


def symbol_table(settings: Mapping[str, Any]) -> dict[int, str]:
    """id -> symbol for the front-ends that declare one (Piper's phoneme_id_map, a
    character front-end's symbols); empty if ids are all there is."""
    table: dict[int, str] = {}
    id_map = settings.get("phoneme_id_map")
    if isinstance(id_map, Mapping):
        for symbol, ids in id_map.items():
            if isinstance(ids, Sequence) and len(ids) == 1 and isinstance(ids[0], int):
                table.setdefault(ids[0], str(symbol))
    elif settings.get("type") == "characters":
        symbols = str(settings.get("symbols", "abcdefghijklmnopqrstuvwxyz ,.!?'"))
        table = {i + 1: c for i, c in enumerate(symbols)}
    return table


def spell(ids: Sequence[int], table: Mapping[int, str]) -> str:
    """A piece's ids as its symbols, Piper's begin/end/pad marks left out."""
    return "".join(table.get(i, f"<{i}>") for i in ids if table.get(i) not in PIPER_MARKS)


def dry_run(voice_name: str, text: str, out: Any = None) -> int:
    from voicestack.addon import read_manifest
    from voicestack.catalog import resolve
    from voicestack.voice import make_frontend

    out = out or sys.stdout
    manifest = read_manifest(resolve(voice_name))
    frontend = make_frontend(manifest.frontend)
    inner = getattr(frontend, "inner", None)  # the text front-end (normalise + phonemise) if any
    print(f"voice: {manifest.name} ({manifest.frontend.get('type')} front-end, {manifest.language})", file=out)
    if inner is not None and hasattr(inner, "prepare"):
        print(f"normalised: {' '.join(inner.prepare(text).split())}", file=out)
    table = symbol_table(manifest.frontend)
    count = 0
    for count, ids in enumerate(frontend.pieces(text), 1):
        ids = [int(i) for i in ids]
        if table:
            print(f"piece {count}: {spell(ids, table)}", file=out)
            print(f"  ids ({len(ids)}): {' '.join(map(str, ids))}", file=out)
        else:
            print(f"piece {count} ({len(ids)} ids): {' '.join(map(str, ids))}", file=out)
    if count == 0:
        from voicestack.cli import CliError

        raise CliError("say: nothing to speak: the text has no pronounceable words")
    return 0
