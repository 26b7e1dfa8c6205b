"""Hostile clients on loopback: headers that cannot be encoded, JSON that breaks naive
decoders, empty strings, oversized work, and text that made the old sentence buffer
quadratic. Each gets a 400/413 naming the field (or is served), never a 5xx, a hang or
a traceback, and leaves nothing held."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import TEXT, assert_idle, config, metric, serve, ws_url
from websockets.sync.client import connect as ws_connect

SPEECH = "/v1/audio/speech"


def post_raw(url: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}{SPEECH}", content=body, headers={"content-type": "application/json", **headers},
                      timeout=30)


@pytest.mark.parametrize("model", ["模型", "tts\r\nX-Injected: 1", "nul\x00byte", "tab\there", "%41"])
def test_any_model_string_is_served_and_echoed_safely(server: tuple[str, Any], model: str) -> None:
    url, service = server
    for _ in range(20):  # 16 of these used to wedge the server for good
        r = httpx.post(f"{url}{SPEECH}", json={"model": model, "input": "hello.", "voice": "tiny"}, timeout=30)
        assert r.status_code == 200, r.text
        assert "x-injected" not in r.headers
        assert all(0x20 <= ord(c) < 0x7F for c in r.headers["x-model"])
    from urllib.parse import unquote

    assert unquote(r.headers["x-model"]) == model
    assert_idle(service)


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"input": "hello", "model": "\\ud800"}', "model"),
    (b'{"input": "hello", "\\udc00oops": 1}', "\\udc00oops"),
    (b'{"input": "hello", "seed": ' + b"7" * 5000 + b"}", "seed"),
    (b'{"input": "hello", "speed": 1' + b"0" * 400 + b"}", "speed"),
    (b'{"input": "hello", "speed": 1e400}', "speed"),
    (b'{"input": "hello", "speed": NaN}', "speed"),
    (b'{"input": "hello", "voice": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "voice"),
    (b"[" * 10_000 + b"]" * 10_000, None),
    (b'{"input": "hello", "seed": -' + b"9" * 30 + b"}", "seed"),
    (b'{"input": "hello", "voice": ""}', "voice"),
    (b'{"input": "hello", "response_format": ""}', "response_format"),
    (b'{"input": "hello", "model": ""}', "model"),
    (b'{"input": ""}', "input"),
    (b'{"input": "hello", "stream_format": "sse"}', "stream_format"),
    (b'{"input": "\\ud83d"}', "input"),
    (b"\xff\xfe{}", None),
    (b'{"input": "hello"', None),
])
def test_hostile_json_gets_a_400_naming_the_field(server: tuple[str, Any], raw: bytes, field: str | None) -> None:
    url, service = server
    r = post_raw(url, raw)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == field, error
    assert "Traceback" not in r.text and 'File "' not in r.text
    assert_idle(service)
    text = httpx.get(f"{url}/metrics").text
    assert metric(text, "voicestack_requests_total", endpoint=SPEECH, status="400") == 1


def test_hostile_request_headers_and_query_strings(server: tuple[str, Any]) -> None:
    url, service = server
    body = json.dumps({"input": "hello.", "voice": "tiny"}).encode()
    headers: dict[str, Any]
    for headers in ({"x-odd": b"\xff\xfe\x01"}, {"content-type": "text/plain"}, {"accept": "a" * 4000}):
        r = httpx.post(f"{url}{SPEECH}?x=%ff%00&%zz", content=body, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
    port = int(url.rsplit(":", 1)[1])
    for head in (b"content-length: 99999999999999999999999", b"content-length: -5", b"x-nul: a\x00b",
                 b"transfer-encoding: chunked\r\ncontent-length: 3"):
        status = raw_status(port, b"POST /v1/audio/speech HTTP/1.1\r\nhost: x\r\n" + head + b"\r\n\r\n" + body)
        assert 400 <= status < 500, (head, status)
    assert_idle(service)


def raw_status(port: int, request: bytes) -> int:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        line = sock.recv(4096).split(b"\r\n", 1)[0]
    return int(line.split()[1])


def test_the_audio_budget_gives_413_or_ends_the_stream(voices_dir: Path) -> None:
    with serve(config(voices_dir, max_audio_seconds=0.2)) as (url, service):
        r = httpx.post(f"{url}{SPEECH}", json={"input": TEXT * 4, "voice": "tiny", "response_format": "pcm"})
        # the tiny voice's first chunk is shorter than the budget: the stream starts, then ends at the budget
        assert r.status_code == 200
        assert len(r.content) / 2 / 16000 <= 0.2
        assert service.recent[-1].outcome == "budget"
        assert metric(httpx.get(f"{url}/metrics").text, "voicestack_errors_total", kind="budget") == 1
        assert_idle(service)
    with serve(config(voices_dir, max_compute_seconds=0.01)) as (url, service):
        r = httpx.post(f"{url}{SPEECH}", json={"input": TEXT, "voice": "slow"})  # 20 ms per chunk
        assert r.status_code == 413
        assert r.json()["error"]["param"] == "input" and "max_compute_seconds" in r.json()["error"]["message"]
        assert_idle(service)


def test_the_websocket_says_ready_at_once_and_survives_hostile_messages(server: tuple[str, Any]) -> None:
    url, service = server
    with ws_connect(ws_url(url) + "?voice=tiny", open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "ready"  # before the client says anything
        for raw, field in [("[" * 10_000 + "]" * 10_000, None), ('{"type": "text", "text": "a", "x": 1' + "0" * 400
                                                                 + "}", None),
                           ('{"type": "start", "seed": ' + "9" * 5000 + "}", "seed"),
                           ('{"type": "text", "text": "\\ud800"}', "text"),
                           ('{"type": "t\\udc00"}', "type"), ('{"type": 5}', "type"), ("5", None),
                           ('{"type": "text", "voice": "x", "text": "a"}', "voice")]:
            ws.send(raw)
            event = json.loads(ws.recv(timeout=10))
            assert event["type"] == "error", event
            if field is not None:
                assert event["error"]["param"] == field, event
        ws.send(json.dumps({"type": "text", "text": "still fine."}))
        ws.send(json.dumps({"type": "end"}))
        kinds = [json.loads(m)["type"] for m in ws if isinstance(m, str)]
        assert kinds[-1] == "done"
    assert_idle(service)


def test_a_huge_abbreviation_run_does_not_freeze_the_server(server: tuple[str, Any]) -> None:
    url, service = server
    with ws_connect(ws_url(url) + "?voice=tiny", open_timeout=10, max_size=None) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "ready"
        ws.send(json.dumps({"type": "text", "text": "Mr. " * 25_000}))  # 100,000 characters: the allowed maximum
        started = time.monotonic()
        # the event loop stays free: /healthz answers while the message is cut and spoken
        for _ in range(5):
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        assert time.monotonic() - started < 30
        event = json.loads(ws.recv(timeout=10))
        assert event["type"] == "sentence" and len(event["text"]) <= 250
    assert_idle(service, timeout=20)
