"""Speakers in the service: ``VOICE/SPEAKER`` picks a speaker of a multi-speaker addon
over HTTP and WebSocket, ``/v1/voices`` lists them, an unknown one is a 400 naming
``voice``. The addons are the tiny speaker networks (by id and by style table)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from service_helpers import DATA, TEXT, assert_idle, config, expected_pcm, make_voices, serve, ws_url
from websockets.sync.client import connect as ws_connect

SPEECH = "/v1/audio/speech"


@pytest.fixture
def speakers(tmp_path: Path) -> Iterator[tuple[str, Any, Path]]:
    root = make_voices(tmp_path / "voices")
    shutil.copytree(DATA / "tiny_speakers_id", root / "spk")
    shutil.copytree(DATA / "tiny_speakers_style", root / "styles")
    with serve(config(root, voice_aliases={"alloy": "spk/carol", "echo": "styles"})) as (url, service):
        yield url, service, root


def pcm(url: str, voice: str, text: str = TEXT, seed: int = 7) -> httpx.Response:
    return httpx.post(f"{url}{SPEECH}", json={"input": text, "voice": voice, "response_format": "pcm",
                                              "seed": seed}, timeout=30)


def test_voices_lists_each_voices_speakers_and_default(speakers: tuple[str, Any, Path]) -> None:
    url, service, _ = speakers
    listed = {v["id"]: v for v in httpx.get(f"{url}/v1/voices").json()["data"]}
    assert (listed["spk"]["speakers"], listed["spk"]["default_speaker"]) == (["alice", "bob", "carol"], "bob")
    # no default declared: the first speaker, as the addon loader takes it
    assert (listed["styles"]["speakers"], listed["styles"]["default_speaker"]) == (["alto", "bass"], "alto")
    assert (listed["tiny"]["speakers"], listed["tiny"]["default_speaker"]) == ([], None)
    assert "alloy" in listed["spk"]["aliases"] and "echo" in listed["styles"]["aliases"]
    assert service.pool.loaded() == []  # listed from the manifests alone


@pytest.mark.parametrize(("addon", "names", "default"), [("spk", ["alice", "bob", "carol"], "bob"),
                                                         ("styles", ["alto", "bass"], "alto")])
def test_http_speaks_with_the_speaker_the_voice_id_names(speakers: tuple[str, Any, Path], addon: str,
                                                         names: list[str], default: str) -> None:
    url, service, root = speakers
    heard = {}
    for name in names:
        r = pcm(url, f"{addon}/{name}")
        assert r.status_code == 200, r.text
        assert r.headers["x-voice"] == f"{addon}/{name}"
        heard[name] = np.frombuffer(r.content, "<i2")
        np.testing.assert_array_equal(heard[name], expected_pcm(root / addon, TEXT, seed=7, speaker=name))
    assert not np.array_equal(heard[names[0]], heard[names[1]])  # the speakers really differ
    np.testing.assert_array_equal(np.frombuffer(pcm(url, addon).content, "<i2"), heard[default])
    assert service.recent[-1].name == addon  # metrics count the addon, not each speaker
    assert_idle(service)


def test_an_alias_may_name_a_speaker(speakers: tuple[str, Any, Path]) -> None:
    url, _, root = speakers
    r = pcm(url, "alloy")
    assert r.headers["x-voice"] == "spk/carol"
    np.testing.assert_array_equal(np.frombuffer(r.content, "<i2"), expected_pcm(root / "spk", TEXT, seed=7,
                                                                                speaker="carol"))


@pytest.mark.parametrize(("voice", "words"), [("spk/dave", ["'dave'", "alice, bob, carol"]),
                                              ("tiny/alice", ["'alice'", "single-speaker"]),
                                              ("spk/", ["no speaker"]),
                                              ("nobody/alice", ["'nobody'"])])
def test_an_unknown_speaker_is_a_400_naming_the_voice_field(speakers: tuple[str, Any, Path], voice: str,
                                                            words: list[str]) -> None:
    url, service, _ = speakers
    r = pcm(url, voice)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == "voice" and error["type"] == "invalid_request_error"
    assert all(w in error["message"] for w in words), error["message"]
    assert_idle(service)


def test_websocket_speaks_with_the_speaker_of_the_voice_id(speakers: tuple[str, Any, Path]) -> None:
    url, service, root = speakers
    text = "hello there, how are you today?"
    for query, start in [("?voice=spk/alice&seed=3", None), ("", {"type": "start", "voice": "spk/alice", "seed": 3})]:
        with ws_connect(ws_url(url) + query) as ws:
            ready = json.loads(ws.recv(timeout=10))
            if start is not None:
                ws.send(json.dumps(start))
                ready = json.loads(ws.recv(timeout=10))
            assert ready["type"] == "ready" and (ready["voice"], ready["speaker"]) == ("spk", "alice"), ready
            ws.send(json.dumps({"type": "text", "text": text}))
            ws.send(json.dumps({"type": "end"}))
            audio = b"".join(m for m in ws if isinstance(m, bytes))
        np.testing.assert_array_equal(np.frombuffer(audio, "<i2"), expected_pcm(root / "spk", text, seed=3,
                                                                                speaker="alice"))
    assert_idle(service)


def test_websocket_refuses_an_unknown_speaker(speakers: tuple[str, Any, Path]) -> None:
    url, service, _ = speakers
    with ws_connect(ws_url(url) + "?voice=styles/tenor") as ws:
        error = json.loads(ws.recv(timeout=10))
        assert error["type"] == "error" and error["error"]["param"] == "voice"
        assert "'tenor'" in error["error"]["message"] and "alto, bass" in error["error"]["message"]
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1008
    assert_idle(service)
