#!/usr/bin/env python
"""Do the profiles say the same thing? joe under static and openvino against default, fixed seed.

    python bench/profiles_agree.py

Prints, per text (words) and noise setting, whether the three renderings have the same
length and the SNR of static and of openvino against the default profile, in dB. The
texts include a sentence past the old 256-id static cut and one with no punctuation.
"""

from __future__ import annotations

import voicestack
from voicestack.testing import snr_db

TEXTS = [
    "Hello there, how are you?",
    "The quick brown fox jumps over the lazy dog, and then it runs away into the forest; nobody knows where it "
    "went, but everyone agrees that it was a remarkable sight to behold on such a fine summer morning in the "
    "countryside.",
    "In the years that followed the committee met every month in the small hall behind the library where members "
    "argued about the budget the roads the school and the new bridge that the town had wanted for as long as "
    "anyone could remember and which nobody had ever agreed how to pay for",
]


def main() -> int:
    voices = {name: voicestack.load_voice("joe", profile=name) for name in ("default", "static", "openvino")}
    print(f"{'words':>5} {'noise':>5} {'same length':>11} {'static dB':>9} {'openvino dB':>11}")
    for text in TEXTS:
        for noise in (False, True):
            params = {} if noise else {"noise_scale": 0.0, "noise_w": 0.0}
            audio = {n: v.synthesize(text, seed=2, **params).audio for n, v in voices.items()}
            same = len({a.shape for a in audio.values()}) == 1
            s = snr_db(audio["default"], audio["static"]) if same else float("nan")
            o = snr_db(audio["default"], audio["openvino"]) if same else float("nan")
            print(f"{len(text.split()):>5} {'on' if noise else 'off':>5} {str(same):>11} {s:9.1f} {o:11.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
