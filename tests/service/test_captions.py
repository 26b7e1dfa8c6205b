"""Word timings and SSML over the wire: the captioned endpoint, SSML input, WebSocket word events."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from service_helpers import assert_idle, expected_pcm, ws_url
from websockets.sync.client import connect as ws_connect

from voicestack.voice import Voice

TEXT = "hello there, how are you today?"


def _words(addon: Path, text: str, **kwargs: Any) -> list[dict[str, Any]]:
    return [w.to_json() for c in Voice.load(addon).stream(text, **kwargs) for w in c.words]


def test_captioned_speech_streams_audio_and_words(server: tuple[str, Any], voices_dir: Path) -> None:
    url, service = server
    with httpx.stream("POST", f"{url}/v1/audio/speech/captioned",
                      json={"input": TEXT, "voice": "tiny", "seed": 4, "phonemes": True}, timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in r.iter_lines() if line]
    assert lines[-1]["type"] == "done" and all(x["type"] == "audio" for x in lines[:-1])
    audio = np.frombuffer(b"".join(base64.b64decode(x["audio"]) for x in lines[:-1]), "<i2")
    np.testing.assert_array_equal(audio, expected_pcm(voices_dir / "tiny", TEXT, seed=4))
    words = [w for x in lines[:-1] for w in x["words"]]
    assert words == _words(voices_dir / "tiny", TEXT, seed=4)
    assert [w["text"] for w in words] == ["hello", "there", "how", "are", "you", "today"]
    for x in lines[:-1]:  # a word comes once its audio has started (and its end is known), never before
        for w in x["words"]:
            assert w["start"] < x["start"] + x["duration"] or x["duration"] == 0
    assert lines[-1]["words"] == 6 and sum(len(x["phonemes"]) for x in lines[:-1]) > 20
    assert abs(lines[-1]["audio_seconds"] - audio.size / 16000) < 1e-3
    assert_idle(service)


def test_captioned_refuses_other_formats(server: tuple[str, Any]) -> None:
    url, _ = server
    r = httpx.post(f"{url}/v1/audio/speech/captioned", json={"input": TEXT, "response_format": "mp3"}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "response_format"


def test_ssml_input_with_break_and_voice_switch(server: tuple[str, Any], voices_dir: Path) -> None:
    url, service = server
    doc = '<speak>hello there<break time="700ms"/><voice name="tiny-ar">and now me</voice></speak>'
    r = httpx.post(f"{url}/v1/audio/speech", json={"input": doc, "voice": "tiny", "seed": 2, "response_format": "pcm",
                                                   "input_type": "ssml"}, timeout=30)
    assert r.status_code == 200, r.text
    got = np.frombuffer(r.content, "<i2")
    first = expected_pcm(voices_dir / "tiny", "hello there", seed=2)
    second = expected_pcm(voices_dir / "tiny-ar", "and now me", seed=2)
    gap = int(0.7 * 16000)
    np.testing.assert_array_equal(got, np.concatenate([first, np.zeros(gap, "<i2"), second]))
    assert_idle(service)


def test_ssml_errors_are_400_naming_the_element(server: tuple[str, Any]) -> None:
    url, _ = server
    for doc, message in [('<speak><break time="soon"/></speak>', "SSML line 1:8: <break> attribute 'time'"),
                         ('<speak><voice name="nobody">x</voice></speak>', "<voice name='nobody'>: voice: unknown voice")]:
        r = httpx.post(f"{url}/v1/audio/speech", json={"input": doc}, timeout=30)  # detected by <speak
        assert r.status_code == 400, r.text
        assert message in r.json()["error"]["message"] and r.json()["error"]["param"] == "input"


def test_ws_word_events_and_ssml_messages(server: tuple[str, Any], voices_dir: Path) -> None:
    url, service = server
    with ws_connect(ws_url(url) + "?voice=tiny&seed=11&words=true") as ws:
        ws.send(json.dumps({"type": "text", "text": "hello there."}))
        ws.send(json.dumps({"type": "ssml", "text": '<speak>one <break time="200ms"/> two</speak>'}))
        ws.send(json.dumps({"type": "end"}))
        frames: list[Any] = []
        for msg in ws:
            frames.append(msg if isinstance(msg, bytes) else json.loads(msg))
    events = [f for f in frames if isinstance(f, dict)]
    words = [w for e in events if e["type"] == "words" for w in e["words"]]
    assert [w["text"] for w in words] == ["hello", "there", "one", "two"]
    first = expected_pcm(voices_dir / "tiny", "hello there.", seed=11).size / 16000
    assert words[2]["start"] >= first and words[3]["start"] - words[2]["end"] >= 0.2
    # a words event comes just before the frame its first word starts in
    for k, f in enumerate(frames):
        if isinstance(f, dict) and f["type"] == "words":
            assert isinstance(frames[k + 1], bytes)
    assert events[-1]["type"] == "done" and events[-1]["sentences"] == 2
    with ws_connect(ws_url(url) + "?voice=tiny") as ws:  # word events only when asked for
        ws.send(json.dumps({"type": "text", "text": "hello there."}))
        ws.send(json.dumps({"type": "end"}))
        kinds = [json.loads(m)["type"] for m in ws if isinstance(m, str)]
    assert "words" not in kinds and kinds[-1] == "done"
    assert_idle(service)
