#!/usr/bin/env python
"""Intelligibility benchmark: the same as ``voicestack eval`` (see voicestack.evaluate).

    python bench/eval_wer.py joe --stream --whole --resynth griffin-lim joe-vocoder --limit 100
"""

from voicestack.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
