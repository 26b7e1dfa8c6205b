"""The HTTP transport (OpenAI-style): a Starlette app over the service core, served by
uvicorn.

Endpoints: ``POST /v1/audio/speech`` (OpenAI body, audio streamed as produced),
``WS /v1/audio/stream`` (:mod:`voicestack.service.ws`), ``GET /v1/voices``,
``GET /healthz``, ``GET /metrics`` (Prometheus) and ``GET /`` (a page to try the
voices). Everything but the wire format lives in :mod:`voicestack.service.core`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from importlib import resources
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voicestack.codecs import encoder
from voicestack.service.captioned import CaptionedResponse, captioned_body
from voicestack.service.core import ClientGone, Service, ServiceConfig, ServiceError, Synthesis, parse_json, until_gone
from voicestack.service.core.requests import CaptionedBody, speech_request
from voicestack.service.core.service import OPENAI_FORMATS
from voicestack.service.ws import stream_socket
from voicestack.voice import AudioChunk

log = logging.getLogger("voicestack.service")
ENDPOINTS = ("/", "/v1/audio/speech", "/v1/audio/speech/captioned", "/v1/voices", "/healthz", "/metrics")
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


class Stalled(Exception):
    """The client took nothing for ``write_stall_seconds``."""


def header_value(text: str) -> str:
    """Printable ASCII as is; anything else (CR, LF, NUL, non-Latin-1) percent-encoded."""
    return quote(text, safe=_HEADER_SAFE, errors="backslashreplace")


async def wait_disconnect(receive: Receive) -> None:
    """Returns when the client has gone (call after the body is read)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def _service(request: Any) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


async def read_body(request: HttpRequest, limit: int, timeout: float) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and len(length) < 20 and int(length) > limit:
        raise ServiceError(413, f"the request body has {length} bytes; the limit is {limit}", "input",
                           "request_too_large")
    raw = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for part in request.stream():
                raw += part
                if len(raw) > limit:
                    raise ServiceError(413, f"the request body is larger than {limit} bytes", "input",
                                       "request_too_large")
    except TimeoutError:
        raise ServiceError(408, f"the request body did not arrive within {timeout:g} s", None, "timeout") from None
    except ClientDisconnect:
        raise ClientGone() from None
    return bytes(raw)


class SynthesisResponse(Response):
    """Streams a synthesis through an encoder (:mod:`voicestack.codecs`): each chunk's
    bytes leave as soon as the codec has them. Whatever ends the response (done, error,
    disconnect, a client that stops reading) finishes the synthesis."""

    def __init__(self, synthesis: Synthesis, first: AudioChunk | None, fmt: str, headers: dict[str, str],
                 gone: asyncio.Future[None], stall: float) -> None:
        rate = synthesis.sample_rate
        self.encoder = encoder(fmt, rate, stream=True)
        super().__init__(None, media_type=self.content_type(fmt, rate), headers=headers)
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]  # chunked
        self.synthesis = synthesis
        self.first = first
        self.gone = gone
        self.stall = stall

    def content_type(self, fmt: str, rate: int) -> str:
        return f"audio/L16;rate={rate};channels=1" if fmt == "pcm" else self.encoder.media_type

    def frame(self, data: bytes, last: bool) -> bytes:
        """The body bytes that carry ``data`` (encoded audio) -- the audio itself here."""
        return data

    async def _body(self, send: Send, data: bytes, more: bool = True) -> None:
        if not data and more:
            return  # the codec holds this chunk's samples for its next packet
        data = self.frame(data, not more)
        try:
            await asyncio.wait_for(send({"type": "http.response.body", "body": data, "more_body": more}), self.stall)
        except TimeoutError:
            raise Stalled() from None
        except OSError:
            raise ClientGone() from None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        s, enc = self.synthesis, self.encoder
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            try:
                if self.first is not None:
                    await self._body(send, enc.write(self.first.audio))
                while (chunk := await until_gone(s.next(), self.gone)) is not None:
                    await self._body(send, enc.write(chunk.audio))
                s.finish("ok")
            except (ClientGone, Stalled):
                raise
            except Exception as err:  # noqa: BLE001 - mid-stream: the body ends cleanly; logged and counted
                s.failed(err)
            # the codec's last packets and trailer (a stream keeps its open-ended header: see codecs)
            await self._body(send, enc.close(), more=False)
        except ClientGone:
            s.finish("cancelled")
        except Stalled:
            log.warning("a client took no audio for %g s; its stream of voice %r ends", self.stall, s.name)
            s.finish("stalled")
        finally:
            s.finish("cancelled")  # no-op if it already finished
            enc.close()
            self.gone.cancel()


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


