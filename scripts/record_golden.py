"""Record fixed-seed audio of every built-in voice, for the regression test that proves
refactors leave the audio bit-identical (tests/integration/test_golden.py).

    python scripts/record_golden.py tests/data/golden

Run it only when a change is *meant* to change the audio, and say so in the commit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import voicestack

CASES = [  # (voice, profile, text)
    ("joe", "default", "Hello there, how are you today? I am fine."),
    ("joe", "static", "Hello there, how are you today? I am fine."),
    ("joe-mel", "default", "The quick brown fox jumps over the lazy dog."),
    ("joe-tacotron", "default", "The quick brown fox jumps over the lazy dog."),
]
SEED = 7


def key(voice: str, profile: str) -> str:
    return f"{voice}--{profile}"


def main(out: str) -> None:
    arrays = {}
    for voice, profile, text in CASES:
        v = voicestack.load_voice(voice, profile=profile)
        arrays[key(voice, profile)] = v.synthesize(text, seed=SEED).audio
        print(key(voice, profile), arrays[key(voice, profile)].size)
    Path(out).mkdir(parents=True, exist_ok=True)
    np.savez_compressed(Path(out) / "audio.npz", **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
