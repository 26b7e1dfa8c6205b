"""The voice service on Ray Serve: replicas of the whole service, requests placed by voice.

    pip install 'voicestack[serve,ray]'
    voicestack serve --ray [RAY.json] --config service.json --port 8000

Two deployments make one Serve application:

- ``VoiceReplica`` (``replicas`` of them, or autoscaled): each one a complete service --
  the Starlette app of :mod:`voicestack.service.app` over its own core (voice pool and
  byte budget, scheduler, worker threads, metrics). Voices are Ray Serve *multiplexed
  models* keyed by voice name, so Ray routes a request to a replica that already has
  its voice loaded, and otherwise to the replica with the fewest voices.
- ``VoiceIngress`` (HTTP entry, behind Ray's proxy): reads the request body, takes the
  voice from it, and relays the request to a replica by a streaming handle call
  (:mod:`voicestack.service.relay`); audio reaches the client chunk by chunk. A client
  that goes away cancels the handle call, and the replica's app sees a disconnect.
  ``GET /metrics`` merges every replica's metrics (labelled ``replica``);
  ``GET /v1/replicas`` lists them with their loaded voices.

WebSocket streaming (``/v1/audio/stream``) is not relayed; connect to a plain
``voicestack serve`` for it. docs/scale-out.md sizes replicas and autoscaling.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ray import serve  # type: ignore[import-not-found]
from ray.serve.handle import DeploymentHandle  # type: ignore[import-not-found]
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from voicestack.errors import SpecError
from voicestack.params import limits, parse
from voicestack.service.core import ServiceConfig
from voicestack.service.relay import merge_metrics, portable_scope, relay, requested_voice

log = logging.getLogger("voicestack.service")
APP_NAME = "voicestack"
REPLICA_HEADER = b"x-voicestack-replica"


@dataclass(frozen=True)
class RayOptions:
    """How the service is spread over Ray (the ``--ray`` JSON file; every key optional)."""

    # where Ray runs: "local" starts one on this machine, "auto" joins a running cluster
    address: str = field(default="local", metadata=limits(nonempty=True))
    replicas: int = field(default=2, metadata=limits(lo=1, hi=10_000))
    # above `replicas`: autoscale between `replicas` and this many
    max_replicas: int = field(default=0, metadata=limits(lo=0, hi=10_000))
    replica_cpus: float = field(default=2.0, metadata=limits(lo=0.0, hi=1024))
    # requests per replica the autoscaler aims at (0: 70 % of the service's workers)
    target_ongoing_requests: float = field(default=0.0, metadata=limits(lo=0.0, hi=100_000))
    # requests Ray sends one replica at once (0: the service's max_active_streams)
    max_ongoing_requests: int = field(default=0, metadata=limits(lo=0, hi=100_000))
    # requests waiting in Ray's router beyond that, per caller (0: the service's max_queue)
    max_queued_requests: int = field(default=0, metadata=limits(lo=0, hi=100_000))
    # voices a replica keeps as Ray multiplexed models (within its memory_budget_bytes)
    voices_per_replica: int = field(default=4, metadata=limits(lo=1, hi=10_000))
    ingress_replicas: int = field(default=1, metadata=limits(lo=1, hi=10_000))
    ingress_cpus: float = field(default=0.25, metadata=limits(lo=0.0, hi=1024))
    # register third-party blocks, front-ends and runtimes (entry points) in each replica
    plugins: bool = True

    def __post_init__(self) -> None:
        if self.max_replicas and self.max_replicas < self.replicas:
            problem = f"got {self.max_replicas}, expected 0 or >= replicas ({self.replicas})"
            raise SpecError([("max_replicas", problem)], source="ray options")

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None) -> RayOptions:
        if not path:
            return cls()
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as err:
            raise SpecError([("", f"cannot read the Ray options: {err.strerror}")], source=str(path)) from None
        except (ValueError, RecursionError) as err:
            raise SpecError([("", f"not valid JSON: {err}")], source=str(path)) from None
        return parse(cls, data, "", owner=str(path))


def _replica_id() -> str:
    try:
        return str(serve.get_replica_context().replica_tag)
    except Exception:  # noqa: BLE001 - outside a replica (a direct call in a test)
        return f"pid{os.getpid()}"


class VoiceReplica:
    """One whole voice service; voices are multiplexed models keyed by voice name."""

    def __init__(self, config: ServiceConfig, plugins: bool) -> None:
        from voicestack.service.app import create_app

        if plugins:
            from voicestack.plugins import load_plugins

            load_plugins()
        self.app = create_app(config)
        self.service = self.app.state.service
        self.id = _replica_id()

    async def load_voice(self, voice: str) -> _LoadedVoice:  # the multiplexed loader (see replica_class)
        return await self._load_voice(voice)

    async def _load_voice(self, voice: str) -> _LoadedVoice:
        """Load ``voice`` into the pool (unpinned: the pool's byte budget still governs it)."""
        lease = await self.service.lease(voice)
        lease.release()
        return _LoadedVoice(self.service, voice)

    async def handle(self, scope: dict[str, Any], body: bytes) -> Any:
        """Serve one relayed HTTP request; yields its ASGI messages."""
        voice = serve.get_multiplexed_model_id()
        if voice and voice in self.service.catalog.names():
            try:
                await self.load_voice(voice)
            except Exception as err:  # noqa: BLE001 - the app answers the request with the voice's error
                log.warning("voice %r did not load as a multiplexed model: %s", voice, err)
        async for message in relay(self.app, scope, body, [(REPLICA_HEADER, self.id.encode())]):
            yield message

    def report(self) -> dict[str, Any]:
        """This replica's state and Prometheus page (``GET /v1/replicas``, ``/metrics``)."""
        s = self.service
        return {"replica": self.id, "pid": os.getpid(), "voices_loaded": s.pool.loaded(),
                "active_streams": s.scheduler.active, "queue_depth": s.scheduler.queued,
                "open_streams": s.scheduler.open_count(), "idle": s.idle(),
                "metrics": s.metrics.render().decode("utf-8")}

    def __del__(self) -> None:
        service = getattr(self, "service", None)
        if service is not None:
            service.close()


def replica_class(voices_per_replica: int) -> type[VoiceReplica]:
    """VoiceReplica with its loader declared a multiplexed one on the class (Ray looks for
    it there when the application is deployed), keeping ``voices_per_replica`` voices."""

    class MultiplexedVoiceReplica(VoiceReplica):
        @serve.multiplexed(max_num_models_per_replica=voices_per_replica)
        async def load_voice(self, voice: str) -> _LoadedVoice:
            return await self._load_voice(voice)

    return MultiplexedVoiceReplica


class _LoadedVoice:
    """What Ray's multiplexing holds for a voice; dropping it unloads an idle voice."""

    def __init__(self, service: Any, name: str) -> None:
        self.service = service
        self.name = name

    def __del__(self) -> None:  # Ray calls it on eviction, the collector again later: once only
        name, self.name = self.name, ""
        if name:
            self.service.pool.discard(name)


class VoiceIngress:
    """The HTTP entry: reads the body, relays the request to a replica chosen by voice."""

    def __init__(self, replicas: DeploymentHandle, config: ServiceConfig) -> None:
        self.replicas = replicas
        self.config = config
        self.body_limit = config.max_input_chars * 4 + 65536  # as the service's own limit

    async def __call__(self, request: Request) -> Response:
        path, method = request.url.path, request.method
        if method == "GET" and path in ("/metrics", "/v1/replicas"):
            reports = await self.replicas.broadcast("report").results_async(timeout_s=30)
            if path == "/metrics":
                page = merge_metrics({r["replica"]: r["metrics"] for r in reports})
                return Response(page, media_type="text/plain; version=0.0.4; charset=utf-8")
            return JSONResponse({"object": "list", "data": [{k: v for k, v in r.items() if k != "metrics"}
                                                            for r in reports]})
        body = await _read_body(request.receive, self.body_limit, self.config.body_timeout_seconds)
        if isinstance(body, tuple):
            status, message = body
            return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "param": "input"}},
                                status_code=status or 499)
        voice = requested_voice(method, path, body, self.config.default_voice)
        stream = self.replicas.options(stream=True, multiplexed_model_id=voice or "").handle.remote(
            portable_scope(request.scope), body)
        try:
            start = await stream.__anext__()
        except BaseException:
            stream.cancel()
            raise
        return RelayedResponse(start, stream)


