"""Synthesis off the event loop: a fixed set of worker threads advancing many streams,
one bounded step at a time, earliest deadline first.

* **Admission.** At most ``max_active`` streams hold a slot; up to ``max_queue`` more
  wait for one in arrival order; beyond that :class:`Overloaded` (503 + Retry-After).
  A waiter that is cancelled (its client left) leaves the line at once.
* **Deadlines.** A stream's deadline is when its listener's buffer would run dry:
  playback start + audio produced so far (a stream with no audio yet: its arrival plus
  ``FIRST_AUDIO_TARGET``). A worker that becomes free takes, among the streams ready
  for a step, the one with the earliest deadline *now* (not when it was queued).
* **Bounded steps.** A step pulls one chunk from the stream's lazy generator; blocks
  stay the same, the scheduler only decides how far to pull. Before each pull it sets
  the request's ``window_limit``: the first chunk always uses the smallest windows, and
  later ones grow only as far as the stream's lead over real time (and the
  ``max_job_seconds`` bound on any step) allows, steered by the CPU time its last step
  took, but never below half that bound (small windows recompute their context
  frames: a stream that fell behind would fall further). Limits come in steps (1, 1.5,
  2, 3, 4, 6, ...) so streams at a like pace ask for equal windows, which a batching
  profile runs as one call. One worker is never busy for seconds while others wait.
* **Back-pressure.** A stream computes at most ``max_ahead`` seconds of audio beyond
  what its consumer has taken; a client that stops reading stops costing compute.
* **Budgets.** A stream that exceeds its audio or compute budget ends with a
  :class:`~voicestack.service.core.errors.ServiceError` (413).
* **Cancel.** :meth:`ChunkStream.close` sets the request's cancel event (blocks stop at
  their next check), drops what was computed ahead, and closes the generator on a
  worker; nothing more is computed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from voicestack.blocks import Request
from voicestack.service.core.errors import ServiceError
from voicestack.service.core.metrics import ServiceMetrics
from voicestack.voice import AudioChunk

log = logging.getLogger("voicestack.service")

FIRST_AUDIO_TARGET = 0.1  # seconds: a new stream's deadline after its arrival
LEAD_SHARE = 0.5  # a step may use at most this share of its stream's lead over real time
MIN_JOB_SHARE = 0.5  # ... but after its first chunk, at least this share of max_job
MAX_LIMIT = 4096.0  # window limits stop doubling here (far beyond any decoder's max_window)


def quantized(limit: float) -> float:
    """``limit`` rounded down to 1, 1.5, 2, 3, 4, 6, 8, ... (at most a third lost): streams
    at a like pace then ask for windows of the same sizes, which a batching profile can
    run as one call (runtime.batching batches only equal shapes)."""
    if limit < 1.5:
        return 1.0
    power = 2.0 ** math.floor(math.log2(limit))
    return power * 1.5 if limit >= power * 1.5 else power


class Overloaded(Exception):
    """Every slot is taken and the waiting line is full."""


@dataclass(frozen=True)
class Budget:
    """What one stream may use: audio seconds produced, worker seconds of compute."""

    audio_seconds: float = float("inf")
    compute_seconds: float = float("inf")


class ChunkStream:
    """One synthesis advanced by the scheduler's workers; consumed with ``await next()``.

    Scheduling fields are guarded by the scheduler's condition lock.
    """

    def __init__(self, scheduler: Scheduler, chunks: Iterator[AudioChunk], request: Request,
                 loop: asyncio.AbstractEventLoop, arrived: float, budget: Budget) -> None:
        self.scheduler = scheduler
        self._gen = chunks
        self.request = request
        self.cancel_event = request.cancel
        self._loop = loop
        self.arrived = arrived
        self.budget = budget
        self.started = time.monotonic()
        self.queue: deque[AudioChunk] = deque()
        self.final: tuple[str, Any] | None = None  # ("end", None) or ("error", exception)
        self.busy = False  # a worker is running a step of it
        self.cancelled = False
        self.closed = False  # the generator is closed: nothing of it remains
        self.produced = 0.0  # audio seconds computed
        self.taken = 0.0  # audio seconds handed to the consumer
        self.play_start: float | None = None  # when the consumer took the first chunk (shifted by underruns)
        self.first_ready: float | None = None
        self.compute = 0.0  # worker seconds spent on it
        self.last_cpu = 0.0  # CPU time of its last step
        self.limit = 1.0  # its window limit, steered by what its steps cost
        self.chunks = 0
        self.max_underrun = 0.0  # the longest time its listener's buffer ran dry after playback started
        self.chunks_at_cancel: int | None = None
        self.chunks_after_cancel = 0
        self._waiter: asyncio.Future[None] | None = None

    @property
    def audio_seconds(self) -> float:
        return self.produced

    # -- scheduling (under the scheduler's lock) ----------------------------------------
    def deadline(self) -> float:
        if self.cancelled:
            return float("-inf")
        if self.chunks == 0:
            return self.arrived + FIRST_AUDIO_TARGET
        start = self.play_start if self.play_start is not None else self.first_ready
        assert start is not None
        return start + self.produced

    def ready(self) -> bool:
        if self.busy or self.closed:
            return False
        if self.cancelled:
            return True  # needs its close step
        return self.final is None and self.produced - self.taken < self.scheduler.max_ahead

    def window_limit(self, now: float) -> float:
        if self.chunks == 0:
            return 1.0
        lead = max(0.0, self.deadline() - now)
        # A stream short of lead gets smaller steps (its next audio sooner), but never
        # below half the step bound: small windows cost their context frames again and
        # again, and under load that lost compute would make every stream run dry.
        job = self.scheduler.max_job
        budget = min(job, max(lead * LEAD_SHARE, job * MIN_JOB_SHARE))
        # Steered by what its last step cost (CPU time of the worker thread, so other load
        # on the machine does not shrink it): scaled by budget / cost, at most doubled or
        # halved at a time, so a step's cost settles at the budget. An average cost per
        # audio second would keep windows small: small windows are the expensive ones.
        factor = min(2.0, max(0.5, budget / max(self.last_cpu, 1e-6)))
        self.limit = min(MAX_LIMIT, max(1.0, self.limit * factor))
        return quantized(self.limit)

    # -- event loop side ----------------------------------------------------------------
    async def next(self) -> AudioChunk | None:
        """The next chunk, or None at the end (or after close). Raises what the synthesis raised."""
        cond = self.scheduler.cond
        while True:
            with cond:
                if self.queue:
                    chunk = self.queue.popleft()
                    self._took(chunk)
                    cond.notify()  # it may be ready for another step now
                    return chunk
                if self.cancelled:
                    return None
                if self.final is not None:
                    kind, value = self.final
                    if kind == "error":
                        self.final = ("end", None)  # raised once
                        raise value
                    return None
                waiter = self._waiter = self._loop.create_future()
            await waiter

    def _took(self, chunk: AudioChunk) -> None:
        now = time.monotonic()
        if self.play_start is None:
            self.play_start = now
        else:
            dry = now - (self.play_start + self.taken)
            if dry > 0:  # the listener heard silence for `dry` seconds; playback resumes now
                self.max_underrun = max(self.max_underrun, dry)
                self.play_start += dry
        self.taken += chunk.duration

    def close(self) -> None:
        """Stop: nothing more is computed; the generator is closed on a worker. Idempotent."""
        self.cancel_event.set()
        with self.scheduler.cond:
            if self.cancelled:
                return
            self.cancelled = True
            if self.final is None:
                self.chunks_at_cancel = self.chunks
            self.queue.clear()
            waiter, self._waiter = self._waiter, None
            self.scheduler.cond.notify()
        if waiter is not None:
            _wake(waiter)

    # -- worker side ----------------------------------------------------------------------
    def step(self) -> None:
        """One bounded step (the worker holds ``busy``): a chunk, the end, or the close."""
        if self.cancelled:
            self._close_generator()
            return
        self.request.window_limit = self.window_limit(time.monotonic())
        started, cpu_started = time.perf_counter(), time.thread_time()
        result: tuple[str, Any]
        try:
            chunk = next(self._gen)
            result = ("chunk", chunk)
        except StopIteration:
            result = ("end", None)
        except BaseException as err:  # noqa: BLE001 - delivered to the consumer, which decides
            result = ("error", err)
        elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
        if result[0] == "chunk":
            over = self._over_budget(elapsed, result[1])
            if over is not None:
                result = ("error", over)
        with self.scheduler.cond:
            self.compute += elapsed
            self.last_cpu = cpu
            if result[0] == "chunk":
                chunk = result[1]
                self.chunks += 1
                self.produced += chunk.duration
                if self.first_ready is None:
                    self.first_ready = time.monotonic()
                if self.cancelled:
                    self.chunks_after_cancel += 1
                else:
                    self.queue.append(chunk)
            else:
                self.final = result
            waiter, self._waiter = self._waiter, None
        if result[0] != "chunk":
            self._close_generator()
        if waiter is not None:
            _wake(waiter)

    def _over_budget(self, elapsed: float, chunk: AudioChunk) -> ServiceError | None:
        if self.produced + chunk.duration > self.budget.audio_seconds:
            return ServiceError(413, f"input: the text makes more than {self.budget.audio_seconds:g} s of audio "
                                     "(max_audio_seconds)", "input", "request_too_large")
        if self.compute + elapsed > self.budget.compute_seconds:
            return ServiceError(413, f"input: the text needs more than {self.budget.compute_seconds:g} s of "
                                     "synthesis compute (max_compute_seconds)", "input", "request_too_large")
        return None

    def _close_generator(self) -> None:
        try:
            close = getattr(self._gen, "close", None)
            if close is not None:
                close()
        except Exception:  # noqa: BLE001 - a block's cleanup failed; nothing to tell the client
            log.exception("closing a synthesis stream failed")
        finally:
            with self.scheduler.cond:
                self.closed = True
                self.scheduler._forget(self)


def _wake(waiter: asyncio.Future[None]) -> None:
    try:
        waiter.get_loop().call_soon_threadsafe(_set, waiter)
    except RuntimeError:  # the loop is closed (shutdown): nobody waits any more
        pass


def _set(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Scheduler:
    def __init__(self, workers: int, max_active: int, max_queue: int, metrics: ServiceMetrics | None = None,
                 max_ahead: float = 10.0, max_job: float = 0.12) -> None:
        self.workers = workers
        self.max_active = max_active
        self.max_queue = max_queue
        self.max_ahead = max_ahead
        self.max_job = max_job
        self.metrics = metrics or ServiceMetrics()
        self.cond = threading.Condition()
        self.streams: list[ChunkStream] = []  # open (not yet closed) streams
        self._stopping = False
        self.active = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._threads = [threading.Thread(target=self._work, name=f"voicestack-synth-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()

    # -- admission (event loop only) ------------------------------------------------------
    async def acquire_slot(self) -> None:
        if self.active < self.max_active and not self._waiting:
            self.active += 1
            self._publish()
            return
        if len(self._waiting) >= self.max_queue:
            raise Overloaded()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(fut)
        self._publish()
        try:
            await fut  # release_slot hands its slot over by resolving this
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release_slot()  # granted just as we were cancelled: pass it on
            else:
                self._waiting.remove(fut)
                self._publish()
            raise

    def release_slot(self) -> None:
        while self._waiting:
            fut = self._waiting.popleft()
            if not fut.done():
                fut.set_result(None)
                self._publish()
                return
        self.active -= 1
        self._publish()

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def _publish(self) -> None:
        self.metrics.active_streams.set(self.active)
        self.metrics.queue_depth.set(len(self._waiting))

    # -- work -----------------------------------------------------------------------------
    def open(self, chunks: Iterator[AudioChunk], request: Request, arrived: float | None = None,
             budget: Budget | None = None) -> ChunkStream:
        stream = ChunkStream(self, chunks, request, asyncio.get_running_loop(),
                             time.monotonic() if arrived is None else arrived, budget or Budget())
        with self.cond:
            self.streams.append(stream)
            self.metrics.open_streams.set(len(self.streams))
            self.cond.notify()
        return stream

    def open_count(self) -> int:
        with self.cond:
            return len(self.streams)

    def _forget(self, stream: ChunkStream) -> None:  # under the lock
        if stream in self.streams:
            self.streams.remove(stream)
        self.metrics.open_streams.set(len(self.streams))

    def _take(self) -> ChunkStream | None:  # under the lock
        best: ChunkStream | None = None
        best_deadline = float("inf")
        ready = 0
        for s in self.streams:
            if s.ready():
                ready += 1
                d = s.deadline()
                if best is None or d < best_deadline:
                    best, best_deadline = s, d
        self.metrics.pending_pulls.set(max(0, ready - 1) if best is not None else 0)
        return best

    def _work(self) -> None:
        while True:
            with self.cond:
                while True:
                    if self._stopping:
                        return
                    stream = self._take()
                    if stream is not None:
                        stream.busy = True
                        break
                    self.cond.wait()
            try:
                stream.step()
            except BaseException:  # pragma: no cover - step() delivers every error itself
                log.exception("a synthesis step failed")
            finally:
                with self.cond:
                    stream.busy = False
                    self.cond.notify_all()

    def shutdown(self) -> None:
        with self.cond:
            streams = list(self.streams)
        for s in streams:
            s.close()
        deadline = time.monotonic() + 5
        with self.cond:
            while self.streams and time.monotonic() < deadline:
                self.cond.wait(0.05)
            self._stopping = True
            self.cond.notify_all()
