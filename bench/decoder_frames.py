"""Frames each windowed decoder of joe computes, against the frames of the piece.

    python bench/decoder_frames.py [--tail 0,3]

For each text: the piece frames, then per network (flow, HiFi-GAN) the frames it ran
(context frames computed twice included) and its calls, once per ``tail`` value given
(the Decoder parameter, set on the loaded voice). Counts, not times: the machine's load
does not change them.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import TEXTS

import voicestack
from voicestack.components.decoders import Decoder


def decoders(block: Any) -> list[Decoder]:
    found: list[Decoder] = []
    if isinstance(block, Decoder):
        found.append(block)
    for attr in ("blocks", "sequence_block", "streamable_block"):
        child = getattr(block, attr, None)
        for c in child if isinstance(child, list) else [child] if child is not None else []:
            found.extend(decoders(c))
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tail", default="0,3", help="tail values to compare (comma-separated)")
    args = ap.parse_args()
    voice = voicestack.load_voice("joe")
    decs = decoders(voice.root)
    frames: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    for d in decs:
        def counting(x: Any, request: Any, tensors: Any = None, d: Decoder = d, run: Any = d.run_window) -> Any:
            frames[d.name] += x.shape[-1]
            calls[d.name] += 1
            return run(x, request, tensors)

        d.run_window = counting  # type: ignore[method-assign]
    print(f"{'text':10} {'tail':>5} {'frames':>7}  " + "  ".join(f"{d.name + ' ran (calls)':>20}" for d in decs))
    for label, text in TEXTS.items():
        for tail in (float(t) for t in args.tail.split(",")):
            for d in decs:
                d.params = dataclasses.replace(d.params, tail=tail)
            frames.clear()
            calls.clear()
            samples = sum(c.audio.size for c in voice.stream(text, seed=1))
            piece = samples // 256
            cells = "  ".join(f"{frames[d.name]:>14} ({calls[d.name]:>2})" for d in decs)
            print(f"{label:10} {tail:5.1f} {piece:7d}  {cells}")


if __name__ == "__main__":
    main()