class RelayedResponse(Response):
    """Sends a replica's messages as they come; if sending ends early (the client left,
    the request was cancelled), the replica's call is cancelled and its synthesis stops."""

    def __init__(self, start: Message, stream: Any) -> None:
        super().__init__(None, status_code=start["status"])
        self.raw_headers = list(start.get("headers", []))
        self.start = start
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(self.start)
            async for message in self.stream:
                await send(message)
        finally:
            self.stream.cancel()  # no-op once the stream is complete


async def _read_body(receive: Receive, limit: int, timeout: float) -> bytes | tuple[int, str]:
    """The whole body, or (status, message) to answer instead (status 0: the client left)."""
    raw = bytearray()
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return 0, "the client went away"
                raw += message.get("body", b"")
                if len(raw) > limit:
                    return 413, f"the request body is larger than {limit} bytes"
                if not message.get("more_body", False):
                    return bytes(raw)
    except TimeoutError:
        return 408, f"the request body did not arrive within {timeout:g} s"


def replica_settings(config: ServiceConfig, opts: RayOptions) -> dict[str, Any]:
    """The ``VoiceReplica`` deployment options: Ray's limits from the service's slots and
    queue, and (with ``max_replicas``) autoscaling by the capacity model of docs/scale-out.md."""
    max_ongoing = opts.max_ongoing_requests or config.max_active_streams
    settings: dict[str, Any] = {
        "name": "VoiceReplica", "ray_actor_options": {"num_cpus": opts.replica_cpus},
        "max_ongoing_requests": max_ongoing,
        "max_queued_requests": opts.max_queued_requests or max(1, config.max_queue)}
    if opts.max_replicas > opts.replicas:
        # behind Ray a request holds its replica while it is computed: ongoing requests ~ busy
        # workers, so aim at 70 % of them
        target = opts.target_ongoing_requests or max(1.0, round(0.7 * config.workers, 2))
        settings["autoscaling_config"] = {
            "min_replicas": opts.replicas, "initial_replicas": opts.replicas, "max_replicas": opts.max_replicas,
            "target_ongoing_requests": min(target, max_ongoing), "upscale_delay_s": 5, "downscale_delay_s": 120}
    else:
        settings["num_replicas"] = opts.replicas
    return settings


