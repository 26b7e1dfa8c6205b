"""The relay the Ray deployment uses, without Ray: the service's real app run on a
(scope, body) pair, its messages streamed back, an early close seen as a disconnect;
Prometheus pages of several processes merged; voices unloaded on request."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_helpers import LONG, TEXT, config, metric, wait_for

from voicestack.service.app import create_app
from voicestack.service.relay import merge_metrics, portable_scope, relay, requested_voice


def scope(path: str = "/v1/audio/speech", method: str = "POST") -> dict[str, Any]:
    raw = {"type": "http", "http_version": "1.1", "method": method, "scheme": "http", "path": path,
           "raw_path": path.encode(), "query_string": b"", "root_path": "/ignored", "app": object(),
           "headers": [(b"content-type", b"application/json")], "client": ["127.0.0.1", 5], "server": None}
    return portable_scope(raw)


def test_portable_scope_keeps_only_what_travels() -> None:
    s = scope()
    assert "app" not in s and s["root_path"] == "" and s["client"] == ("127.0.0.1", 5)
    assert s["headers"] == [(b"content-type", b"application/json")]


@pytest.mark.parametrize(("method", "path", "body", "voice"), [
    ("POST", "/v1/audio/speech", b'{"voice": "a", "input": "x"}', "a"),
    ("POST", "/v1/audio/speech", b'{"input": "x"}', "dflt"),
    ("POST", "/v1/audio/speech", b"{not json", None),
    ("POST", "/v1/audio/speech", b"[1, 2]", None),
    ("POST", "/v1/audio/speech", b'{"voice": 7}', None),
    ("GET", "/v1/voices", b"", None),
])
def test_requested_voice(method: str, path: str, body: bytes, voice: str | None) -> None:
    assert requested_voice(method, path, body, "dflt") == voice


async def _collect(app: Any, body: dict[str, Any], extra: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    return [m async for m in relay(app, scope(), json.dumps(body).encode(), extra)]


def test_relay_streams_the_apps_messages(voices_dir: Path) -> None:
    app = create_app(config(voices_dir))
    try:
        body = {"input": TEXT, "voice": "tiny", "response_format": "pcm", "seed": 1}
        messages = asyncio.run(_collect(app, body, [(b"x-replica", b"r1")]))
        start, parts = messages[0], messages[1:]
        assert start["type"] == "http.response.start" and start["status"] == 200
        assert (b"x-replica", b"r1") in start["headers"]
        assert len([p for p in parts if p.get("body")]) > 2  # chunk by chunk, not one body
        assert parts[-1]["more_body"] is False
        assert app.state.service.idle()
        bad = asyncio.run(_collect(app, {"input": TEXT, "voice": "nobody"}, []))
        assert bad[0]["status"] == 400 and json.loads(bad[1]["body"])["error"]["param"] == "voice"
    finally:
        app.state.service.close()


def test_closing_the_relay_early_cancels_the_synthesis(voices_dir: Path) -> None:
    app = create_app(config(voices_dir))
    service = app.state.service

    async def leave_early() -> int:
        stream = relay(app, scope(), json.dumps({"input": LONG, "voice": "slow", "response_format": "pcm"}).encode())
        got = 0
        async for message in stream:
            got += len(message.get("body", b""))
            if got:
                break
        await stream.aclose()
        await asyncio.get_running_loop().run_in_executor(None, wait_for, service.idle, 10)
        return got

    try:
        assert asyncio.run(leave_early()) > 0
        page = service.metrics.render().decode()
        assert metric(page, "voicestack_streams_cancelled_total") == 1
        assert [s.outcome for s in service.recent] == ["cancelled"]
    finally:
        service.close()


def test_merged_metrics_label_every_process() -> None:
    a = '# HELP x_total X.\n# TYPE x_total counter\nx_total{voice="v"} 2.0\n# HELP g G.\n# TYPE g gauge\ng 1.0\n'
    b = '# HELP x_total X.\n# TYPE x_total counter\nx_total{voice="v"} 5.0\n'
    page = merge_metrics({"r1": a, "r2": b}).decode()
    assert page.count("# TYPE x_total counter") == 1  # one family, declared once
    samples = {(s.name, s.labels.get("replica")): s.value for f in text_string_to_metric_families(page)
               for s in f.samples}
    assert samples[("x_total", "r1")] == 2.0 and samples[("x_total", "r2")] == 5.0 and samples[("g", "r1")] == 1.0


def test_pool_discard_unloads_only_idle_voices(voices_dir: Path) -> None:
    app = create_app(config(voices_dir))
    pool = app.state.service.pool
    try:
        lease = pool.acquire("tiny")
        assert pool.discard("tiny") is False  # a stream holds it
        lease.release()
        assert pool.discard("tiny") is True and "tiny" not in pool.loaded()
        assert pool.discard("tiny") is False
    finally:
        app.state.service.close()


def test_an_app_that_fails_before_answering_gives_500() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    async def run() -> list[dict[str, Any]]:
        return [m async for m in relay(broken, scope(), b"{}")]

    start, body = asyncio.run(run())
    assert start["status"] == 500 and json.loads(body["body"])["error"]["type"] == "server_error"
