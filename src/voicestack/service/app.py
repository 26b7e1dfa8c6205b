"""The HTTP voice service: an ASGI app (Starlette) served by uvicorn.

Endpoints: ``POST /v1/audio/speech`` (OpenAI body, audio streamed as produced),
``WS /v1/audio/stream`` (text in pieces, audio out as it is ready; see
:mod:`voicestack.service.ws`), ``GET /v1/voices``, ``GET /healthz``, ``GET /metrics``
(Prometheus) and ``GET /`` (a page to try the voices). Synthesis never runs on the
event loop: :mod:`voicestack.service.scheduler` advances every stream on a fixed set of
worker threads; voices come from :mod:`voicestack.service.pool`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voicestack.audio import to_pcm16, wav_header
from voicestack.blocks import Request
from voicestack.errors import RequestError, SynthesisCancelled
from voicestack.service.config import ServiceConfig
from voicestack.service.metrics import ServiceMetrics
from voicestack.service.pool import Lease, UnknownVoice, VoiceCatalog, VoiceLoadError, VoicePool
from voicestack.service.protocol import STREAMING_FORMATS, ApiError, SynthesisParams, bad, parse_speech
from voicestack.service.scheduler import ChunkStream, Overloaded, Scheduler
from voicestack.voice import AudioChunk

log = logging.getLogger("voicestack.service")

# a voice's own error fields -> the request field the client sent
FIELD_NAMES = {"text": "input", "length_scale": "speed"}
_ids = itertools.count(1)


class Synthesis:
    """One admitted synthesis: a slot, a pinned voice, a chunk stream, and its figures.

    Every exit goes through :meth:`finish` (idempotent), which stops the compute and
    gives the slot and the voice back.
    """

    def __init__(self, service: Service, name: str, lease: Lease, request: Request, stream: ChunkStream,
                 arrived: float, kind: str) -> None:
        self.id = next(_ids)
        self.service = service
        self.name = name
        self.lease = lease
        self.voice = lease.voice
        self.request = request
        self.stream = stream
        self.arrived = arrived
        self.kind = kind
        self.first_audio: float | None = None
        self.outcome: str | None = None  # ok, cancelled, error

    @property
    def chunks(self) -> int:
        return self.stream.chunks

    @property
    def chunks_after_cancel(self) -> int:
        return self.stream.chunks_after_cancel

    async def next(self) -> AudioChunk | None:
        chunk = await self.stream.next()
        if chunk is not None:
            m = self.service.metrics
            m.chunks.inc(self.name)
            m.audio_seconds.inc(self.name, amount=chunk.duration)
            if self.first_audio is None:
                self.first_audio = time.monotonic() - self.arrived
                m.first_audio.observe(self.first_audio, self.name)
        return chunk

    def finish(self, outcome: str) -> None:
        if self.outcome is not None:
            return
        self.outcome = outcome
        self.stream.close()
        self.lease.release()
        self.service.scheduler.release_slot()
        m = self.service.metrics
        for event in self.request.events:
            if event.get("event") == "end" and "status" in event:
                m.utterance_ends.inc(self.name, str(event.get("block", "")), str(event["status"]))
        if outcome == "ok" and self.stream.audio_seconds > 0:
            m.rtf.observe((time.monotonic() - self.stream.started) / self.stream.audio_seconds, self.name)
        elif outcome == "cancelled":
            m.cancelled.inc()
        elif outcome == "error":
            m.errors.inc("synthesis")


class Service:
    """Everything one process shares: config, voices, workers, metrics."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.metrics = ServiceMetrics()
        self.catalog = VoiceCatalog(config.voices_dirs, config.builtins)
        self.pool = VoicePool(self.catalog, config.memory_budget_bytes, config.voices, self.metrics)
        self.scheduler = Scheduler(config.workers, config.max_active_streams, config.max_queue, self.metrics)
        self.formats = STREAMING_FORMATS
        self.recent: deque[Synthesis] = deque(maxlen=128)  # last syntheses (for tests and debugging)

    def close(self) -> None:
        self.scheduler.shutdown()

    def overloaded(self) -> ApiError:
        self.metrics.errors.inc("overloaded")
        return ApiError(503, "the server is at capacity; retry shortly", None, "overloaded",
                        {"Retry-After": str(self.config.retry_after_seconds)})

    def check_voice(self, name: str) -> None:
        known = self.catalog.names()
        if name not in known:
            raise bad("voice", f"unknown voice {name!r}; available: {', '.join(known)}")

    async def lease(self, name: str) -> Lease:
        """Pin (and if needed load) a voice on a helper thread; never leaks the lease."""
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, self.pool.acquire, name)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            fut.add_done_callback(_release_when_acquired)
            raise
        except UnknownVoice as err:
            raise bad("voice", str(err)) from None
        except VoiceLoadError as err:
            self.metrics.errors.inc("voice_load")
            raise ApiError(500, str(err), "voice", "voice_unavailable") from None

    async def start(self, params: SynthesisParams, text: str, arrived: float, kind: str) -> Synthesis:
        """Admit, pin the voice, and open a stream (nothing computed yet). Raises ApiError."""
        try:
            await self.scheduler.acquire_slot()
        except Overloaded:
            raise self.overloaded() from None
        lease: Lease | None = None
        try:
            lease = await self.lease(params.voice)
            voice = lease.voice
            try:
                req = voice.request(**params.overrides(voice.defaults.get("length_scale")))
            except RequestError as err:
                raise bad(FIELD_NAMES.get(err.field, err.field), str(err)) from None
            name = params.voice
            block = self.metrics.block
            req.observer = lambda b, s: block.observe(s, name, b)
            chunks = voice.stream(text, request=req)
            stream = self.scheduler.open(chunks, req.cancel)
        except BaseException:
            if lease is not None:
                lease.release()
            self.scheduler.release_slot()
            raise
        synthesis = Synthesis(self, params.voice, lease, req, stream, arrived, kind)
        self.recent.append(synthesis)
        return synthesis

    async def first_chunk(self, synthesis: Synthesis) -> AudioChunk | None:
        """Pull the first chunk; errors here still become a proper JSON error response."""
        try:
            return await synthesis.next()
        except asyncio.CancelledError:
            synthesis.finish("cancelled")
            raise
        except RequestError as err:
            synthesis.finish("bad_request")
            raise bad(FIELD_NAMES.get(err.field, err.field), str(err)) from None
        except Exception as err:
            log.error("voice %r failed before its first chunk: %r", synthesis.name, err, exc_info=err)
            synthesis.finish("error")
            raise ApiError(500, f"synthesis failed in voice {synthesis.name!r}; see the server log", "voice",
                           "synthesis_error") from None


