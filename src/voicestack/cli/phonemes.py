"""``voicestack say --dry-run``: what the voice's front-end makes of a text, without
loading any network: the normalised text, then each piece the stack would encode at
once, as phonemes (read back from its ids through the voice's symbol table where it has
one) and its tensors."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

PIPER_MARKS = {"^", "$", "_"}  # begin, end and pad of Piper id sequences: structure, not sound


def symbol_table(settings: Mapping[str, Any]) -> dict[int, str]:
    """id -> symbol for the front-ends that declare one (a ``phoneme_id_map`` anywhere in
    the front-end tree, a character front-end's ``symbols``); empty if ids are all there is."""
    table: dict[int, str] = {}
    stack: list[Any] = [settings]
    while stack:
        node = stack.pop()
        if not isinstance(node, Mapping):
            continue
        id_map = node.get("phoneme_id_map")
        if isinstance(id_map, Mapping):
            for symbol, ids in id_map.items():
                if isinstance(ids, Sequence) and len(ids) == 1 and isinstance(ids[0], int):
                    table.setdefault(ids[0], str(symbol))
        if node.get("type") == "characters":
            symbols = str(node.get("symbols", "abcdefghijklmnopqrstuvwxyz ,.!?'"))
            table.update({i + 1: c for i, c in enumerate(symbols)})
        stack.extend(v for v in node.values() if isinstance(v, Mapping))
    return table


def spell(ids: Sequence[int], table: Mapping[int, str]) -> str:
    """A piece's ids as its symbols, Piper's begin/end/pad marks left out."""
    return "".join(table.get(i, f"<{i}>") for i in ids if table.get(i) not in PIPER_MARKS)


def _tensor(name: str, value: np.ndarray) -> str:
    if name == "input" or (value.dtype.kind in "iu" and value.size <= 4096 and value.ndim <= 2):
        flat = value.reshape(-1)
        label = "ids" if name == "input" else name
        return f"{label} ({flat.size}): {' '.join(map(str, flat.tolist()))}"
    return f"{name}: {value.dtype} {list(value.shape)}"


def dry_run(voice_name: str, text: str, speaker: str | None = None, out: Any = None) -> int:
    from voicestack.addon import read_manifest
    from voicestack.catalog import resolve
    from voicestack.cli import CliError
    from voicestack.frontends import build_frontend, parse_frontend

    out = out or sys.stdout
    manifest = read_manifest(resolve(voice_name))
    if manifest.kind != "voice":
        raise CliError(f"say: '{manifest.name}' is a {manifest.kind}, not a voice: it takes no text")
    if speaker is not None and speaker not in manifest.speakers:
        known = ", ".join(manifest.speakers) or "none (a single-speaker voice)"
        raise CliError(f"say: --speaker: voice '{manifest.name}' has no speaker {speaker!r}; its speakers: {known}")
    frontend: Any = build_frontend(parse_frontend(manifest.frontend, manifest), manifest)  # type: ignore[arg-type]
    who = f", speaker {speaker}" if speaker else ""
    print(f"voice: {manifest.name} ({frontend.type_name} front-end, {manifest.language}{who})", file=out)
    if hasattr(frontend, "normalized"):
        print(f"normalised: {' '.join(frontend.normalized(text).split())}", file=out)
    table = symbol_table(manifest.frontend)
    count = 0
    for count, piece in enumerate(frontend.pieces(text), 1):
        ids = np.asarray(piece.tensors.get("input", np.zeros((1, 0), np.int64))).reshape(-1).tolist()
        shown = spell(ids, table) if table and ids else piece.phonemes or piece.text
        print(f"piece {count}: {shown}", file=out)
        for name, value in piece.tensors.items():
            if name != "input_lengths":
                print(f"  {_tensor(name, np.asarray(value))}", file=out)
    if count == 0:
        raise CliError("say: nothing to speak: the text has no pronounceable words")
    return 0
