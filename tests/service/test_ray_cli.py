"""`voicestack serve --ray`: the command deploys two replicas on its own local Ray, answers
through Ray's proxy, and on SIGTERM leaves no process behind; bad Ray options are one line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("ray.serve", reason="Ray Serve is not installed (pip install 'voicestack[ray]')")

from service_helpers import TEXT, alive, descendants, free_port, make_addon

pytestmark = pytest.mark.ray
SRC = Path(__file__).resolve().parents[2] / "src"


def _cli(*args: str, env: dict[str, str], **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "voicestack.cli", "serve", *args], env=env, **kw)  # type: ignore[call-overload]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p),
            "RAY_USAGE_STATS_ENABLED": "0"}


def test_bad_ray_options_are_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    bad = tmp_path / "ray.json"
    bad.write_text(json.dumps({"replicas": 0, "colour": "red"}))
    proc = _cli("--ray", str(bad), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=120)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, err
    assert "colour: unknown parameter" in lines[0] and "replicas: got a number 0" in lines[0]


def test_serve_on_ray_answers_and_leaves_nothing_running(tmp_path: Path, env: dict[str, str]) -> None:
    voices = tmp_path / "voices"
    voices.mkdir()
    make_addon(voices / "duration")
    make_addon(voices / "speakers", "tiny_speakers_id")
    service = tmp_path / "service.json"
    # a path relative to where the command runs (the deployment ships it made absolute)
    service.write_text(json.dumps({"voices_dirs": ["voices"], "builtins": False, "default_voice": "duration"}))
    options = tmp_path / "ray.json"
    options.write_text(json.dumps({"replicas": 2, "replica_cpus": 0.5, "ingress_cpus": 0.25}))
    temp = tempfile.mkdtemp(prefix="vsray-")  # short: Ray puts unix sockets under it
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("wb")
    proc = _cli("--ray", str(options), "--config", str(service), "--port", str(port),
                env={**env, "RAY_TMPDIR": temp}, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    tree: set[int] = set()
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the Ray deployment did not come up"
            try:
                if len(httpx.get(f"{url}/v1/replicas", timeout=10).json()["data"]) == 2:
                    break
            except (httpx.TransportError, ValueError, KeyError):
                pass
            time.sleep(0.5)
        r = httpx.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "speakers", "response_format": "pcm"},
                       timeout=60)
        assert r.status_code == 200 and len(r.content) > 1000 and r.headers["x-voicestack-replica"]
        tree = descendants(proc.pid)
        assert len(tree) >= 5  # Ray's own processes and the three replicas
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 60
        while any(alive(p) for p in tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in tree if alive(p)], "processes left running after SIGTERM"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        for pid in tree:  # only what this test started
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