def application(config: ServiceConfig, options: RayOptions | Mapping[str, Any] | None = None) -> Any:
    """The Serve application (pass it to ``serve.run``): replicas of the service behind
    the ingress."""
    opts = options if isinstance(options, RayOptions) else parse(RayOptions, dict(options or {}), "", owner="ray")
    # replicas run in other processes, in other directories: relative voice paths are made absolute here
    config = replace(config, voices_dirs=tuple(Path(d).resolve() for d in config.voices_dirs))
    settings = replica_settings(config, opts)
    replica = serve.deployment(replica_class(opts.voices_per_replica)).options(**settings)
    ingress = serve.deployment(VoiceIngress).options(
        name="VoiceIngress", num_replicas=opts.ingress_replicas, ray_actor_options={"num_cpus": opts.ingress_cpus},
        max_ongoing_requests=max(100, settings["max_ongoing_requests"] * max(opts.replicas, opts.max_replicas) * 2))
    return ingress.bind(replica.bind(config, opts.plugins), config)


def run(host: str = "127.0.0.1", port: int = 8000, config_path: str | os.PathLike[str] | None = None,
        ray_path: str | os.PathLike[str] | None = None) -> None:
    """``voicestack serve --ray``: start (or join) Ray, deploy, serve until interrupted."""
    import ray  # type: ignore[import-not-found]

    config = ServiceConfig.load(config_path)
    opts = RayOptions.load(ray_path)
    if not config_path or "workers" not in json.loads(Path(config_path).read_text(encoding="utf-8")):
        config = replace(config, workers=max(1, math.ceil(opts.replica_cpus)))  # a replica's share, not the node's
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    previous = signal.getsignal(signal.SIGTERM)
    ray.init(address=opts.address, include_dashboard=False)
    # Ray's native crash handler takes SIGTERM (it aborts, orphaning Ray's agents): give it
    # back to the command, whose handler unwinds through the shutdown below
    signal.signal(signal.SIGTERM, previous if callable(previous) else _interrupt)
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(application(config, opts), name=APP_NAME, route_prefix="/")
        log.info("voicestack on Ray Serve: http://%s:%d (%d replica(s)); Ctrl-C stops", host, port, opts.replicas)
        while True:
            time.sleep(3600)
    finally:
        serve.shutdown()
        ray.shutdown()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