def _release_when_acquired(fut: asyncio.Future[Lease]) -> None:
    """A lease acquired after its request was cancelled goes straight back to the pool."""
    if not fut.cancelled() and fut.exception() is None:
        fut.result().release()


class SynthesisResponse(StreamingResponse):
    """Streams a synthesis; whatever ends the response (done, error, disconnect) finishes it."""

    def __init__(self, synthesis: Synthesis, content: AsyncIterator[bytes], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.synthesis = synthesis

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.synthesis.finish("cancelled")  # no-op if it already finished


async def _audio_bytes(service: Service, synthesis: Synthesis, first: AudioChunk | None, fmt: str) -> AsyncIterator[bytes]:
    head = wav_header(synthesis.voice.sample_rate) if fmt == "wav" else b""
    try:
        yield head + (to_pcm16(first.audio) if first is not None else b"")
        while (chunk := await synthesis.next()) is not None:
            yield to_pcm16(chunk.audio)
        synthesis.finish("ok")
    except (asyncio.CancelledError, GeneratorExit, SynthesisCancelled):
        synthesis.finish("cancelled")
        raise
    except Exception as err:  # mid-stream: the response ends cleanly, the error is logged and counted
        log.error("voice %r failed mid-stream after %d chunks: %r", synthesis.name, synthesis.chunks, err,
                  exc_info=err)
        synthesis.finish("error")


async def _json_body(request: HttpRequest, limit: int) -> Any:
    raw = bytearray()
    async for part in request.stream():
        raw += part
        if len(raw) > limit:
            raise ApiError(413, f"the request body is larger than {limit} bytes", "input")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise bad(None, f"the request body is not valid JSON: {err}") from None


def _service(request: HttpRequest) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


async def speech(request: HttpRequest) -> Response:
    arrived = time.monotonic()
    service = _service(request)
    cfg = service.config
    body = await _json_body(request, cfg.max_input_chars * 4 + 65536)
    sp = parse_speech(body, cfg.default_voice, cfg.max_input_chars, service.formats)
    service.check_voice(sp.params.voice)
    synthesis = await service.start(sp.params, sp.input, arrived, "http")
    first = await service.first_chunk(synthesis)
    rate = synthesis.voice.sample_rate
    media = "audio/wav" if sp.response_format == "wav" else f"audio/L16;rate={rate};channels=1"
    headers = {"X-Sample-Rate": str(rate), "X-Voice": synthesis.name, "Cache-Control": "no-store",
               "X-Accel-Buffering": "no"}
    if sp.model is not None:
        headers["X-Model"] = sp.model
    return SynthesisResponse(synthesis, _audio_bytes(service, synthesis, first, sp.response_format),
                             media_type=media, headers=headers)


async def voices(request: HttpRequest) -> Response:
    service = _service(request)
    names = service.catalog.names()
    loaded = set(service.pool.loaded())
    infos = await asyncio.get_running_loop().run_in_executor(None, lambda: [service.catalog.info(n) for n in names])
    for info in infos:
        info["loaded"] = info["id"] in loaded
        info["default"] = info["id"] == service.config.default_voice
    return JSONResponse({"object": "list", "data": infos})


async def healthz(request: HttpRequest) -> Response:
    service = _service(request)
    return JSONResponse({"status": "ok", "voices_loaded": len(service.pool.loaded()),
                         "active_streams": service.scheduler.active,
                         "queue_depth": service.metrics.queue_depth.value()})


async def metrics(request: HttpRequest) -> Response:
    return PlainTextResponse(_service(request).metrics.render(), media_type="text/plain; version=0.0.4")


async def index(request: HttpRequest) -> Response:
    page = resources.files("voicestack.service").joinpath("static/index.html").read_text(encoding="utf-8")
    return Response(page, media_type="text/html; charset=utf-8")


async def api_error(request: Any, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if exc.status < 500 and exc.kind != "overloaded":
        _service(request).metrics.errors.inc("bad_request")
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def http_error(request: Any, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": {"message": exc.detail, "type": "invalid_request_error", "param": None}},
                        status_code=exc.status_code, headers=exc.headers)


async def internal_error(request: Any, exc: Exception) -> Response:
    log.error("unhandled error on %s", getattr(request, "url", "?"), exc_info=exc)
    try:
        _service(request).metrics.errors.inc("internal")
    except Exception:  # noqa: BLE001,S110  # pragma: no cover - metrics must never mask the original error
        pass
    return JSONResponse({"error": {"message": "internal server error; see the server log", "type": "server_error",
                                   "param": None}}, status_code=500)


class CountRequests:
    """Counts answered requests by route and status for /metrics."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        endpoint = path if path in ("/", "/v1/audio/speech", "/v1/voices", "/healthz", "/metrics") else "other"

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.service.metrics.requests.inc(endpoint, str(message["status"]))
            await send(message)

        await self.app(scope, receive, counting_send)


def create_app(config: ServiceConfig | None = None) -> Starlette:
    """The ASGI app. ``app.state.service`` holds the shared :class:`Service`."""
    from contextlib import asynccontextmanager

    from voicestack.service.ws import stream_socket

    service = Service(config or ServiceConfig())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        service.close()

    handlers: dict[Any, Callable[[Any, Exception], Awaitable[Response]]] = {
        ApiError: api_error, HTTPException: http_error, Exception: internal_error}
    app = Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/v1/audio/speech", speech, methods=["POST"]),
            Route("/v1/voices", voices, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            WebSocketRoute("/v1/audio/stream", stream_socket),
        ],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(CountRequests, service=service)
    return app


def run(host: str = "127.0.0.1", port: int = 8000, config_path: str | os.PathLike[str] | None = None) -> None:
    """``voicestack serve``: load the config and serve until interrupted."""
    import uvicorn

    config = ServiceConfig.load(config_path)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from uvicorn.config import WS_PROTOCOLS

    ws = "websockets-sansio" if "websockets-sansio" in WS_PROTOCOLS else "auto"  # uvicorn >= 0.35
    uvicorn.run(create_app(config), host=host, port=port, ws=ws, log_level="info", timeout_graceful_shutdown=5)
