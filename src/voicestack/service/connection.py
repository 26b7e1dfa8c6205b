"""uvicorn's h11 protocol with two things a streaming service needs and uvicorn lacks:

* a header read timeout: a connection whose request headers have not all arrived
  within it (after it opens, or after the previous response on a kept-alive
  connection) is closed, so slow or idle clients cannot hold connections forever;
* a bounded kernel send buffer (``SEND_BUFFER`` bytes; Linux otherwise grows it to
  megabytes), so a client that stops reading stops the server's compute after a few
  seconds of audio instead of a minute (the scheduler's ``max_ahead_seconds`` caps
  what waits on top of it).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


SEND_BUFFER = 128 * 1024  # ~3 s of 22 kHz 16-bit audio; plenty for any network path at audio rates


class HeaderTimeoutH11(H11Protocol):
    header_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            except OSError:  # pragma: no cover - a transport without a settable buffer
                pass
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the request line and headers are in
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def header_timeout_protocol(seconds: float) -> type[H11Protocol]:
    return type("HeaderTimeoutH11", (HeaderTimeoutH11,), {"header_timeout": seconds})
