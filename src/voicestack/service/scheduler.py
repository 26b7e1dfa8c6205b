"""Synthesis off the event loop: a fixed set of worker threads advancing many streams
chunk by chunk.

* **Admission.** At most ``max_active`` streams hold a slot; up to ``max_queue`` more
  wait for one in arrival order; beyond that :class:`Overloaded` (the app answers 503
  with Retry-After). Admission lives on the event loop.
* **Work.** A stream's next chunk is one job. Jobs wait in a priority queue ordered by
  each stream's *lead*: seconds of audio produced minus seconds since it started. A new
  stream (lead 0) or one falling behind real time goes before one that is ahead, so
  first audio comes quickly and running streams stay ahead of playback while the
  machine can keep up. ``workers`` threads take jobs; the event loop never computes.
* **Prefetch.** As soon as a chunk is handed to the event loop the next one is queued,
  so computing chunk n+1 overlaps sending chunk n.
* **Cancel.** :meth:`ChunkStream.close` sets the request's cancel event (the blocks
  stop at their next check, inside the current chunk at the latest) and closes the
  generator on a worker thread; no further chunk is computed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from voicestack.errors import SynthesisCancelled
from voicestack.service.metrics import ServiceMetrics
from voicestack.voice import AudioChunk

log = logging.getLogger("voicestack.service")


class Overloaded(Exception):
    """Every slot is taken and the waiting line is full."""


class ChunkStream:
    """One synthesis, advanced by the scheduler's workers; consumed with ``await next()``."""

    def __init__(self, scheduler: Scheduler, chunks: Iterator[AudioChunk], cancel: threading.Event,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.scheduler = scheduler
        self._gen = chunks
        self.cancel_event = cancel
        self._loop = loop
        self._lock = threading.Lock()
        self._busy = False  # a job for this stream is queued or running
        self._cancelled = False
        self._finished = False
        self._future: asyncio.Future[tuple[str, Any]] | None = None
        self.started = time.monotonic()
        self.audio_seconds = 0.0
        self.chunks = 0
        self.chunks_at_cancel: int | None = None  # chunks produced when close() was called
        self.chunks_after_cancel = 0  # chunks that finished computing after close() (at most one)

    # -- event loop side --------------------------------------------------------------------
    async def next(self) -> AudioChunk | None:
        """The next chunk, or None at the end. Raises what the synthesis raised."""
        if self._future is None:
            self._submit()
        assert self._future is not None
        kind, value = await self._future
        self._future = None
        if kind == "chunk":
            self._submit()  # prefetch: compute the next chunk while this one is sent
            return value  # type: ignore[no-any-return]
        if kind == "end":
            return None
        raise value

    def close(self) -> None:
        """Stop: no chunk is computed after the one in progress. Safe to call twice."""
        self.cancel_event.set()
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            self.chunks_at_cancel = self.chunks
            idle = not self._busy and not self._finished
            if idle:
                self._busy = True
        if idle:
            self.scheduler._push(self, urgent=True)

    @property
    def lead(self) -> float:
        return self.audio_seconds - (time.monotonic() - self.started)

    def _submit(self) -> None:
        with self._lock:
            if self._finished or self._cancelled:
                fut = self._loop.create_future()
                fut.set_result(("end", None))
                self._future = fut
                return
            self._busy = True
        self._future = self._loop.create_future()
        self.scheduler._push(self)

    # -- worker side ----------------------------------------------------------------------
    def _step(self) -> None:
        result: tuple[str, Any]
        try:
            if self._cancelled:
                raise SynthesisCancelled("synthesis cancelled by the consumer")
            chunk = next(self._gen)
            self.chunks += 1
            self.audio_seconds += chunk.duration
            result = ("chunk", chunk)
        except StopIteration:
            result = ("end", None)
        except BaseException as err:  # noqa: BLE001 - delivered to the consumer, which decides
            result = ("error", err)
        with self._lock:
            self._busy = False
            if result[0] == "chunk" and self._cancelled:
                self.chunks_after_cancel += 1
            done = result[0] != "chunk" or self._cancelled
            if done:
                self._finished = True
        if done:
            try:
                self._gen.close()  # type: ignore[attr-defined]
            except Exception:  # pragma: no cover - a block's cleanup failed; nothing to tell
                log.exception("closing a synthesis stream failed")
        fut = self._future
        if fut is not None:
            self._loop.call_soon_threadsafe(_deliver, fut, result)


def _deliver(fut: asyncio.Future[tuple[str, Any]], result: tuple[str, Any]) -> None:
    if not fut.done():
        fut.set_result(result)


class Scheduler:
    def __init__(self, workers: int, max_active: int, max_queue: int, metrics: ServiceMetrics | None = None) -> None:
        self.workers = workers
        self.max_active = max_active
        self.max_queue = max_queue
        self.metrics = metrics or ServiceMetrics()
        self._heap: list[tuple[float, int, ChunkStream | None]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._work, name=f"voicestack-synth-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()
        self.active = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

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

    def _publish(self) -> None:
        self.metrics.active_streams.set(self.active)
        self.metrics.queue_depth.set(len(self._waiting))

    # -- work -----------------------------------------------------------------------------
    def open(self, chunks: Iterator[AudioChunk], cancel: threading.Event) -> ChunkStream:
        return ChunkStream(self, chunks, cancel, asyncio.get_running_loop())

    def _push(self, stream: ChunkStream, urgent: bool = False) -> None:
        priority = float("-inf") if urgent else stream.lead
        with self._cond:
            heapq.heappush(self._heap, (priority, next(self._seq), stream))
            self.metrics.pending_pulls.set(len(self._heap))
            self._cond.notify()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                _, _, stream = heapq.heappop(self._heap)
                self.metrics.pending_pulls.set(len(self._heap))
            if stream is None:
                return
            stream._step()

    def shutdown(self) -> None:
        with self._cond:
            for _ in self._threads:
                heapq.heappush(self._heap, (float("inf"), next(self._seq), None))
            self._cond.notify_all()
