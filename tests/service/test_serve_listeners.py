"""`voicestack serve` with its listeners: Wyoming alone, HTTP (--host/--port) beside it in
one process, SIGTERM, and one-line errors for bad or taken addresses."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytest.importorskip("wyoming")

from service_helpers import free_port
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.tts import Synthesize
from wyoming_helpers import Reply, make_wyoming_voices, receive

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_wyoming_voices(tmp_path_factory.mktemp("serve") / "voices")


def synthesize(text: str) -> Event:
    return Synthesize(text=text).event()


def talk(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def first_reply(port: int, proc: subprocess.Popen[str]) -> Reply:
    """A synthesize to the server being started, once it listens."""
    for _ in range(300):
        try:
            async with AsyncTcpClient("127.0.0.1", port) as c:
                await c.write_event(synthesize("hello there."))
                return await receive(c)
        except OSError:
            assert proc.poll() is None, proc.communicate()[1]
            await asyncio.sleep(0.1)
    raise AssertionError("the server did not listen")


def test_serve_command_starts_wyoming_and_stops_on_sigterm(voices: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "service.json"
    cfg.write_text(json.dumps({"voices_dirs": [str(voices)], "builtins": False, "default_voice": "calm"}))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "voicestack.cli", "serve", "--config", str(cfg),
                             "--wyoming", f"tcp://127.0.0.1:{port}"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        reply = talk(first_reply(port, proc))
        assert reply.error is None and reply.pcm.size > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"wyoming listening on tcp://127.0.0.1:{port}" in err
    assert "http listening" not in err  # only the listener asked for


@pytest.mark.parametrize("args, message", [
    (["--wyoming", "127.0.0.1:10200"], "--wyoming: '127.0.0.1:10200': expected tcp://HOST:PORT"),
    (["--wyoming", "udp://127.0.0.1:10200"], "scheme 'udp' is not supported"),
    (["--wyoming", "tcp://127.0.0.1"], "expected HOST:PORT with both parts"),
    (["--http", "127.0.0.1:70000"], "--http: '127.0.0.1:70000': Port out of range"),
    (["--http", "127.0.0.1:1", "--port", "2"], "either as --http HOST:PORT or as --host/--port"),
])
def test_a_bad_listener_address_is_one_line_and_exits_non_zero(args: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "voicestack.cli", "serve", *args], capture_output=True, text=True,
                          check=False, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_serve_keeps_host_and_port_for_http_beside_wyoming(voices: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "service.json"
    cfg.write_text(json.dumps({"voices_dirs": [str(voices)], "builtins": False, "default_voice": "calm"}))
    http_port, wyoming_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "voicestack.cli", "serve", "--config", str(cfg), "--host",
                             "127.0.0.1", "--port", str(http_port), "--wyoming", f"tcp://127.0.0.1:{wyoming_port}"],
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        reply = talk(first_reply(wyoming_port, proc))
        health = httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=10).json()
        assert reply.error is None and health["voices_loaded"] == 1  # the voice Wyoming loaded, seen by HTTP
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"http listening on http://127.0.0.1:{http_port}" in err


def test_a_taken_port_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "voicestack.cli", "serve", "--wyoming", f"tcp://127.0.0.1:{port}"],
                              capture_output=True, text=True, check=False, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "VOICESTACK_CACHE": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("voicestack: error: ") and "address already in use" in last.lower(), proc.stderr


def test_a_taken_http_port_is_one_line_too() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "voicestack.cli", "serve", "--http", f"127.0.0.1:{port}"],
                              capture_output=True, text=True, check=False, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "address already in use" in lines[0].lower(), proc.stderr
