"""The voice service end to end: a real uvicorn server on loopback, real HTTP and
WebSocket clients. Slow or failing voices are tiny test addons with a test-only effect
appended to their stack (registered here, the way a plugin would register one)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import websockets
from websockets.sync.client import connect as ws_connect

from service_helpers import (LONG, TEXT, assert_idle, config, expected_pcm, make_addon, metric, parse_wav,
                                    serve, wait_for, ws_url)
from voicestack.audio import to_pcm16
from voicestack.service import ConfigError, ServiceConfig
from voicestack.service.core import SentenceBuffer, VoiceCatalog, VoicePool


# -- HTTP speech ---------------------------------------------------------------------------
def test_audio_equals_synthesize_for_the_same_seed(server: tuple[str, Any], voices_dir: Path) -> None:
    url, _ = server
    r = httpx.post(f"{url}/v1/audio/speech", json={"model": "tts-1", "input": TEXT, "voice": "tiny",
                                                   "response_format": "wav", "seed": 7}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/wav" and r.headers["x-model"] == "tts-1"
    rate, samples = parse_wav(r.content)
    assert rate == 16000
    np.testing.assert_array_equal(samples, expected_pcm(voices_dir / "tiny", TEXT, seed=7))

    r = httpx.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "tiny-ar", "response_format": "pcm",
                                                   "seed": 3, "speed": 2.0, "noise_scale": 0.1}, timeout=30)
    assert r.status_code == 200 and r.headers["x-sample-rate"] == "16000"
    want = expected_pcm(voices_dir / "tiny-ar", TEXT, seed=3, length_scale=0.5, noise_scale=0.1)
    np.testing.assert_array_equal(np.frombuffer(r.content, "<i2"), want)


def test_bytes_arrive_before_synthesis_ends(server: tuple[str, Any]) -> None:
    url, service = server
    arrivals: list[float] = []
    start = time.monotonic()
    with httpx.stream("POST", f"{url}/v1/audio/speech", json={"input": TEXT * 2, "voice": "slow",
                                                                 "response_format": "wav"}, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers.get("transfer-encoding") == "chunked"
        for part in r.iter_raw():
            if part:
                arrivals.append(time.monotonic() - start)
    synthesis = service.recent[-1]
    assert synthesis.outcome == "ok" and synthesis.chunks > 10
    # the first bytes came while most of the chunks (20 ms each) were still to be computed
    assert arrivals[0] < arrivals[-1] / 3, arrivals[:3]
    assert synthesis.first_audio < (arrivals[-1]) / 3


def test_metrics_move(server: tuple[str, Any]) -> None:
    url, _ = server
    before = httpx.get(f"{url}/metrics").text
    r = httpx.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "tiny"}, timeout=30)
    assert r.status_code == 200
    httpx.post(f"{url}/v1/audio/speech", json={"input": "", "voice": "tiny"})
    after = httpx.get(f"{url}/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    for name in ("voicestack_time_to_first_audio_seconds_count", "voicestack_real_time_factor_count",
                 "voicestack_chunks_total", "voicestack_audio_seconds_total"):
        assert metric(text, name) == metric(before, name) + (1 if "count" in name else metric(text, name)) \
            or metric(text, name) > metric(before, name), name
    assert metric(text, "voicestack_block_seconds_count", voice="tiny", block="decoder") > 0
    assert metric(text, 'voicestack_errors_total{kind="bad_request"}') == 1
    assert metric(text, "voicestack_active_streams") == 0
    assert metric(text, "voicestack_queue_depth") == 0
    assert metric(text, "voicestack_requests_total", endpoint="/v1/audio/speech", status="200") == 1
    assert "# TYPE voicestack_time_to_first_audio_seconds histogram" in text


def test_disconnect_stops_compute(server: tuple[str, Any]) -> None:
    url, service = server
    body = {"input": LONG, "voice": "slow", "response_format": "pcm"}  # bytes from the first chunk on
    with httpx.stream("POST", f"{url}/v1/audio/speech", json=body, timeout=30) as r:
        assert r.status_code == 200
        next(r.iter_raw())
    # the client is gone: the server notices, cancels, and no further chunk is computed
    synthesis = service.recent[-1]
    wait_for(lambda: synthesis.outcome is not None)
    assert synthesis.outcome == "cancelled"
    time.sleep(0.2)  # 10 more chunks' worth of time
    produced = synthesis.chunks
    time.sleep(0.2)
    assert synthesis.chunks == produced  # compute stopped
    assert synthesis.stream.chunks_at_cancel is not None
    assert produced <= synthesis.stream.chunks_at_cancel + 1  # at most the chunk in flight
    assert produced < 60  # the whole text is several hundred chunks
    assert synthesis.request.cancel.is_set()
    assert metric(httpx.get(f"{url}/metrics").text, "voicestack_streams_cancelled_total") == 1
    assert service.scheduler.active == 0 and service.pool.pinned() == {}


def test_overload_answers_503_with_retry_after(voices_dir: Path) -> None:
    with serve(config(voices_dir, max_active_streams=1, max_queue=1, retry_after_seconds=2)) as (url, service):

        async def scenario() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=30) as client:
                body = {"input": TEXT * 3, "voice": "slow"}
                first = asyncio.create_task(client.post(f"{url}/v1/audio/speech", json=body))
                await asyncio.sleep(0.2)  # the first holds the only slot
                second = asyncio.create_task(client.post(f"{url}/v1/audio/speech", json=body))
                await asyncio.sleep(0.1)  # the second waits in the queue
                depth = metric((await client.get(f"{url}/metrics")).text, "voicestack_queue_depth")
                third = await client.post(f"{url}/v1/audio/speech", json=body)
                assert depth == 1
                return [await first, await second, third]

        first, second, third = asyncio.run(scenario())
        assert first.status_code == 200 and second.status_code == 200
        assert third.status_code == 503
        assert third.headers["retry-after"] == "2"
        assert third.json()["error"]["type"] == "overloaded"
        assert metric(httpx.get(f"{url}/metrics").text, 'voicestack_errors_total{kind="overloaded"}') == 1
        assert service.scheduler.active == 0


@pytest.mark.parametrize(("body", "field", "status"), [
    ({"input": "hello", "voice": "nobody"}, "voice", 400),
    ({"input": "", "voice": "tiny"}, "input", 400),
    ({"input": "   ", "voice": "tiny"}, "input", 400),
    ({"voice": "tiny"}, "input", 400),
    ({"input": "a" * 5000, "voice": "tiny"}, "input", 413),
    ({"input": "123", "voice": "tiny"}, "input", 400),  # nothing pronounceable for this voice
    ({"input": "hello", "response_format": "mp4"}, "response_format", 400),
    ({"input": "hello", "response_format": "ogg"}, "response_format", 400),
    ({"input": 5}, "input", 400),
    ({"input": "hello", "voice": 3}, "voice", 400),
    ({"input": "hello", "speed": "fast"}, "speed", 400),
    ({"input": "hello", "speed": 10}, "speed", 400),
    ({"input": "hello", "speed": True}, "speed", 400),
    ({"input": "hello", "seed": -1}, "seed", 400),
    ({"input": "hello", "noise_scale": 99}, "noise_scale", 400),
    ({"input": "hello", "sped": 1.0}, "sped", 400),
    (["hello"], None, 400),
    (b"{not json", None, 400),
    (b"x" * 100_000, "input", 413),
])
def test_bad_requests_get_json_errors_naming_the_field(server: tuple[str, Any], body: Any, field: str | None,
                                                       status: int) -> None:
    url, service = server
    if isinstance(body, bytes):
        r = httpx.post(f"{url}/v1/audio/speech", content=body, headers={"content-type": "application/json"})
    else:
        r = httpx.post(f"{url}/v1/audio/speech", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["param"] == field
    assert error["type"] == ("request_too_large" if status == 413 else "invalid_request_error")
    assert "Traceback" not in r.text and "File \"" not in r.text
    if field == "response_format":
        assert "wav" in error["message"] and "pcm" in error["message"]
    assert service.scheduler.active == 0 and service.pool.pinned() == {}


def test_unknown_routes_and_methods_are_json(server: tuple[str, Any]) -> None:
    url, _ = server
    assert httpx.get(f"{url}/v1/nothing").json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(f"{url}/v1/audio/speech").status_code == 405


def test_a_failing_voice_does_not_take_the_others_down(server: tuple[str, Any]) -> None:
    url, service = server
    r = httpx.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "broken"})
    assert r.status_code == 500
    assert r.json()["error"]["param"] == "voice" and "Traceback" not in r.text
    # a stack that raises mid-stream: the stream ends cleanly after the audio it had
    r = httpx.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "crashy", "response_format": "pcm"})
    assert r.status_code == 200 and len(r.content) > 0
    assert service.recent[-1].outcome == "error" and service.recent[-1].chunks == 3
    text = httpx.get(f"{url}/metrics").text
    assert metric(text, 'voicestack_errors_total{kind="synthesis"}') == 1
    assert metric(text, 'voicestack_errors_total{kind="voice_load"}') == 1
    # everyone else is fine
    r = httpx.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "tiny"})
    assert r.status_code == 200 and len(r.content) > 44
    assert httpx.get(f"{url}/healthz").json()["status"] == "ok"
    assert service.scheduler.active == 0 and service.pool.pinned() == {}


def test_voices_are_listed_without_loading_them(server: tuple[str, Any]) -> None:
    url, service = server
    data = httpx.get(f"{url}/v1/voices").json()["data"]
    by_id = {v["id"]: v for v in data}
    from voicestack import catalog

    configured = {"tiny", "tiny-ar", "slow", "crashy", "broken"}
    assert configured <= set(by_id)
    assert set(by_id) - configured <= set(catalog.voice_names())  # the rest: built-in and packaged voices
    assert "joe-vocoder" not in by_id  # a vocoder addon is not a voice
    assert by_id["tiny"]["sample_rate"] == 16000 and by_id["tiny"]["language"] == "en"
    assert by_id["tiny-ar"]["architecture"].startswith("autoregressive")
    assert by_id["tiny"]["default"] is True
    assert service.pool.loaded() == []


# -- many voices, one byte budget ---------------------------------------------------------
def _bytes(addon: Path) -> int:
    return sum(p.stat().st_size for p in addon.glob("*.onnx"))


def test_lru_unloading_under_a_byte_budget(tmp_path: Path) -> None:
    import onnx

    root = tmp_path / "voices"
    root.mkdir()
    a = make_addon(root / "a")
    make_addon(root / "b")  # the same network files as a: shared, counted once
    c = make_addon(root / "c", "tiny_autoregressive")
    d = make_addon(root / "d")
    model = onnx.load(str(d / "decoder.onnx"))
    model.producer_name = "a distinct copy"  # same function, different bytes
    onnx.save(model, str(d / "decoder.onnx"))
    budget = _bytes(a) + _bytes(c)
    pool = VoicePool(VoiceCatalog((root,), builtins=False), budget)

    for name in ("a", "b", "c"):
        pool.acquire(name).release()
    assert pool.loaded() == ["a", "b", "c"] and pool.memory_bytes() == budget  # a and b share their files
    pool.acquire("a").release()  # a is now the most recently used
    pool.acquire("d").release()  # over budget: unload least recently used first (b, then c)
    assert list(pool.unloaded) == ["b", "c"]
    assert pool.loaded() == ["a", "d"] and pool.memory_bytes() <= budget

    # a voice in use is never unloaded, even over budget; it goes when its lease closes
    tight = VoicePool(VoiceCatalog((root,), builtins=False), 1)
    held = tight.acquire("c")
    tight.acquire("a").release()
    assert tight.loaded() == ["c"] and list(tight.unloaded) == ["a"]
    assert held.voice.synthesize(TEXT, seed=1).audio.size > 0
    held.release()
    assert tight.loaded() == []


def test_http_voice_switching_within_budget_and_pinned_stream(voices_dir: Path) -> None:
    budget = _bytes(voices_dir / "tiny")  # "slow" and "tiny" have identical networks: they fit together
    with serve(config(voices_dir, memory_budget_bytes=budget)) as (url, service):
        with httpx.stream("POST", f"{url}/v1/audio/speech", json={"input": LONG, "voice": "slow"}) as r:
            parts = r.iter_raw()  # keep a reference: a collected iterator closes the response
            next(parts)
            # slow streams on; another voice loads over budget; slow stays, the other goes when done
            assert httpx.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "tiny-ar"}).status_code == 200
            assert service.pool.loaded() == ["slow"] and service.recent[0].outcome is None
        wait_for(lambda: service.recent[0].outcome is not None)
        assert httpx.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "tiny"}).status_code == 200
        assert service.pool.loaded() == ["slow", "tiny"] and service.pool.memory_bytes() == budget
        assert httpx.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "tiny-ar"}).status_code == 200
        assert service.pool.loaded() == ["tiny-ar"]
        assert metric(httpx.get(f"{url}/metrics").text, "voicestack_voice_unloads_total") == 3


# -- WebSocket -----------------------------------------------------------------------------
def test_ws_audio_starts_before_the_text_ends(server: tuple[str, Any]) -> None:
    url, _ = server
    tokens = [w + " " for w in f"{TEXT} {TEXT}".split()]
    with ws_connect(ws_url(url)) as ws:
        ws.send(json.dumps({"type": "start", "voice": "slow", "seed": 1}))
        ready = json.loads(ws.recv(timeout=10))
        assert ready["type"] == "ready" and ready["sample_rate"] == 16000
        first_audio_at_token: int | None = None
        for i, token in enumerate(tokens):
            ws.send(json.dumps({"type": "text", "text": token}))
            time.sleep(0.03)
            try:
                while True:
                    msg = ws.recv(timeout=0)
                    if isinstance(msg, bytes) and first_audio_at_token is None:
                        first_audio_at_token = i
            except TimeoutError:
                pass
        ws.send(json.dumps({"type": "end"}))
        events, audio = [], bytearray()
        for msg in ws:
            if isinstance(msg, bytes):
                audio += msg
            else:
                events.append(json.loads(msg))
    assert first_audio_at_token is not None and first_audio_at_token < len(tokens) // 2
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "done" and events[-1]["sentences"] == 6
    assert len(audio) > 0


def test_ws_audio_equals_synthesize(server: tuple[str, Any], voices_dir: Path) -> None:
    url, _ = server
    with ws_connect(ws_url(url) + "?voice=tiny&seed=11") as ws:
        for piece in ["hello th", "ere, how are", " you today?"]:
            ws.send(json.dumps({"type": "text", "text": piece}))
        ws.send(json.dumps({"type": "end"}))
        audio = bytearray()
        events = []
        for msg in ws:
            if isinstance(msg, bytes):
                audio += msg
            else:
                events.append(json.loads(msg))
    assert events[0]["type"] == "ready"
    assert [e["text"] for e in events if e["type"] == "sentence"] == ["hello there, how are you today?"]
    want = expected_pcm(voices_dir / "tiny", "hello there, how are you today?", seed=11)
    np.testing.assert_array_equal(np.frombuffer(bytes(audio), "<i2"), want)


def test_ws_bad_messages_get_error_events(server: tuple[str, Any]) -> None:
    url, _ = server
    with ws_connect(ws_url(url) + "?voice=nobody") as ws:  # the error comes at once, unasked
        error = json.loads(ws.recv(timeout=10))
        assert error["type"] == "error" and error["error"]["param"] == "voice"
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1008
    with ws_connect(ws_url(url)) as ws:  # a start message may still pick the voice, before any text
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        ws.send(json.dumps({"type": "start", "voice": "nobody"}))
        error = json.loads(ws.recv(timeout=10))
        assert error["type"] == "error" and error["error"]["param"] == "voice"
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1008
    with ws_connect(ws_url(url) + "?voice=tiny") as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        ws.send("{nope")
        assert json.loads(ws.recv(timeout=10))["error"]["param"] is None
        ws.send(json.dumps({"type": "text", "text": 5}))
        assert json.loads(ws.recv(timeout=10))["error"]["param"] == "text"
        ws.send(json.dumps({"type": "shout"}))
        assert json.loads(ws.recv(timeout=10))["error"]["param"] == "type"
        ws.send(json.dumps({"type": "text", "text": "still fine."}))
        ws.send(json.dumps({"type": "end"}))
        kinds = [json.loads(m)["type"] for m in ws if isinstance(m, str)]
        assert kinds[-1] == "done"
    with ws_connect(ws_url(url) + "?voice=tiny&speed=99") as ws:
        assert json.loads(ws.recv(timeout=10))["error"]["param"] == "speed"


def test_ws_disconnect_stops_compute(server: tuple[str, Any]) -> None:
    url, service = server
    with ws_connect(ws_url(url) + "?voice=slow") as ws:
        ws.send(json.dumps({"type": "text", "text": LONG[:1500].replace(".", ",") + "."}))
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        assert json.loads(ws.recv(timeout=10))["type"] == "sentence"
        assert isinstance(ws.recv(timeout=10), bytes)
    synthesis = service.recent[-1]
    wait_for(lambda: synthesis.outcome is not None)
    assert synthesis.outcome == "cancelled"
    time.sleep(0.2)
    produced = synthesis.chunks
    time.sleep(0.2)
    assert synthesis.chunks == produced
    assert synthesis.stream.chunks_at_cancel is not None and produced <= synthesis.stream.chunks_at_cancel + 1
    wait_for(lambda: service.pool.pinned() == {})


def test_sentence_buffer() -> None:
    buf = SentenceBuffer(max_phrase=60)
    assert buf.add("Hello Mr. Smith, this is J. R. Tolk") == []
    assert buf.add("ien. And then") == ["Hello Mr. Smith, this is J. R. Tolkien."]
    assert buf.add(" more?! Yes") == ["And then more?!"]
    assert buf.add("\nNext") == ["Yes"]
    assert buf.flush() == ["Next"]
    long = buf.add("word " * 8 + "pause, " + "word " * 20)
    assert long[0].endswith("pause,") and len(long[0]) <= 60
    assert buf.add("3.5 apples") == [] and "3.5 apples" in buf.flush()[0]


def test_config_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "service.json"
    path.write_text(json.dumps({"voices_dir": str(tmp_path), "memory_budget_bytes": 1000, "workers": 3,
                                "voices": {"joe": {"profile": "static"}}}))
    cfg = ServiceConfig.load(path)
    assert cfg.voices_dirs == (tmp_path,) and cfg.memory_budget_bytes == 1000 and cfg.workers == 3
    for bad, key in [({"workers": 0}, "workers"), ({"max_queue": "x"}, "max_queue"), ({"wrkers": 1}, "wrkers"),
                     ({"voices": {"joe": {"prof": 1}}}, "prof"), ({"voices_dirs": "x"}, "voices_dirs")]:
        path.write_text(json.dumps(bad))
        with pytest.raises(ConfigError, match=key):
            ServiceConfig.load(path)
    path.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        ServiceConfig.load(path)


# -- the real voice ------------------------------------------------------------------------
def snr_db(got: np.ndarray, want: np.ndarray) -> float:
    assert got.shape == want.shape
    noise = float(np.sum((got.astype(np.float64) - want) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(float(np.sum(want.astype(np.float64) ** 2)) / noise)


@pytest.mark.real_voice
def test_joe_streams_over_http_like_synthesize() -> None:
    """The service sizes joe's decoder windows by each stream's lead, so its audio equals
    ``synthesize`` up to float rounding at other window seams (>= 60 dB), not bit for bit."""
    import voicestack

    text = "Hello there. This is the voice service, streaming as it speaks."
    with serve(ServiceConfig(voices_dirs=(), builtins=True, workers=2)) as (url, service):
        r = httpx.post(f"{url}/v1/audio/speech", json={"model": "tts-1", "input": text, "voice": "joe", "seed": 5,
                                                       "response_format": "wav"},
                       timeout=120)
        assert r.status_code == 200, r.text
        rate, samples = parse_wav(r.content)
        assert rate == 22050
        want = np.frombuffer(to_pcm16(voicestack.load_voice("joe").synthesize(text, seed=5).audio), "<i2")
        assert snr_db(samples, want) >= 60
        synthesis = service.recent[-1]
        assert synthesis.chunks > 1  # streamed as produced, not in one piece (no timing claim)
        assert_idle(service)


def test_how_autoregressive_utterances_end_is_counted(server: tuple[str, Any]) -> None:
    url, _ = server
    name = 'voicestack_utterance_ends_total{voice="tiny-ar",block="AutoregressiveDecoder",status="stop_token"}'
    before = httpx.get(f"{url}/metrics").text
    r = httpx.post(f"{url}/v1/audio/speech", json={"input": "abc. de.", "voice": "tiny-ar"}, timeout=30)
    assert r.status_code == 200
    after = httpx.get(f"{url}/metrics").text
    assert metric(after, name) == metric(before, name) + 2  # two sentences, each ended by its stop token
