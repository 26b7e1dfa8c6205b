"""Nothing leaks, nothing hangs: a failure injected at every step from admission to the
end of the response leaves no slot, waiter, voice lease or open generator behind, and
every response is counted."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import LONG, TEXT, assert_idle, config, make_addon, metric, serve, wait_for

from voicestack.voice import Voice


class Injected(RuntimeError):
    """The failure a test injects."""


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise Injected("injected failure")


def _async_raise() -> Callable[..., Any]:
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise Injected("injected failure")

    return fail


def inject(step: str, service: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from voicestack import codecs
    from voicestack.service import app

    if step == "admission":
        monkeypatch.setattr(service.scheduler, "acquire_slot", _async_raise())
    elif step == "lease":
        monkeypatch.setattr(service.pool, "acquire", _raise)
    elif step == "request":
        monkeypatch.setattr(Voice, "request", _raise)
    elif step == "stream":
        monkeypatch.setattr(Voice, "stream", _raise)
    elif step == "open":
        monkeypatch.setattr(service.scheduler, "open", _raise)
    elif step == "response":
        monkeypatch.setattr(app.SynthesisResponse, "__init__", _raise)
    elif step == "encode":
        monkeypatch.setattr(codecs.Encoder, "write", _raise)  # every format's encoder
    else:
        raise AssertionError(step)


@pytest.mark.parametrize(("step", "status"), [
    ("admission", 500), ("lease", 500), ("request", 500), ("stream", 500), ("open", 500), ("response", 500),
    ("encode", 200),
])
def test_a_failure_at_each_step_releases_everything(voices_dir: Path, monkeypatch: pytest.MonkeyPatch, step: str,
                                                    status: int) -> None:
    with serve(config(voices_dir)) as (url, service):
        inject(step, service, monkeypatch)
        r = httpx.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "tiny"}, timeout=30)
        assert r.status_code == status
        if status == 500:
            assert r.json()["error"]["type"] == "server_error" and "Traceback" not in r.text
        assert_idle(service)
        monkeypatch.undo()
        text = httpx.get(f"{url}/metrics").text
        assert metric(text, "voicestack_requests_total", endpoint="/v1/audio/speech", status=str(status)) == 1
        assert metric(text, "voicestack_active_streams") == 0 and metric(text, "voicestack_open_streams") == 0
        assert metric(text, "voicestack_voice_leases") == 0
        # and the server still serves
        assert httpx.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "tiny"}).status_code == 200
        assert_idle(service)


@pytest.mark.parametrize(("after", "status"), [(0, 500), (3, 200)])
def test_a_voice_failing_before_or_after_its_first_chunk(tmp_path: Path, after: int, status: int) -> None:
    root = tmp_path / "voices"
    root.mkdir()
    make_addon(root / "tiny")
    make_addon(root / "crashy", effects=[{"type": "TestFailAfter", "after": after}])
    with serve(config(root)) as (url, service):
        r = httpx.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "crashy", "response_format": "pcm"})
        assert r.status_code == status
        assert (r.json()["error"]["type"] == "synthesis_error") if status == 500 else len(r.content) > 0
        assert service.recent[-1].outcome == "error"
        assert_idle(service)
        text = httpx.get(f"{url}/metrics").text
        assert metric(text, "voicestack_errors_total", kind="synthesis") == 1
        assert metric(text, "voicestack_requests_total", endpoint="/v1/audio/speech", status=str(status)) == 1


def _raw_request(port: int, body: dict[str, Any], rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    data = json.dumps(body).encode()
    sock.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                 b"content-length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    return sock


def test_a_client_that_stops_reading_is_cut_off_and_costs_little(voices_dir: Path) -> None:
    cfg = config(voices_dir, write_stall_seconds=0.5, max_ahead_seconds=1.0, max_input_chars=100_000)
    with serve(cfg) as (url, service):
        port = int(url.rsplit(":", 1)[1])
        sock = _raw_request(port, {"input": LONG * 40, "voice": "tiny", "response_format": "pcm"}, rcvbuf=4096)
        try:
            wait_for(lambda: bool(service.recent) and service.recent[-1].outcome is not None, timeout=20)
            synthesis = service.recent[-1]
            assert synthesis.outcome == "stalled", synthesis.outcome
            # it computed about what the socket buffers hold plus max_ahead, not the whole text
            whole = Voice.load(voices_dir / "tiny").synthesize(LONG, seed=1).duration * 40
            assert synthesis.stream.produced < whole / 4, (synthesis.stream.produced, whole)
            assert_idle(service)
            text = httpx.get(f"{url}/metrics").text
            assert metric(text, "voicestack_errors_total", kind="stalled") == 1
        finally:
            sock.close()
        assert httpx.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "tiny"}).status_code == 200


def test_clients_that_leave_the_queue_free_their_place(voices_dir: Path) -> None:
    with serve(config(voices_dir, max_active_streams=1, max_queue=2)) as (url, service):
        port = int(url.rsplit(":", 1)[1])
        holder = _raw_request(port, {"input": LONG, "voice": "slow", "response_format": "pcm"})
        assert holder.recv(12) == b"HTTP/1.1 200"  # its response has started (the voice has loaded)
        wait_for(lambda: service.scheduler.active == 1)
        ghosts = [_raw_request(port, {"input": TEXT, "voice": "tiny"}) for _ in range(2)]
        wait_for(lambda: service.scheduler.queued == 2)
        for g in ghosts:
            g.close()
        wait_for(lambda: service.scheduler.queued == 0)  # they left while the holder still streams
        assert service.scheduler.active == 1
        assert not any(s.outcome is None and s.kind == "http" for s in list(service.recent)[1:])
        # the two that left are counted (read before the holder leaves: it would be a third)
        wait_for(lambda: metric(httpx.get(f"{url}/metrics").text, "voicestack_requests_total",
                                endpoint="/v1/audio/speech", status="499") == 2)
        holder.close()
        assert_idle(service)
        assert httpx.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "tiny"}).status_code == 200


def test_a_client_leaving_mid_body_is_counted_and_logs_no_traceback(voices_dir: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    with serve(config(voices_dir)) as (url, service):
        port = int(url.rsplit(":", 1)[1])
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n\r\n{\"input\": ")
            time.sleep(0.05)
            sock.close()
        wait_for(lambda: metric(httpx.get(f"{url}/metrics").text, "voicestack_requests_total", status="499") == 3)
        assert_idle(service)
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert metric_text_errors(caplog) == 0


def metric_text_errors(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for r in caplog.records if r.levelname == "ERROR")


def test_slow_headers_and_bodies_time_out(voices_dir: Path) -> None:
    with serve(config(voices_dir, header_timeout_seconds=0.3, body_timeout_seconds=0.3)) as (url, service):
        port = int(url.rsplit(":", 1)[1])
        slow_headers = socket.create_connection(("127.0.0.1", port))
        slow_headers.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nhost: x\r\n")  # never ends its headers
        slow_body = socket.create_connection(("127.0.0.1", port))
        slow_body.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{")
        slow_headers.settimeout(5)
        slow_body.settimeout(5)
        assert slow_headers.recv(100) == b""  # closed by the server, unanswered
        answer = b""
        while b"arrive" not in answer and (part := slow_body.recv(4096)):
            answer += part
        assert answer.startswith(b"HTTP/1.1 408") and b"request body did not arrive" in answer
        slow_headers.close()
        slow_body.close()
        assert_idle(service)
