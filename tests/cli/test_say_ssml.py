"""`voicestack say --ssml` and `--words`: SSML documents, their errors and word timings."""

from __future__ import annotations

import json
import wave
from pathlib import Path

from cli_checks import entries, one_line_error


def test_ssml_break_and_word_timings(run, tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, words = tmp_path / "out.wav", tmp_path / "words.jsonl"
    doc = '<speak>hello <break time="500ms"/> world</speak>'
    proc = run("say", "--ssml", doc, "-v", tiny, "-o", str(out), "--words", str(words), "--seed", "1")
    assert proc.returncode == 0, proc.stderr.decode()
    with wave.open(str(out)) as w:
        seconds = w.getnframes() / w.getframerate()
    lines = [json.loads(line) for line in words.read_text().splitlines()]
    assert [w["text"] for w in lines] == ["hello", "world"]
    assert lines[1]["start"] - lines[0]["end"] >= 0.5
    assert seconds >= 0.5 + lines[1]["end"] - lines[1]["start"]


def test_bad_ssml_is_one_line_and_leaves_nothing(run, tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    line = one_line_error(run("say", "<speak>\n<break time='soon'/></speak>", "-v", tiny, "-o", str(tmp_path / "o.wav")))
    assert "SSML line 2:1: <break> attribute 'time'" in line
    assert entries(tmp_path) == []
