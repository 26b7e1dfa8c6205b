"""Helpers of the Wyoming tests: the real listeners (Wyoming, and HTTP beside it) over one
Service in a thread's event loop, and a reader of what the wyoming package's own client
receives."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from service_helpers import DATA, make_addon
from wyoming.client import AsyncTcpClient
from wyoming.event import Event

from voicestack.service.core import Service
from voicestack.service.transports import TRANSPORTS, Transport, serve


@dataclass
class Running:
    service: Service
    wyoming: tuple[str, int]
    http: str | None
    loop: asyncio.AbstractEventLoop

    def client(self) -> AsyncTcpClient:
        return AsyncTcpClient(*self.wyoming)


@contextmanager
def listening(config: Any, http: bool = False) -> Iterator[Running]:
    """Wyoming (and HTTP if asked) on free loopback ports, sharing one Service, until the block ends."""
    service = Service(config)
    transports: list[Transport] = [TRANSPORTS.get("wyoming", "")("tcp://127.0.0.1:0")]
    if http:
        transports.append(TRANSPORTS.get("http", "")("127.0.0.1:0"))
    ready = threading.Event()
    box: dict[str, Any] = {}

    def main() -> None:
        async def go() -> None:
            box["stop"] = asyncio.Event()
            box["loop"] = asyncio.get_running_loop()
            await serve(service, transports, started=lambda running: ready.set(), stop=box["stop"])

        try:
            asyncio.run(go())
        except BaseException as err:  # noqa: BLE001 - reported to the test below
            box["error"] = err
            ready.set()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert ready.wait(30), "the listeners did not start"
    assert "error" not in box, box.get("error")
    host, port = transports[0].address.removeprefix("tcp://").rsplit(":", 1)
    try:
        yield Running(service, (host, int(port)), transports[1].address if http else None, box["loop"])
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(20)
        service.close()
        assert not thread.is_alive(), "the listeners did not stop"


def make_wyoming_voices(root: Path) -> Path:
    """The service tests' voices, plus a deterministic one (no noise) and a multi-speaker one."""
    from service_helpers import make_voices

    make_voices(root)
    calm = make_addon(root / "calm")
    manifest = json.loads((calm / "addon.json").read_text())
    manifest["inference"].update(noise_scale=0.0, noise_w=0.0)
    (calm / "addon.json").write_text(json.dumps(manifest))
    shutil.copytree(DATA / "tiny_speakers_id", root / "trio")
    return root


@dataclass
class Reply:
    """What came back for one request, up to its last event."""

    events: list[Event] = field(default_factory=list)

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.events]

    @property
    def chunks(self) -> list[Event]:
        return [e for e in self.events if e.type == "audio-chunk"]

    @property
    def pcm(self) -> np.ndarray:
        return np.frombuffer(b"".join(e.payload or b"" for e in self.chunks), dtype="<i2")

    @property
    def error(self) -> dict[str, Any] | None:
        return next((e.data for e in self.events if e.type == "error"), None)


async def receive(client: AsyncTcpClient, until: tuple[str, ...] = ("audio-stop", "error"),
                  timeout: float = 60) -> Reply:
    reply = Reply()
    async with asyncio.timeout(timeout):
        while True:
            event = await client.read_event()
            assert event is not None, f"the server closed the connection after {reply.types}"
            reply.events.append(event)
            if event.type in until:
                return reply
