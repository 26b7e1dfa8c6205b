"""Profiles side by side on the joe voice: total time, time to first audio, padding waste.

    python bench/bench_profiles.py [--reps 5] [--profiles default,static,openvino,mixed]

Profiles run interleaved (round-robin over repetitions, so drift hits all alike); each
figure is the median over repetitions of the sum over the texts. Times are relative to
``default``. Padding waste: the share of computed ids (encoder) and frames (decoder)
that were padding (static profiles only; dynamic ones compute no padding).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import voicestack

TEXTS = [
    "Hello there.",
    "The weather today is sunny, with a light breeze from the west.",
    "Please remember to bring your umbrella tomorrow; the forecast says it will rain all afternoon.",
    "The quick brown fox jumps over the lazy dog, and then it runs away into the forest; nobody knows "
    "where it went, but everyone agrees that it was a remarkable sight to behold on such a fine summer "
    "morning in the countryside. Later that day, the farmer counted his chickens twice.",
]

PROFILES: dict[str, Any] = {
    "default": "default",
    "static": "static",
    "openvino": "openvino",
    "mixed": {"runtime": "onnxruntime", "networks": {"hifigan": {"runtime": "openvino"}},
              "description": "encoder onnxruntime (dynamic), HiFi-GAN OpenVINO (dynamic)"},
}


def run_once(voice: voicestack.Voice, text: str) -> tuple[float, float, dict[str, int]]:
    req = voice.request(seed=1)
    start = time.perf_counter()
    first = None
    for _chunk in voice.stream(text, request=req):
        if first is None:
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    return total, first or total, dict(req.state.get("static", {}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--profiles", default=",".join(PROFILES))
    args = ap.parse_args()
    names = args.profiles.split(",")
    voices = {}
    for name in names:
        start = time.perf_counter()
        voices[name] = voicestack.load_voice("joe", profile=PROFILES[name])
        print(f"loaded {name:<9} in {time.perf_counter() - start:5.2f} s")
    for voice in voices.values():  # warm-up: first calls allocate
        for text in TEXTS:
            run_once(voice, text)
    totals: dict[str, list[float]] = {n: [] for n in names}
    firsts: dict[str, list[float]] = {n: [] for n in names}
    waste: dict[str, dict[str, int]] = {n: {} for n in names}
    for rep in range(args.reps):
        order = names[rep % len(names):] + names[:rep % len(names)]  # rotate who goes first
        for name in order:
            total = first = 0.0
            for text in TEXTS:
                t, f, st = run_once(voices[name], text)
                total += t
                first += f
                if rep == 0:
                    for k, v in st.items():
                        waste[name][k] = waste[name].get(k, 0) + v
            totals[name].append(total)
            firsts[name].append(first / len(TEXTS))
    base_t = statistics.median(totals[names[0]])
    base_f = statistics.median(firsts[names[0]])
    print(f"\njoe, {len(TEXTS)} texts, {args.reps} interleaved repetitions, medians; relative to {names[0]}")
    print(f"{'profile':<10}{'total s':>9}{'x':>7}{'first audio ms':>16}{'x':>7}{'ids pad %':>11}{'frames pad %':>14}")
    for name in names:
        t = statistics.median(totals[name])
        f = statistics.median(firsts[name])
        w = waste[name]
        ids = f"{100 * w['ids_padding'] / (w['ids'] + w['ids_padding']):.1f}" if w.get("ids") else "-"
        frames = f"{100 * w['frames_padding'] / w['frames']:.1f}" if w.get("frames") else "-"
        print(f"{name:<10}{t:>9.3f}{t / base_t:>7.2f}{1000 * f:>16.1f}{f / base_f:>7.2f}{ids:>11}{frames:>14}")


if __name__ == "__main__":
    main()
