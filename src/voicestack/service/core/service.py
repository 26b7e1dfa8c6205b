"""The synthesis lifecycle every transport shares: admission -> slot -> lease -> stream
-> release, with no wire protocol in it.

A transport parses its input into :class:`~voicestack.service.core.requests.SynthesisParams`
and text, calls :meth:`Service.start`, pulls chunks with :meth:`Synthesis.next` and
ends with :meth:`Synthesis.finish` on *every* path (it is idempotent; the transport's
``finally`` calls it with ``"cancelled"`` as a backstop). ``gone`` -- a future the
transport resolves when its client goes away -- makes every wait before the first
chunk give up at once (:class:`ClientGone`), so a client that leaves the queue frees
its place.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from voicestack.blocks import Request
from voicestack.codecs import ENCODERS
from voicestack.errors import RequestError
from voicestack.service.core.config import ServiceConfig
from voicestack.service.core.errors import ClientGone, ServiceError, bad
from voicestack.service.core.metrics import ServiceMetrics
from voicestack.service.core.pool import Lease, UnknownVoice, VoiceCatalog, VoiceLoadError, VoicePool
from voicestack.service.core.requests import SynthesisParams
from voicestack.service.core.scheduler import Budget, ChunkStream, Overloaded, Scheduler
from voicestack.text.ssml import looks_like_ssml
from voicestack.voice import AudioChunk, Voice

log = logging.getLogger("voicestack.service")
T = TypeVar("T")

# a voice's own error fields -> the request field the client sent
FIELD_NAMES = {"text": "input", "length_scale": "speed", "speaker": "voice"}
OPENAI_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
STREAMING_FORMATS = tuple(f for f in OPENAI_FORMATS if f in ENCODERS)  # each streams as produced (codecs)
_ids = itertools.count(1)


def request_error(err: RequestError) -> ServiceError:
    """A voice's RequestError as a 400 naming the request field the client sent."""
    field = FIELD_NAMES.get(err.field, err.field)
    return bad(field, str(err) if field == err.field else f"{field}: {err}")


async def until_gone(work: Awaitable[T], gone: asyncio.Future[None] | None,
                     undo: Callable[[T], None] | None = None) -> T:
    """``await work``, unless ``gone`` resolves first: then cancel it and raise ClientGone.

    ``undo`` gives back what ``work`` obtained if it completed in the same instant.
    """
    task = asyncio.ensure_future(work)
    if gone is None:
        return await task
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task.done():
        return task.result()
    task.cancel()
    try:
        late = await task
    except (asyncio.CancelledError, Exception):  # noqa: BLE001 - the client left; nothing to report
        pass
    else:
        if undo is not None:
            undo(late)
    raise ClientGone()


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
        self.outcome: str | None = None  # ok, cancelled, error, bad_request, budget, stalled
        self.switched = Switched(service.pool)  # voices an SSML document switches to, pinned until the end

    @property
    def chunks(self) -> int:
        return self.stream.chunks

    @property
    def sample_rate(self) -> int:
        return int(self.voice.sample_rate)

    async def next(self) -> AudioChunk | None:
        """The next chunk (None at the end). Raises ServiceError for a bad request or a
        budget overrun; anything else is the voice failing."""
        try:
            chunk = await self.stream.next()
        except RequestError as err:
            raise request_error(err) from None
        if chunk is not None:
            m = self.service.metrics
            m.chunks.labels(self.name).inc()
            m.audio_seconds.labels(self.name).inc(chunk.duration)
            if self.first_audio is None:
                self.first_audio = time.monotonic() - self.arrived
                m.first_audio.labels(self.name).observe(self.first_audio)
        return chunk

    async def first(self, gone: asyncio.Future[None] | None = None) -> AudioChunk | None:
        """The first chunk, as a ServiceError if it fails (the transport still can answer
        with an error). The synthesis is finished on every failure here."""
        try:
            return await until_gone(self.next(), gone)
        except (asyncio.CancelledError, ClientGone):
            self.finish("cancelled")
            raise
        except ServiceError as err:
            self.finish("budget" if err.status == 413 else "bad_request")
            raise
        except Exception as err:
            log.error("voice %r failed before its first chunk: %r", self.name, err, exc_info=err)
            self.finish("error")
            raise ServiceError(500, f"synthesis failed in voice {self.name!r}; see the server log", "voice",
                               "synthesis_error") from None

    def failed(self, err: BaseException) -> str:
        """Finish after ``err`` mid-stream; returns the outcome (logged and counted)."""
        if isinstance(err, ServiceError):
            outcome = "budget" if err.status == 413 else "bad_request"
            log.warning("voice %r stream ended early: %s", self.name, err.message)
        else:
            outcome = "error"
            log.error("voice %r failed mid-stream after %d chunks: %r", self.name, self.chunks, err, exc_info=err)
        self.finish(outcome)
        return outcome

    def finish(self, outcome: str) -> None:
        if self.outcome is not None:
            return
        self.outcome = outcome
        try:
            self.stream.close()
        finally:
            self.lease.release()
            self.switched.close()
            self.service.scheduler.release_slot()
        m = self.service.metrics
        for event in self.request.events:
            if event.get("event") == "end" and "status" in event:
                m.utterance_ends.labels(self.name, str(event.get("block", "")), str(event["status"])).inc()
            elif event.get("event") in ("fallback", "unreadable_text"):
                m.voice_events.labels(self.name, str(event["event"])).inc()
        if self.stream.max_underrun > 0:
            m.underrun.labels(self.name).observe(self.stream.max_underrun)
        if outcome == "ok" and self.stream.produced > 0:
            m.rtf.labels(self.name).observe((time.monotonic() - self.stream.started) / self.stream.produced)
        elif outcome == "cancelled":
            m.cancelled.inc()
        elif outcome == "error":
            m.errors.labels("synthesis").inc()
        elif outcome in ("budget", "stalled"):
            m.errors.labels(outcome).inc()


