"""How much a change moved the audio: record every built-in voice and profile, then compare.

    python scripts/audio_diff.py record before.npz      # on the tree before the change
    python scripts/audio_diff.py compare before.npz     # on the tree after it: dB per case

Cases: the golden recordings' cases (scripts/record_golden.py: fixed seed, the voices'
own noise) and, at noise 0, joe under every built-in profile and the mel voices on short,
medium and long texts and a paragraph. ``compare`` prints the SNR of the new audio
against the recorded one (``inf`` when bit-identical) and the lowest figure.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

import voicestack
from voicestack.testing import snr_db

ROOT = Path(__file__).resolve().parents[1]
TEXTS = {
    "short": "Hello there.",
    "medium": "The little boat drifted slowly toward the quiet harbour.",
    "long": ("When the morning train finally pulled into the quiet station after a long night of delays, "
             "the passengers gathered their bags and stepped onto the cold platform, where a small crowd "
             "of relatives had been waiting patiently for hours."),
    "paragraph": ("Our village library opened a new reading room last spring. It has tall windows and soft "
                  "chairs. On Saturdays the librarian reads stories to the younger children. Visitors say the "
                  "room feels calm and welcoming, even on busy days."),
}
NOISE0 = [("joe", "default"), ("joe", "static"), ("joe", "openvino"), ("joe-mel", "default"),
          ("joe-tacotron", "default")]


def golden_cases() -> list[tuple[str, str, str]]:
    spec = importlib.util.spec_from_file_location("record_golden", ROOT / "scripts" / "record_golden.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(v, p, t) for v, p, t in module.CASES]


def synthesize_all() -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    voices: dict[tuple[str, str], voicestack.Voice] = {}

    def voice(name: str, profile: str) -> voicestack.Voice:
        if (name, profile) not in voices:
            voices[(name, profile)] = voicestack.load_voice(name, profile=profile)
        return voices[(name, profile)]

    for name, profile, text in golden_cases():
        out[f"golden {name}/{profile}"] = voice(name, profile).synthesize(text, seed=7).audio
    for name, profile in NOISE0:
        for label, text in TEXTS.items():
            audio = voice(name, profile).synthesize(text, seed=1, noise_scale=0.0, noise_w=0.0).audio
            out[f"noise0 {name}/{profile} {label}"] = audio
    return out


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in ("record", "compare"):
        raise SystemExit("usage: audio_diff.py record|compare FILE.npz")
    mode, path = argv
    got = synthesize_all()
    if mode == "record":
        np.savez_compressed(path, **got)
        print(f"recorded {len(got)} cases in {path}")
        return
    with np.load(path, allow_pickle=False) as data:
        want = {k: data[k] for k in data.files}
    worst = float("inf")
    for key, audio in got.items():
        ref = want[key]
        if ref.size != audio.size:
            print(f"{key:40} {audio.size} samples, recorded {ref.size}")
            worst = -float("inf")
            continue
        db = float("inf") if np.array_equal(ref, audio) else float(snr_db(ref, audio))
        worst = min(worst, db)
        print(f"{key:40} {db:7.1f} dB")
    print(f"lowest: {worst:.1f} dB over {len(got)} cases")


if __name__ == "__main__":
    main(sys.argv[1:])
