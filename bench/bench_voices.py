#!/usr/bin/env python3
"""Voices side by side: time to first audio and total time of ``stream()``, alternating.

    python bench/bench_voices.py joe joe-mel [--reps 7] [--threads 1]
    python bench/bench_voices.py joe joe-mel --profile joe-mel=griffin-lim   # a named stack of one voice

Each voice is loaded by name (or addon path). Per text, the voices run in turn
(a, b, a, b, ...) after one warm-up each, so machine noise hits all alike; the script
prints the median time to first audio, median total time, real-time factor, and each
voice's ratio to the first one.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterable

TEXTS = {
    "a: 8-word sentence": "The little boat drifted slowly toward the harbour.",
    "b: 40 words, two sentences": (
        "When the morning train finally pulled into the quiet station, the passengers gathered their "
        "bags and stepped onto the cold platform. A small crowd of relatives had been waiting for hours "
        "with flasks of hot tea and warm blankets."
    ),
    "c: 90-word paragraph": (
        "Our village library opened a new reading room last spring. It has tall windows, soft chairs "
        "and a long oak table where students work in the afternoons. On Saturdays the librarian reads "
        "stories to the younger children, and their parents often stay to listen. The shelves hold "
        "novels, atlases, cookery books and a growing collection of local history. Volunteers repaired "
        "the old clock above the door, and it now chimes every hour. Visitors say the room feels calm "
        "and welcoming, even on busy days."
    ),
}


def timed(chunks: Iterable[object]) -> tuple[float, float, int]:
    start = time.perf_counter()
    first = None
    samples = 0
    for chunk in chunks:
        if first is None:
            first = time.perf_counter() - start
        samples += chunk.audio.size  # type: ignore[attr-defined]
    return first or 0.0, time.perf_counter() - start, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("voices", nargs="+", help="voice names or addon paths (the first is the reference)")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads per network")
    parser.add_argument("--profile", action="append", default=[], metavar="VOICE=STACK",
                        help="run VOICE with its named stack STACK (repeatable)")
    args = parser.parse_args()

    import voicestack

    stacks = dict(p.split("=", 1) for p in args.profile)
    voices = {}
    for name in args.voices:
        profile: dict[str, object] = {"threads": args.threads}
        if name in stacks:
            profile["stack"] = stacks[name]
        label = f"{name}[{stacks[name]}]" if name in stacks else name
        voices[label] = voicestack.load_voice(name, profile=profile)
    ref = next(iter(voices))
    print(f"{args.reps} runs each, alternating, threads={args.threads}; medians; ratio = voice / {ref}")
    for label, text in TEXTS.items():
        for v in voices.values():  # warm-up (sessions, caches, espeak worker)
            timed(v.stream(text, seed=1))
        first: dict[str, list[float]] = {k: [] for k in voices}
        total: dict[str, list[float]] = {k: [] for k in voices}
        audio_s: dict[str, float] = {}
        for _ in range(args.reps):
            for name, v in voices.items():
                f, t, n = timed(v.stream(text, seed=1))
                first[name].append(f)
                total[name].append(t)
                audio_s[name] = n / v.sample_rate
        print(f"\n{label}")
        f0, t0 = statistics.median(first[ref]), statistics.median(total[ref])
        for name in voices:
            f, t = statistics.median(first[name]), statistics.median(total[name])
            print(f"  {name:28s} first audio {f * 1000:7.1f} ms ({f / f0:4.2f}x)   total {t * 1000:7.1f} ms "
                  f"({t / t0:4.2f}x)   audio {audio_s[name]:5.2f} s   RTF {t / audio_s[name]:.3f}")


if __name__ == "__main__":
    main()