class SseSynthesisResponse(SynthesisResponse):
    """OpenAI's ``stream_format: "sse"``: server-sent events, each ``speech.audio.delta``
    carrying encoded audio in base64 as the codec produces it, then
    ``speech.audio.done`` (or an ``error`` event if the voice failed mid-stream)."""

    def content_type(self, fmt: str, rate: int) -> str:
        return "text/event-stream"

    def frame(self, data: bytes, last: bool) -> bytes:
        out = _event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()}) if data else b""
        if last:
            if self.synthesis.outcome == "ok":  # no tokens are counted here: zeros, for clients that read usage
                out += _event({"type": "speech.audio.done",
                               "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}})
            else:
                out += _event({"type": "error", **ServiceError(500, "synthesis failed mid-stream; see the server "
                                                                    "log", "voice", "synthesis_error").body()})
        return out


async def speech(request: HttpRequest) -> Response:
    arrived = time.monotonic()
    service = _service(request)
    cfg = service.config
    raw = await read_body(request, cfg.max_input_chars * 4 + 65536, cfg.body_timeout_seconds)
    sp = speech_request(parse_json(raw), cfg.default_voice, cfg.max_input_chars, service.formats, OPENAI_FORMATS,
                        default_format=cfg.default_response_format)
    if sp.stream_format == "sse" and sp.model in (None, "tts-1", "tts-1-hd"):  # as OpenAI answers for tts-1
        shown = "no model" if sp.model is None else f"model {sp.model!r}"
        raise ServiceError(400, f"stream_format: 'sse' is not supported with {shown}; use 'audio', or name a "
                                "model such as 'gpt-4o-mini-tts'", "stream_format")
    params = service.resolve(sp.params)
    voice_id = params.voice if params.speaker is None else f"{params.voice}/{params.speaker}"
    headers = {"X-Voice": header_value(voice_id), "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if sp.model is not None:
        headers["X-Model"] = header_value(sp.model)
    gone = asyncio.ensure_future(wait_disconnect(request.receive))
    synthesis: Synthesis | None = None
    try:
        synthesis = await service.start(params, sp.input, arrived, "http", gone)
        first = await synthesis.first(gone)
        headers["X-Sample-Rate"] = str(synthesis.sample_rate)
        kind = SseSynthesisResponse if sp.stream_format == "sse" else SynthesisResponse
        return kind(synthesis, first, sp.response_format, headers, gone, cfg.write_stall_seconds)
    except BaseException:
        gone.cancel()
        if synthesis is not None:
            synthesis.finish("error")  # no-op if first() already finished it
        raise


async def captioned_speech(request: HttpRequest) -> Response:
    """``POST /v1/audio/speech/captioned``: audio and word timings as JSON lines
    (:mod:`voicestack.service.captioned`)."""
    arrived = time.monotonic()
    service = _service(request)
    cfg = service.config
    raw = captioned_body(parse_json(await read_body(request, cfg.max_input_chars * 4 + 65536, cfg.body_timeout_seconds)))
    sp = speech_request(raw, cfg.default_voice, cfg.max_input_chars, ("pcm",), body_type=CaptionedBody,
                        default_format="pcm")
    service.check_voice(sp.params.voice)
    headers = {"X-Voice": header_value(sp.params.voice), "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    gone = asyncio.ensure_future(wait_disconnect(request.receive))
    synthesis: Synthesis | None = None
    try:
        synthesis = await service.start(replace(sp.params, words=True), sp.input, arrived, "http", gone)
        first = await synthesis.first(gone)
        headers["X-Sample-Rate"] = str(synthesis.sample_rate)
        return CaptionedResponse(synthesis, first, bool(raw.get("phonemes")), headers, gone, cfg.write_stall_seconds)
    except BaseException:
        gone.cancel()
        if synthesis is not None:
            synthesis.finish("error")
        raise


async def voices(request: HttpRequest) -> Response:
    service = _service(request)
    names = service.catalog.names()
    loaded = set(service.pool.loaded())
    infos = await asyncio.get_running_loop().run_in_executor(None, lambda: [service.catalog.info(n) for n in names])
    aliases: dict[str, list[str]] = {}
    for alias, target in service.config.aliases().items():
        if alias not in names:  # a voice of that name wins over the alias
            aliases.setdefault(target.split("/", 1)[0], []).append(alias)
    for info in infos:
        info["loaded"] = info["id"] in loaded
        info["default"] = info["id"] == service.config.default_voice
        info["aliases"] = sorted(aliases.get(info["id"], []))
    return JSONResponse({"object": "list", "data": infos})


async def healthz(request: HttpRequest) -> Response:
    service = _service(request)
    return JSONResponse({"status": "ok", "voices_loaded": len(service.pool.loaded()),
                         "active_streams": service.scheduler.active, "queue_depth": service.scheduler.queued,
                         "open_streams": service.scheduler.open_count()})


async def metrics(request: HttpRequest) -> Response:
    from voicestack.service.core.metrics import CONTENT_TYPE

    return Response(_service(request).metrics.render(), headers={"Content-Type": CONTENT_TYPE})


async def index(request: HttpRequest) -> Response:
    page = resources.files("voicestack.service").joinpath("static/index.html").read_text(encoding="utf-8")
    return Response(page, media_type="text/html; charset=utf-8")


def error_response(err: ServiceError) -> Response:
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else None
    return JSONResponse(err.body(), status_code=err.status, headers=headers)


async def service_error(request: Any, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    if exc.status < 500 and exc.kind != "overloaded":
        _service(request).metrics.errors.labels("bad_request").inc()
    return error_response(exc)


async def client_gone(request: Any, exc: Exception) -> Response:
    # nobody is there to read it; 499 (as nginx logs it) keeps the count of every request honest
    return Response(status_code=499)


async def http_error(request: Any, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": {"message": exc.detail, "type": "invalid_request_error", "param": None}},
                        status_code=exc.status_code, headers=exc.headers)


async def internal_error(request: Any, exc: Exception) -> Response:
    log.error("unhandled error on %s", getattr(request, "url", "?"), exc_info=exc)
    _service(request).metrics.errors.labels("internal").inc()
    return JSONResponse({"error": {"message": "internal server error; see the server log", "type": "server_error",
                                   "param": None}}, status_code=500)


class CountResponses:
    """Counts every HTTP response by endpoint and status, 500s included (it wraps the
    whole app, outside Starlette's error middleware)."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        endpoint = path if path in ENDPOINTS else "other"
        started = False

        async def counting_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                self.service.metrics.requests.labels(endpoint, str(message["status"])).inc()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except BaseException:
            if not started:  # the server answers 500 itself
                self.service.metrics.requests.labels(endpoint, "500").inc()
            raise


class ServiceApp(Starlette):
    def build_middleware_stack(self) -> ASGIApp:
        return CountResponses(super().build_middleware_stack(), self.state.service)


def create_app(config: ServiceConfig | None = None, *, service: Service | None = None) -> Starlette:
    """The ASGI app. ``app.state.service`` holds the :class:`Service`: the one given (shared
    with other transports; its owner closes it) or a new one from ``config`` (closed with
    the app)."""
    owned = service is None
    service = service or Service(config or ServiceConfig())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if owned:
            service.close()

    handlers: dict[Any, Callable[[Any, Exception], Awaitable[Response]]] = {
        ServiceError: service_error, ClientGone: client_gone, ClientDisconnect: client_gone,
        HTTPException: http_error, Exception: internal_error}
    app = ServiceApp(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/v1/audio/speech", speech, methods=["POST"]),
            Route("/v1/audio/speech/captioned", captioned_speech, methods=["POST"]),
            Route("/v1/voices", voices, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            WebSocketRoute("/v1/audio/stream", stream_socket),
        ],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    app.state.service = service
    return app


def server_config(app: Starlette, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> Any:
    """The uvicorn settings the service needs (timeouts, message sizes); a uvicorn.Config."""
    import uvicorn
    from uvicorn.config import WS_PROTOCOLS

    from voicestack.service.connection import header_timeout_protocol

    cfg: ServiceConfig = app.state.service.config
    ws = "websockets-sansio" if "websockets-sansio" in WS_PROTOCOLS else "auto"  # uvicorn >= 0.35
    settings: dict[str, Any] = {
        "host": host, "port": port, "ws": ws, "http": header_timeout_protocol(cfg.header_timeout_seconds),
        "ws_max_size": cfg.max_stream_chars * 4 + 65536, "timeout_keep_alive": 5, "timeout_graceful_shutdown": 5,
        "log_level": "info", "lifespan": "on"}
    settings.update(options)
    return uvicorn.Config(app, **settings)


def in_loop_server(app: Starlette, host: str, port: int, **options: Any) -> Any:
    """A uvicorn.Server for ``app`` to run as one task of a shared event loop: the loop's
    owner handles the signals (uvicorn would take SIGINT/SIGTERM over for itself)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(server_config(app, host, port, **options))
