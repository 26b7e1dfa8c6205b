"""Transports: listeners over one shared :class:`~voicestack.service.core.Service`.

A transport is one :class:`Transport` subclass plus one ``TRANSPORTS.register``. It is
made from the address the user gives (``--http 127.0.0.1:8000``, ``--wyoming
tcp://127.0.0.1:10200``), started in the service's event loop, and stopped there; the
protocol code it runs is imported only when it starts, so each transport's extra
(``serve``, ``wyoming``) is needed only by whoever uses it. :func:`serve` runs any set of
them side by side: one event loop, one voice pool, one scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import signal
import socket
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from voicestack.errors import SpecError
from voicestack.registry import Family

if TYPE_CHECKING:  # the core needs prometheus-client; the family itself is light (the CLI loads it)
    from voicestack.service.core import Service, ServiceConfig

log = logging.getLogger("voicestack.service")


class Transport:
    """A listener: parsed from an address, started and stopped in the service's loop."""

    name: ClassVar[str] = ""  # the family key and the CLI option: --NAME ADDRESS
    extra: ClassVar[str] = ""  # the pip extra that brings its libraries
    requires: ClassVar[tuple[str, ...]] = ()  # modules it imports when it starts
    example: ClassVar[str] = ""  # an address, for messages

    def __init__(self, address: str) -> None:
        self.given = address

    @classmethod
    def check(cls) -> None:
        """A SpecError naming the extra if a library this transport needs is missing."""
        missing = [m for m in cls.requires if importlib.util.find_spec(m) is None]
        if missing:
            raise SpecError.at(f"--{cls.name}", f"needs {', '.join(missing)}: pip install 'voicestack[{cls.extra}]'")

    async def start(self, service: Service) -> None:
        """Listen (returns once the socket is bound)."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop listening and end open connections (their syntheses finish)."""
        raise NotImplementedError

    @property
    def address(self) -> str:
        """Where it listens, once started (the real port when 0 was asked)."""
        raise NotImplementedError


TRANSPORTS: Family[Transport] = Family("transport", "voicestack.transports", Transport, key=lambda cls: cls.name)


def host_port(address: str, option: str, example: str, scheme: str, required: bool = False) -> tuple[str, int]:
    """``HOST:PORT`` or ``SCHEME://HOST:PORT`` (only the latter if ``required``) -> (host, port),
    or a SpecError naming the option."""
    text = address.strip()
    given, sep, rest = text.partition("://")
    if sep and given.lower() != scheme:
        raise SpecError.at(option, f"{address!r}: scheme {given!r} is not supported; expected {scheme}://HOST:PORT "
                                   f"(e.g. {example})")
    if not sep:
        if required:
            raise SpecError.at(option, f"{address!r}: expected {scheme}://HOST:PORT (e.g. {example})")
        rest = text
    try:
        parts = urlsplit(f"//{rest}")
        port = parts.port
    except ValueError as err:
        raise SpecError.at(option, f"{address!r}: {err} (expected HOST:PORT, e.g. {example})") from None
    if parts.path or parts.query or parts.fragment or parts.username is not None:
        raise SpecError.at(option, f"{address!r}: expected only HOST:PORT (e.g. {example})")
    if not parts.hostname or port is None:
        raise SpecError.at(option, f"{address!r}: expected HOST:PORT with both parts (e.g. {example})")
    return parts.hostname, port


def bound(servers: Sequence[asyncio.base_events.Server], scheme: str = "") -> str:
    """``[scheme://]host:port`` of the first socket of ``servers``."""
    host, port = servers[0].sockets[0].getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}{shown}:{port}"


class HttpTransport(Transport):
    """HTTP (OpenAI-style speech, WebSocket streaming, voices, metrics): the Starlette app
    on uvicorn."""

    name = "http"
    extra = "serve"
    requires = ("starlette", "uvicorn", "websockets", "prometheus_client")
    example = "127.0.0.1:8000"

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.host, self.port = host_port(address, "--http", self.example, "http")
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, service: Service) -> None:
        from voicestack.service.app import create_app, in_loop_server

        # bound here, so a taken port is an OSError like any other listener's (uvicorn would sys.exit)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.create_server((self.host, self.port), family=family)
        self._server = in_loop_server(create_app(service=service), self.host, self.port)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:  # uvicorn says it has started only through this flag
            if self._task.done():
                sock.close()
                with contextlib.suppress(SystemExit):
                    self._task.result()
                raise OSError(f"the HTTP server on {self.given} did not start; see the log above")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await self._task

    @property
    def address(self) -> str:
        return bound(self._server.servers, "http://")


class WyomingTransport(Transport):
    """The Wyoming protocol (Home Assistant's voice satellites and pipelines) over TCP."""

    name = "wyoming"
    extra = "wyoming"
    requires = ("wyoming", "prometheus_client")
    example = "tcp://127.0.0.1:10200"

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.host, self.port = host_port(address, "--wyoming", self.example, "tcp", required=True)
        self._listener: Any = None

    async def start(self, service: Service) -> None:
        from voicestack.service.wyoming import WyomingListener

        self._listener = WyomingListener(service, self.host, self.port)
        await self._listener.start()

    async def stop(self) -> None:
        if self._listener is not None:
            await self._listener.stop()

    @property
    def address(self) -> str:
        return bound([self._listener.server], "tcp://")


TRANSPORTS.register(HttpTransport)
TRANSPORTS.register(WyomingTransport)


def make(name: str, address: str) -> Transport:
    """The transport ``name`` listening at ``address``; SpecError for a bad one or a missing extra."""
    cls = TRANSPORTS.get(name, "transport")
    cls.check()
    return cls(address)


async def serve(service: Service, transports: Sequence[Transport],
                started: Callable[[list[Transport]], None] | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Start every transport over ``service``, run until ``stop`` is set (or SIGINT /
    SIGTERM / SIGHUP), then stop them all. The caller owns (and closes) the service."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = []
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
            signals.append(sig)
    running: list[Transport] = []
    try:
        for transport in transports:
            await transport.start(service)
            running.append(transport)
            log.info("%s listening on %s", transport.name, transport.address)
        if started is not None:
            started(running)
        await stop.wait()
    finally:
        for transport in reversed(running):
            try:
                await transport.stop()
            except Exception as err:  # noqa: BLE001 - stop the others all the same
                log.warning("%s did not stop cleanly: %r", transport.name, err)
        for sig in signals:
            loop.remove_signal_handler(sig)


def run(transports: Sequence[Transport], config: ServiceConfig | None = None) -> None:
    """``voicestack serve``: one service for every transport, until interrupted."""
    from voicestack.service.core import Service, ServiceConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service = Service(config or ServiceConfig())
    try:
        asyncio.run(serve(service, transports))
    finally:
        service.close()