class Service:
    """Everything one process shares: config, voices, workers, metrics."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.metrics = ServiceMetrics()
        self.catalog = VoiceCatalog(config.dirs, config.builtins)
        self.pool = VoicePool(self.catalog, config.memory_budget_bytes, config.voices, self.metrics,
                              threads=config.threads_per_run)
        self.scheduler = Scheduler(config.workers, config.max_active_streams, config.max_queue, self.metrics,
                                   max_ahead=config.max_ahead_seconds, max_job=config.max_job_seconds)
        self.formats = STREAMING_FORMATS
        self.recent: deque[Synthesis] = deque(maxlen=128)  # last syntheses (for tests and debugging)

    def close(self) -> None:
        self.scheduler.shutdown()

    def budget(self, audio_used: float = 0.0, compute_used: float = 0.0) -> Budget:
        return Budget(self.config.max_audio_seconds - audio_used, self.config.max_compute_seconds - compute_used)

    def overloaded(self) -> ServiceError:
        self.metrics.errors.labels("overloaded").inc()
        return ServiceError(503, "the server is at capacity; retry shortly", None, "overloaded",
                            retry_after=self.config.retry_after_seconds)

    def voice_names(self) -> list[str]:
        return self.catalog.names()

    def check_voice(self, name: str) -> SynthesisParams:
        """``name`` resolved (see :meth:`resolve`); a 400 naming ``voice`` if it is none here."""
        return self.resolve(SynthesisParams(name))

    def resolve(self, params: SynthesisParams) -> SynthesisParams:
        """An alias (``voice_aliases``, OpenAI's names) and a ``VOICE/SPEAKER`` id become
        the voice's name and the speaker; an unknown voice is a 400 naming ``voice``.
        Speakers are checked against the voice once it is loaded (:meth:`start`)."""
        known = self.catalog.names()
        name, speaker = params.voice, params.speaker
        target = self.config.alias(name) if name not in known else None
        if target is not None:
            name = target
        if "/" in name and speaker is None:
            name, speaker = name.split("/", 1)
        if name not in known:
            via = f" (the alias {params.voice!r} stands for it in voice_aliases)" if target is not None else ""
            raise bad("voice", f"voice: unknown voice {name!r}{via}; available: {', '.join(known) or '(none)'}")
        if speaker is not None and not speaker:
            raise bad("voice", f"voice: {params.voice!r} names no speaker after '/'; expected VOICE/SPEAKER")
        return params if (name, speaker) == (params.voice, params.speaker) else \
            replace(params, voice=name, speaker=speaker)

    def idle(self) -> bool:
        """Nothing held: no slot, no waiter, no lease, no open generator (tests, health)."""
        return (self.scheduler.active == 0 and self.scheduler.queued == 0 and not self.pool.pinned()
                and self.scheduler.open_count() == 0)

    async def lease(self, name: str, gone: asyncio.Future[None] | None = None) -> Lease:
        """Pin (and if needed load) a voice on a helper thread; never leaks the lease."""
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, self.pool.acquire, name)
        try:
            return await until_gone(asyncio.shield(fut), gone)
        except (asyncio.CancelledError, ClientGone):
            fut.add_done_callback(_release_when_acquired)
            raise
        except UnknownVoice as err:
            raise bad("voice", f"voice: {err}") from None
        except VoiceLoadError as err:
            self.metrics.errors.labels("voice_load").inc()
            raise ServiceError(500, str(err), "voice", "voice_unavailable") from None

    async def start(self, params: SynthesisParams, text: str, arrived: float, kind: str,
                    gone: asyncio.Future[None] | None = None, budget: Budget | None = None) -> Synthesis:
        """Admit, pin the voice, and open a stream (nothing computed yet).

        Raises ServiceError (400 bad parameters, 503 overloaded, 500 voice unavailable) or
        ClientGone; whatever it raises, it holds nothing afterwards. ``params.voice`` may be
        an alias or ``VOICE/SPEAKER`` (see :meth:`resolve`).
        """
        params = self.resolve(params)
        try:
            await until_gone(self.scheduler.acquire_slot(), gone, undo=lambda _: self.scheduler.release_slot())
        except Overloaded:
            raise self.overloaded() from None
        lease: Lease | None = None
        try:
            lease = await self.lease(params.voice, gone)
            voice = lease.voice
            try:
                req = voice.request(speaker=params.speaker, **params.overrides(voice.defaults.get("length_scale")))
                req.word_timings = params.words
            except RequestError as err:
                raise request_error(err) from None
            name = params.voice
            block = self.metrics.block
            req.observer = lambda b, s: block.labels(name, b).observe(s)
            switched = Switched(self.pool)
            try:
                ssml = params.ssml if params.ssml is not None else looks_like_ssml(text)
                if ssml:
                    self._check_switches(text)
                chunks = voice.stream(text, request=req, ssml=ssml, voices=switched.acquire)
            except RequestError as err:
                raise request_error(err) from None
            stream = self.scheduler.open(chunks, req, arrived, budget or self.budget())
        except BaseException:
            if lease is not None:
                lease.release()
            self.scheduler.release_slot()
            raise
        synthesis = Synthesis(self, params.voice, lease, req, stream, arrived, kind)
        synthesis.switched = switched
        self.recent.append(synthesis)
        return synthesis


    def _check_switches(self, document: str) -> None:
        """Every voice an SSML document switches to must exist (a 400 before any audio)."""
        from voicestack.text.ssml import Segment, parse_ssml

        for item in parse_ssml(document):
            if isinstance(item, Segment) and item.voice is not None:
                try:
                    self.check_voice(item.voice)
                except ServiceError as err:
                    raise bad("input", f"input: SSML <voice name={item.voice!r}>: {err.message}") from None



class Switched:
    """The voices an SSML document switches to: loaded and pinned on the synthesis's
    thread, released when it finishes (a load that ends after that is released at once)."""

    def __init__(self, pool: VoicePool) -> None:
        self.pool = pool
        self.leases: list[Lease] = []
        self.closed = False
        self.lock = threading.Lock()

    def acquire(self, name: str) -> Voice:
        lease = self.pool.acquire(name)
        with self.lock:
            if not self.closed:
                self.leases.append(lease)
                return lease.voice
        lease.release()
        raise RequestError("voice", f"the synthesis ended while voice {name!r} was loading")

    def close(self) -> None:
        with self.lock:
            self.closed, leases, self.leases = True, self.leases, []
        for lease in leases:
            lease.release()


def _release_when_acquired(fut: asyncio.Future[Lease]) -> None:
    """A lease acquired after its request was cancelled goes straight back to the pool."""
    if not fut.cancelled() and fut.exception() is None:
        fut.result().release()
