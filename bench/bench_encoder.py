#!/usr/bin/env python
"""What one encoder call costs as a piece grows: the figures the voice's encoder limit is chosen from.

    python bench/bench_encoder.py [--voice joe] [--sizes 100,200,400,600,800,1024,1200,1600,2000]

Encodes unpunctuated English of each length in ids (the encoders alone: text encoder and
duration predictor, no decoder), sizes alternating, the median of ``--repeat`` runs each,
and prints milliseconds per call, per id, and the cost per id relative to the smallest
size. A long sentence is encoded whole up to the limit, so first audio of such a
sentence waits for one call of its length; past it the call's cost per id keeps rising.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import voicestack

WORDS = ("the quiet river carried every small boat past the old mill while children watched from the "
         "bridge and counted them one by one until evening came").split()


def ids_of_length(voice: voicestack.Voice, n: int) -> np.ndarray:
    """``n`` real ids of unpunctuated English (the ids the front-end gives, cut to ``n``)."""
    text = " ".join(WORDS * (n // 40 + 2))
    return np.concatenate([p.tensors["input"][0] for p in voice.frontend.pieces(text)])[:n].astype(np.int64)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--voice", default="joe")
    p.add_argument("--sizes", default="100,200,400,600,800,1024,1200,1600,2000")
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    # no limit while measuring: each size is one call
    voice = voicestack.load_voice(args.voice)
    encoders = voice.root.sequence_block
    encoders.limit = None
    inputs = {n: ids_of_length(voice, n) for n in sizes}
    times: dict[int, list[float]] = {n: [] for n in sizes}
    for _ in range(args.repeat):
        for n in sizes:  # alternating, so load on a shared machine spreads over every size
            req = voice.request(seed=0)
            tensors = {"input": inputs[n].reshape(1, -1), "input_lengths": np.asarray([n], np.int64)}
            t0 = time.perf_counter()
            encoders.run(tensors, req)
            times[n].append(time.perf_counter() - t0)
    base = statistics.median(times[sizes[0]]) / sizes[0]
    print(f"{'ids':>6} {'ms/call':>9} {'ms/id':>7} {'per id vs ' + str(sizes[0]):>14}")
    for n in sizes:
        med = statistics.median(times[n])
        print(f"{n:>6} {med * 1000:9.1f} {med * 1000 / n:7.3f} {med / n / base:14.2f}x")
    print(f"current limit: {voice.frontend.encode_limit()} ids")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
