#!/usr/bin/env python
"""What cross-request batching buys per network call on this machine.

    python bench/bench_batching.py [--voice joe] [--batches 1,2,4,8] [--threads 1,2] [--reps 7]

For every network of the voice that a batching profile batches (runtime.batching: a
leading axis of one on every input and output), at the window sizes the service runs
(the decoder's first window and larger ones, each with its context on both sides),
times B separate calls against one call on B stacked windows, alternating, median of
``--reps``, and prints the batched call's time per window as a ratio of the separate
calls' (< 1: batching saves that much of the compute). Also checks that each row of the
batched output equals its separate call. Ratios are measured side by side in one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voice", default="joe")
    ap.add_argument("--batches", default="1,2,4,8")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()

    import voicestack
    from voicestack.runtime import RUNTIMES
    from voicestack.runtime.batching import batch_copy

    voice = voicestack.load_voice(args.voice)
    batches = [int(x) for x in args.batches.split(",")]
    print(f"voice={args.voice} cpus={os.cpu_count()} load average {os.getloadavg()[0]:.2f}")
    print(f"{'network':<10} {'frames':>6} {'threads':>7} " + " ".join(f"{'B=' + str(b):>14}" for b in batches))
    for block in voice.root.streamable_block.blocks:
        call = getattr(block, "call", None)
        if call is None or not hasattr(block, "params"):
            continue
        path = Path(call.session.path)
        copy = batch_copy(path)
        name = call.net.name
        if copy is None:
            print(f"{name:<10} not batchable (no batch axis of one on every input and output)")
            continue
        p = block.params
        sizes = sorted({p.first_window, 4 * p.first_window, 16 * p.first_window})
        for threads in (int(x) for x in args.threads.split(",")):
            runtime = RUNTIMES.get("onnxruntime", "runtime")
            session = runtime.open(copy, runtime.Options(threads=threads), None)
            for frames in sizes:
                cells = [_cell(session, call, block.network_input, frames + 2 * p.context, b, args.reps)
                         for b in batches]
                print(f"{name:<10} {frames:>6} {threads:>7} " + " ".join(f"{c:>14}" for c in cells))
    print("cell: ms per window run separately -> batched, and batched / separate")
    return 0


def _cell(session: object, call: object, input_name: str, frames: int, batch: int, reps: int) -> str:
    decl = call.net.inputs[input_name].decl  # type: ignore[attr-defined]
    channels = [d for d in decl.shape[1:-1]]
    rng = np.random.default_rng(frames * 31 + batch)
    windows = [rng.standard_normal((1, *channels, frames)).astype(np.float32) for _ in range(batch)]
    stacked = np.concatenate(windows)
    run = session.run  # type: ignore[attr-defined]
    alone, together = [], []
    got = run({input_name: stacked})
    for i, w in enumerate(windows):  # each row is its own call's output
        want = run({input_name: w})
        for k in want:
            if not np.allclose(got[k][i : i + 1], want[k], rtol=0, atol=1e-4):
                return "rows differ"
    for _ in range(reps):
        t = time.perf_counter()
        for w in windows:
            run({input_name: w})
        alone.append((time.perf_counter() - t) / batch)
        t = time.perf_counter()
        run({input_name: stacked})
        together.append((time.perf_counter() - t) / batch)
    a, b = statistics.median(alone), statistics.median(together)
    return f"{a * 1000:.1f}->{b * 1000:.1f} {b / a:.2f}x"


if __name__ == "__main__":
    sys.exit(main())
