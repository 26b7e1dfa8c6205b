"""Property-based fuzzing of a real server on loopback (hypothesis): request bodies,
headers, paths and query strings over HTTP, and message sequences over the WebSocket.

For every case: no 5xx, no response or event carrying a traceback, nothing that hangs
past a deadline (each client call has a timeout; a hang fails the case), and afterwards
the server still answers a normal request and ``/metrics`` shows no stream, slot, lease
or queued request left behind.

Bounded for CI (``VOICESTACK_FUZZ_EXAMPLES`` examples per test, default 40); a longer
run: ``VOICESTACK_FUZZ_EXAMPLES=2000 python -m pytest tests/service/test_fuzz.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_helpers import DATA, config, make_addon, metric, serve, wait_for, ws_url
from websockets.exceptions import ConnectionClosed, InvalidMessage
from websockets.sync.client import connect as ws_connect

EXAMPLES = int(os.environ.get("VOICESTACK_FUZZ_EXAMPLES", "40"))
DEADLINE = 20.0  # seconds any one exchange may take before the case counts as a hang
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
LEAK_GAUGES = ("voicestack_active_streams", "voicestack_queue_depth", "voicestack_open_streams",
               "voicestack_voice_leases", "voicestack_pending_chunks")
VOICES = ("tiny", "tiny-ar", "spk", "spk/alice", "spk/nobody", "alloy", "nobody", "", "tiny/x")
FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm", "ogg", "", "WAV")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    root = tmp_path_factory.mktemp("fuzz") / "voices"
    root.mkdir()
    make_addon(root / "tiny")
    make_addon(root / "tiny-ar", "tiny_autoregressive")
    shutil.copytree(DATA / "tiny_speakers_id", root / "spk")
    # small limits, so the fuzzer reaches them: long text, big bodies, many characters
    with serve(config(root, max_input_chars=300, max_stream_chars=600, body_timeout_seconds=2,
                      header_timeout_seconds=2, write_stall_seconds=5)) as s:
        yield s


def no_traceback(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text, text[:500]


def check_healthy(url: str, service: Any) -> None:
    """The server still speaks, and nothing is held once the case is over."""
    r = httpx.post(f"{url}/v1/audio/speech", json={"input": "hello.", "voice": "tiny", "response_format": "pcm"},
                   timeout=DEADLINE)
    assert r.status_code == 200 and len(r.content) > 0, r.text
    wait_for(service.idle, DEADLINE)
    shown = httpx.get(f"{url}/metrics", timeout=DEADLINE).text
    for gauge in LEAK_GAUGES:
        assert metric(shown, gauge) == 0, gauge


# -- strategies -------------------------------------------------------------------------------
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                          max_leaves=12)
speech_fields: dict[str, st.SearchStrategy[Any]] = {
    "input": st.one_of(st.text(max_size=120), st.sampled_from(["hello there.", "a" * 301, "   ", "123"]), json_value),
    "model": st.one_of(st.sampled_from(["tts-1", "gpt-4o-mini-tts"]), st.text(max_size=300), json_value),
    "voice": st.one_of(st.sampled_from(VOICES), st.fixed_dictionaries({"id": st.sampled_from(VOICES)}), json_value),
    "response_format": st.one_of(st.sampled_from(FORMATS), json_value),
    "speed": st.one_of(st.floats(0.0, 5.0), st.sampled_from([0.25, 4.0, 1e308, -1]), json_value),
    "seed": st.one_of(st.integers(-5, 2**33), json_value),
    "noise_scale": st.one_of(st.floats(-1, 6), json_value),
    "noise_w": st.one_of(st.floats(-1, 6), json_value),
    "instructions": st.one_of(st.text(max_size=50), json_value),
    "stream_format": st.one_of(st.sampled_from(["audio", "sse", "x"]), json_value),
}
speech_body = st.one_of(
    st.fixed_dictionaries({}, optional=speech_fields),
    st.fixed_dictionaries({"input": st.sampled_from(["hello there.", "how are you?"])},
                          optional={k: v for k, v in speech_fields.items() if k != "input"}),
    st.dictionaries(st.text(max_size=12), json_value, max_size=5),
    json_value,
)
raw_body = st.one_of(
    speech_body.map(lambda b: json.dumps(b).encode()),
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"[" * 5000, b'{"input": "hi", "voice": ' + b"[" * 100 + b"]" * 100 + b"}",
                     b'{"input": "hello", "seed": 1' + b"0" * 5000 + b"}", b'{"input": "\\ud800"}',
                     b'{"input": NaN}', b"\xff\xfe{", b""]),
)
header_name = st.text(st.characters(codec="ascii", categories=["L", "N"], include_characters="-_"),
                      min_size=1, max_size=30)
# what httpx will send (it refuses values with surrounding white space); raw_requests sends the rest
header_value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200).map(str.strip)
headers = st.dictionaries(st.one_of(header_name, st.sampled_from(["content-type", "content-length", "accept",
                                                                  "transfer-encoding", "expect", "host"])),
                          header_value, max_size=5)
query = st.lists(st.tuples(st.one_of(st.sampled_from(["voice", "speed", "seed", "noise_scale", "noise_w",
                                                      "model", "type"]), st.text(max_size=10)),
                           st.one_of(st.sampled_from(["tiny", "spk/bob", "spk/zed", "1.5", "nan", "-3", "1e999",
                                                      "99999999999999999999999", ""]), st.text(max_size=30))),
                 max_size=4)
path = st.sampled_from(["/v1/audio/speech", "/v1/voices", "/healthz", "/metrics", "/", "/v1/audio/stream",
                        "/v1/models", "/v1/audio/speech/", "/%00", "/..%2f..%2fetc/passwd"])
ws_message = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=80)}),
    st.fixed_dictionaries({"type": st.just("text"), "text": st.sampled_from(["Hello there. ", "how are", " you? "])}),
    st.fixed_dictionaries({"type": st.sampled_from(["flush", "end", "start"])},
                          optional={**{k: speech_fields[k] for k in ("voice", "speed", "seed")},
                                    "text": st.one_of(st.text(max_size=20), json_value)}),
    st.dictionaries(st.text(max_size=8), json_value, max_size=4),
    json_value,
    st.binary(max_size=40),
    st.text(max_size=40),
)


def _send_http(url: str, method: str, target: str, body: bytes | None, extra: dict[str, str]) -> httpx.Response:
    # httpx checks header names and refuses some values; those cases are the client's, not ours
    with httpx.Client(timeout=DEADLINE) as c:
        return c.request(method, f"{url}{target}", content=body, headers=extra)


# -- HTTP -----------------------------------------------------------------------------------
@FUZZ
@given(body=raw_body, content_type=st.sampled_from(["application/json", "text/plain", "", "application/x-www"]))
def test_fuzz_speech_bodies(fuzz_server: tuple[str, Any], body: bytes, content_type: str) -> None:
    url, service = fuzz_server
    r = _send_http(url, "POST", "/v1/audio/speech", body, {"content-type": content_type} if content_type else {})
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code != 200:
        error = r.json()["error"]
        assert set(error) == {"message", "type", "param"} and error["message"]
        no_traceback(r.text)
    check_healthy(url, service)


@FUZZ
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"]), target=path,
       params=query, extra=headers, body=st.one_of(st.none(), raw_body))
def test_fuzz_paths_headers_and_query_strings(fuzz_server: tuple[str, Any], method: str, target: str,
                                              params: list[tuple[str, str]], extra: dict[str, str],
                                              body: bytes | None) -> None:
    url, service = fuzz_server
    target = target + ("?" + str(httpx.QueryParams(params)) if params else "")
    extra = {k: v for k, v in extra.items() if k.lower() not in ("content-length", "transfer-encoding", "host")}
    try:
        r = _send_http(url, method, target, body, extra)
    except httpx.RemoteProtocolError:
        pass  # the server refused the framing (h11: an "Expect" it does not take, say) and closed
    else:
        assert r.status_code < 500, (r.status_code, r.text[:300])
        no_traceback(r.text)
    check_healthy(url, service)


def _request_bytes(method: str, target: bytes, head: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: x", *(k + b": " + v for k, v in head)]
    if body:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


raw_header = st.tuples(st.one_of(header_name.map(str.encode), st.sampled_from([b"Content-Type", b"Expect",
                                                                              b"Connection", b"Upgrade"])),
                       st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")))
crafted = st.builds(_request_bytes, st.sampled_from(["GET", "POST", "HEAD"]),
                    st.one_of(path.map(str.encode), st.binary(min_size=1, max_size=40).map(
                        lambda b: b"/" + b.replace(b" ", b"").replace(b"\r", b"").replace(b"\n", b""))),
                    st.lists(raw_header, max_size=4), st.one_of(st.just(b""), raw_body))


@FUZZ
@given(raw=st.one_of(crafted, st.binary(max_size=200), st.sampled_from([
    b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 200 + b"\r\n",
    b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n{}",
    b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"GET /v1/voices?" + b"%" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n"])))
def test_fuzz_raw_requests(fuzz_server: tuple[str, Any], raw: bytes) -> None:
    """Bytes no client library would send, on a raw socket: the server answers (< 500) or
    closes, within the deadline."""
    url, service = fuzz_server
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=DEADLINE) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):  # a timeout (a hang) raises and fails the case
            answer += chunk
    if answer.startswith(b"HTTP/1.1 "):
        assert int(answer[9:12]) < 500, answer[:300]
    no_traceback(answer.decode("latin-1"))
    check_healthy(url, service)


# -- WebSocket -------------------------------------------------------------------------------
@FUZZ
@given(params=query, messages=st.lists(ws_message, max_size=6), end=st.booleans())
def test_fuzz_websocket_message_sequences(fuzz_server: tuple[str, Any], params: list[tuple[str, str]],
                                          messages: list[Any], end: bool) -> None:
    url, service = fuzz_server
    target = ws_url(url) + ("?" + str(httpx.QueryParams(params)) if params else "")
    try:
        ws = ws_connect(target, open_timeout=DEADLINE, close_timeout=DEADLINE)
    except InvalidMessage:
        return  # the client could not even form this handshake
    with ws:
        closed = None
        try:
            for m in messages:
                ws.send(m if isinstance(m, (bytes, str)) else json.dumps(m))
            if end:
                ws.send(json.dumps({"type": "end"}))
                while True:  # until the server closes; recv's timeout is the deadline
                    event = ws.recv(timeout=DEADLINE)
                    if isinstance(event, str):
                        no_traceback(event)
                        assert json.loads(event)["type"] in ("ready", "sentence", "sentence_end", "done", "error")
        except ConnectionClosed as err:
            closed = err.rcvd.code if err.rcvd is not None else None
        if end:
            assert closed in (1000, 1008), closed  # done, or a refused start / limit; never 1011 (an error)
    check_healthy(url, service)


@FUZZ
@given(fmt=st.sampled_from(["mp3", "opus", "aac", "flac", "wav", "pcm"]),
       voice=st.sampled_from(["tiny", "tiny-ar", "spk/alice", "alloy"]), keep=st.integers(0, 6000),
       sse=st.booleans(), text=st.sampled_from(["hello there. how are you today?", "a b c. " * 30]))
def test_fuzz_clients_that_leave_mid_stream(fuzz_server: tuple[str, Any], fmt: str, voice: str, keep: int,
                                            sse: bool, text: str) -> None:
    """A client that hangs up after any number of bytes, in any format: nothing is left held."""
    url, service = fuzz_server
    host, port = url.removeprefix("http://").split(":")
    body = {"input": text, "voice": voice, "response_format": fmt, "model": "gpt-4o-mini-tts",
            "stream_format": "sse" if sse else "audio"}
    with socket.create_connection((host, int(port)), timeout=DEADLINE) as sock:
        sock.sendall(_request_bytes("POST", b"/v1/audio/speech", [(b"Content-Type", b"application/json")],
                                    json.dumps(body).encode()))
        got = b""
        while len(got) < keep and (chunk := sock.recv(min(65536, keep - len(got)))):
            got += chunk
    assert b"HTTP/1.1 200"[: len(got)] == got[:12], got[:200]
    check_healthy(url, service)
