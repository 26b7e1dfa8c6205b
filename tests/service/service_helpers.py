"""Helpers of the service tests: a real uvicorn server on a free loopback port, tiny
addons (some with a test-only slow or failing stage, registered the way a plugin would
register one), and small readers of what the server sends."""

from __future__ import annotations

import json
import shutil
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voicestack.blocks import Request
from voicestack.components.effects import AudioEffect
from voicestack.components.base import COMPONENTS as REGISTRY

DATA = Path(__file__).parent.parent / "data"
TEXT = "hello there. how are you today? this is a test of streaming."
LONG = " ".join(["the quick brown fox jumps over the lazy dog."] * 40)


# -- test-only components: a slow stage and a stage that fails mid-stream -------------------
@dataclass(frozen=True)
class SleepParams:
    seconds: float = 0.02


class SlowStage(AudioEffect):
    """Waits per chunk: stands in for a heavy network so streaming is observable."""

    type_name = "TestSleep"
    Params = SleepParams

    def apply(self, audio: np.ndarray, request: Request) -> np.ndarray:
        time.sleep(self.params.seconds)
        return audio


@dataclass(frozen=True)
class FailParams:
    after: int = 3


class FailingStage(AudioEffect):
    """Raises after ``after`` chunks: a stack that breaks mid-stream."""

    type_name = "TestFailAfter"
    Params = FailParams

    def apply(self, audio: np.ndarray, request: Request) -> np.ndarray:
        n = request.state.get("fail_count", 0) + 1
        request.state["fail_count"] = n
        if n > self.params.after:
            raise RuntimeError("test stack failure")
        return audio


for _cls in (SlowStage, FailingStage):
    if _cls.type_name not in REGISTRY:
        REGISTRY.register(_cls)


def make_addon(dest: Path, base: str = "tiny_duration", effects: list[dict[str, Any]] | None = None) -> Path:
    shutil.copytree(DATA / base, dest)
    if effects:
        manifest = json.loads((dest / "addon.json").read_text())
        manifest["stack"][0]["streamable_block"]["stack"].extend(effects)
        (dest / "addon.json").write_text(json.dumps(manifest))
    return dest


def make_voices(root: Path) -> Path:
    root.mkdir()
    make_addon(root / "tiny")
    make_addon(root / "tiny-ar", "tiny_autoregressive")
    make_addon(root / "slow", effects=[{"type": "TestSleep", "seconds": 0.02}])
    make_addon(root / "crashy", effects=[{"type": "TestFailAfter", "after": 3}])
    broken = make_addon(root / "broken")
    (broken / "decoder.onnx").write_bytes(b"this is not an onnx file")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(config: Any) -> Iterator[tuple[str, Any]]:
    """A real uvicorn server (the service's own settings) on a free loopback port, in a thread."""
    import uvicorn

    from voicestack.service.app import create_app, server_config

    app = create_app(config)
    port = free_port()
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", app.state.service
    finally:
        server.should_exit = True
        thread.join(10)


def config(voices_dir: Path, **overrides: Any) -> Any:
    from voicestack.service import ServiceConfig

    base: dict[str, Any] = {"voices_dirs": (voices_dir,), "builtins": False, "default_voice": "tiny", "workers": 2}
    return ServiceConfig(**{**base, **overrides})


def parse_wav(data: bytes) -> tuple[int, np.ndarray]:
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    rate = struct.unpack("<I", data[24:28])[0]
    assert data[36:40] == b"data"
    return rate, np.frombuffer(data[44:], dtype="<i2")


def expected_pcm(addon: Path, text: str, **kwargs: Any) -> np.ndarray:
    from voicestack.audio import to_pcm16
    from voicestack.voice import Voice

    voice = Voice.load(addon)
    return np.frombuffer(to_pcm16(voice.synthesize(text, **kwargs).audio), dtype="<i2")


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (in any order).
    ``name`` may also carry labels the Prometheus way: ``name{a="x"}``."""
    from prometheus_client.parser import text_string_to_metric_families

    if "{" in name:
        name, rest = name.split("{", 1)
        for pair in rest.rstrip("}").split(","):
            key, value = pair.split("=", 1)
            labels[key] = value.strip('"')
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/v1/audio/stream"


def assert_idle(service: Any, timeout: float = 5.0) -> None:
    """Nothing leaked: no slot, no waiter, no lease, no open generator."""
    wait_for(service.idle, timeout)


def descendants(root: int) -> set[int]:
    """Every process below ``root`` (from /proc): what a test started, to check it is gone."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running (an exited, unreaped process counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
