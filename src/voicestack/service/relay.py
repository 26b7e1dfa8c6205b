"""An HTTP request relayed to an ASGI app in another process, and the metrics of several
processes merged into one Prometheus page.

A front process (the Ray Serve ingress) reads a request's body, picks a replica, and
hands it ``(scope, body)``; the replica runs the service's real Starlette app on them
with :func:`relay` and gives back the ASGI messages it sends, one by one, as they are
produced. When the front stops pulling (its client went away), the app's ``receive``
answers ``http.disconnect`` -- what a direct client disconnect looks like to the app --
so the synthesis is cancelled exactly as on a direct connection.

ASGI has no library for running an app on a message stream outside a server, hence
this module (it is small: one receive, one send and a queue).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from starlette.types import ASGIApp, Message

log = logging.getLogger("voicestack.service")
INTERNAL_ERROR = json.dumps({"error": {"message": "internal server error; see the server log", "type": "server_error",
                                       "param": None}}).encode()
# the parts of an HTTP scope that travel (the rest -- app, state, extensions -- is per process)
SCOPE_KEYS = ("type", "http_version", "method", "scheme", "path", "raw_path", "query_string", "root_path",
              "headers", "client", "server")


def portable_scope(scope: Mapping[str, Any]) -> dict[str, Any]:
    """The picklable part of an HTTP scope, headers as lists of byte pairs."""
    out = {k: scope[k] for k in SCOPE_KEYS if k in scope}
    out["headers"] = [(bytes(k), bytes(v)) for k, v in scope.get("headers", [])]
    for key in ("client", "server"):
        if out.get(key) is not None:
            out[key] = tuple(out[key])
    out["root_path"] = ""
    out["asgi"] = {"version": "3.0", "spec_version": "2.3"}
    return out


def requested_voice(method: str, path: str, body: bytes, default: str) -> str | None:
    """The voice a speech request asks for (``default`` if it names none), or None for
    requests that are not speech or whose body is not a JSON object (the replica that
    gets them answers with the proper error)."""
    if method != "POST" or path != "/v1/audio/speech":
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    voice = data.get("voice", default)
    return voice if isinstance(voice, str) and voice and len(voice) <= 200 else None


async def relay(app: ASGIApp, scope: dict[str, Any], body: bytes,
                extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> AsyncIterator[Message]:
    """Run ``app`` on one HTTP request and yield what it sends.

    Closing the generator early (the consumer went away) tells the app its client
    disconnected; the app finishes on its own (its synthesis is cancelled)."""
    queue: asyncio.Queue[Message | None] = asyncio.Queue()
    gone = asyncio.Event()
    delivered = False
    extra = list(extra_headers)

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    started = False

    async def send(message: Message) -> None:
        nonlocal started
        if gone.is_set():
            raise OSError("the client went away")  # what a server's send does after a disconnect
        if message["type"] == "http.response.start":
            started = True
            if extra:
                message = {**message, "headers": [*message.get("headers", []), *extra]}
        queue.put_nowait(message)

    async def run() -> None:
        try:
            await app(dict(scope), receive, send)
        except Exception as err:  # the app answers its own errors; this is a last resort
            log.error("relayed request failed: %r", err, exc_info=err)
            if not started:
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": INTERNAL_ERROR})
        finally:
            queue.put_nowait(None)

    task = asyncio.ensure_future(run())
    try:
        while (message := await queue.get()) is not None:
            yield message
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                break
    finally:
        gone.set()  # no-op once the response is complete; otherwise the app sees a disconnect
        task.add_done_callback(lambda t: t.cancelled() or t.exception())


# -- metrics of several processes -----------------------------------------------------------
class _Merged:
    """A collector over parsed metric families (prometheus-client's own renderer writes them)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def merge_metrics(pages: Mapping[str, str], label: str = "replica") -> bytes:
    """Prometheus pages of several processes as one page, each sample labelled with its
    process (``label="<key>"``), each family declared once."""
    merged: dict[str, Metric] = {}
    for key, text in sorted(pages.items()):
        for family in text_string_to_metric_families(text):
            out = merged.get(family.name)
            if out is None:
                out = merged[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
            for s in family.samples:
                out.samples.append(Sample(s.name, {**s.labels, label: key}, s.value, s.timestamp, s.exemplar))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(list(merged.values())))  # type: ignore[arg-type]
    return generate_latest(registry)
