"""The written-form benchmark's scorer (bench/eval_written.py): what both sides may write
differently compares equal, a misreading still counts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

english = pytest.importorskip("whisper_normalizer.english", reason="whisper-normalizer not installed")

_PATH = Path(__file__).resolve().parents[2] / "bench" / "eval_written.py"
_spec = importlib.util.spec_from_file_location("eval_written", _PATH)
assert _spec is not None and _spec.loader is not None
eval_written = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(eval_written)


def _errors(reference: str, hypothesis: str) -> int:
    score = eval_written.Score(english.EnglishTextNormalizer())
    score.add(reference, hypothesis)
    return score.word_edits


@pytest.mark.parametrize(
    ("reference", "hypothesis"),
    [
        # leading zeros of a digit group kept on the transcript's side too
        ("Ring four one five, zero six one, two zero nine zero now.", "Ring 415-061-2090 now."),
        ("The code is zero zero seven.", "The code is 007."),
        # letters joined by full stops are one spelled word ("P.O" is not "p 0")
        ("Use a P.O Box.", "Use a PO box."),
        ("She got a P.H.D in May.", "She got a PhD in May."),
        # a Roman numeral after a name, as it is read
        ("George the sixth was king.", "George VI was king."),
        ("The Great War two began.", "The Great War II began."),
        ("It cost fifty cents.", "It cost 50¢."),
    ],
)
def test_same_words_written_differently_compare_equal(reference, hypothesis):
    assert _errors(reference, hypothesis) == 0


@pytest.mark.parametrize(
    ("reference", "hypothesis", "errors"),
    [
        ("Ring four one five, zero six one, two zero nine zero now.", "Ring 415-61-2090 now.", 1),  # a zero lost
        ("George the sixth was king.", "George 6 was king.", 2),  # "the sixth" said as "six"
        # the ordinal is not in the transcript: one error, the day and the year kept apart
        ("On June fifth, twenty twenty.", "On June 5, 2020.", 1),
        ("The Great War two began.", "The Great War V began.", 1),
        ("Open nine to five.", "Open 9-5.", 3),  # a hyphen may be "to" or nothing: not guessed
    ],
)
def test_misreadings_still_count(reference, hypothesis, errors):
    assert _errors(reference, hypothesis) == errors


def test_a_minus_sign_is_minus_on_both_sides():
    assert _errors("It was -5 degrees.", "It was minus 5 degrees.") == 0
    assert _errors("It was -5 degrees.", "It was 5 degrees.") == 1


@pytest.mark.parametrize(
    ("reference", "hypothesis", "errors"),
    [
        ("Birds, for example owls, hunt.", "Birds (for example owls) hunt.", 0),
        ("Birds, for example owls, hunt.", "Birds (for example) hunt.", 1),
        ("After World War one we met.", "After World War I we met.", 0),
        ("King Edward the first built it.", "King Edward I built it.", 0),
        ("Anne the first of Spain ruled.", "Anne I of Spain ruled.", 0),
        ("Tell John I said so.", "Tell John the first said so.", 2),
    ],
)
def test_brackets_and_one_letter_roman_numerals(reference, hypothesis, errors):
    assert _errors(reference, hypothesis) == errors
