"""The Wyoming transport (``voicestack serve --wyoming tcp://HOST:PORT``): Home
Assistant's protocol for voice services, over the service core.

Events in and out are the ``wyoming`` package's (JSON header line, optional data and
payload)::

    -> describe                      <- info (every voice, its languages and speakers)
    -> synthesize {text, voice}      <- audio-start, audio-chunk ... (as produced), audio-stop
    -> synthesize-start {voice}
    -> synthesize-chunk {text} ...   <- audio-start, audio-chunk ... (from the first sentence end on)
    -> synthesize-stop               <- ... audio-chunk, audio-stop, synthesize-stopped
    <- error {text, code}            a bad request (the connection goes on) or a failure

A ``synthesize`` that arrives inside a synthesize-start ... stop stream is ignored (Home
Assistant sends one for servers that do not stream). A client that goes away stops the
synthesis at once; a client that takes no audio for ``write_stall_seconds`` is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_write_event
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from voicestack.audio import to_pcm16
from voicestack.service.core import (
    ClientGone,
    SentenceBuffer,
    Service,
    ServiceError,
    Synthesis,
    SynthesisParams,
    bad,
    until_gone,
)
from voicestack.service.core.errors import too_large
from voicestack.service.wyoming_voices import describe, select

log = logging.getLogger("voicestack.service")
LINE_LIMIT = 64 * 1024  # an event's header line, at most
PAYLOAD_LIMIT = 1 << 20  # a TTS server takes no audio; a payload is read and dropped, up to this size
QUEUE_LIMIT = 256  # events read ahead of the one being answered


class BadFrame(Exception):
    """The byte stream is not Wyoming events (the connection cannot go on)."""


class _Gone(Exception):
    """The client went away or stopped reading."""


async def read_event(reader: asyncio.StreamReader, data_limit: int) -> Event | None:
    """The next event, or None at the end of the stream.

    Written here rather than taken from ``wyoming.event.async_read_event`` because that
    one reads whatever ``data_length`` and ``payload_length`` a client announces; this
    one refuses lengths over the limits before reading a byte of them.
    """
    try:
        line = await reader.readline()
    except ValueError:  # longer than the reader's limit
        raise BadFrame(f"an event header is longer than {LINE_LIMIT} bytes") from None
    if not line:
        return None
    try:
        header = json.loads(line)
    except ValueError as err:
        raise BadFrame(f"an event header is not JSON: {err}") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise BadFrame("an event header must be a JSON object with a string 'type'")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise BadFrame(f"event {header['type'][:40]!r}: 'data' must be an object")
    lengths = []
    for key, limit in (("data_length", data_limit), ("payload_length", PAYLOAD_LIMIT)):
        n = header.get(key) or 0
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= limit:
            raise BadFrame(f"event {header['type'][:40]!r}: {key} must be a whole number 0-{limit}, got {n!r}")
        lengths.append(n)
    try:
        if lengths[0]:
            extra = json.loads(await reader.readexactly(lengths[0]))
            if not isinstance(extra, dict):
                raise BadFrame(f"event {header['type'][:40]!r}: its data must be a JSON object")
            data = {**data, **extra}
        payload = await reader.readexactly(lengths[1]) if lengths[1] else None
    except asyncio.IncompleteReadError:
        return None
    except ValueError as err:
        raise BadFrame(f"event {header['type'][:40]!r}: its data is not JSON: {err}") from None
    return Event(type=header["type"], data=data, payload=payload)


class Connection:
    """One client: events are read as they come; requests are answered in order."""

    def __init__(self, service: Service, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.service = service
        self.reader = reader
        self.writer = writer
        self.stall = service.config.write_stall_seconds
        # bounded: a client that sends faster than it is answered waits (TCP backpressure)
        self.events: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_LIMIT)
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.stream: Stream | None = None  # a synthesize-start ... stop in progress

    # -- reading (its own task, so a client that leaves is noticed while it is spoken to) --
    async def read(self) -> None:
        cfg = self.service.config
        limit = max(cfg.max_input_chars, cfg.max_stream_chars) * 4 + 65536
        try:
            while (event := await read_event(self.reader, limit)) is not None:
                await self.events.put(event)
        except BadFrame as err:
            self.service.metrics.errors.labels("bad_request").inc()
            with contextlib.suppress(_Gone):
                await self.send(Error(text=str(err), code="bad_frame").event())
        except (ConnectionError, OSError):
            pass
        finally:
            if not self.gone.done():
                self.gone.set_result(None)
            with contextlib.suppress(asyncio.QueueFull):  # full: the answering side stops at `gone`
                self.events.put_nowait(None)

    async def send(self, event: Event) -> None:
        if self.writer.is_closing():
            raise _Gone()
        try:
            await asyncio.wait_for(async_write_event(event, self.writer), self.stall)
        except TimeoutError:
            log.warning("a Wyoming client took nothing for %g s; closing it", self.stall)
            self.service.metrics.errors.labels("stalled").inc()
            self.writer.transport.abort()
            raise _Gone() from None
        except (ConnectionError, OSError):
            raise _Gone() from None

    async def error(self, err: ServiceError) -> None:
        if err.status < 500 and err.kind != "overloaded":
            self.service.metrics.errors.labels("bad_request").inc()
        await self.send(Error(text=err.message, code=err.kind).event())

    async def run(self) -> None:
        reading = asyncio.create_task(self.read())
        try:
            while (event := await until_gone(self.events.get(), self.gone)) is not None:
                try:
                    await self.handle(event)
                except ServiceError as err:
                    await self.error(err)
        except (_Gone, ClientGone):
            pass
        finally:
            if self.stream is not None:
                await self.stream.cancel()
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading
            self.writer.close()

    async def handle(self, event: Event) -> None:
        if Describe.is_type(event.type):
            await self.send((await describe(self.service)).event())
        elif Ping.is_type(event.type):
            await self.send(Pong(text=event.data.get("text")).event())
        elif Synthesize.is_type(event.type):
            if self.stream is None:  # inside a stream it is the fallback copy of the streamed text
                await self.synthesize(event.data)
        elif SynthesizeStart.is_type(event.type):
            if self.stream is not None:
                raise bad("synthesize-start", "synthesize-start: a stream is already open; end it with synthesize-stop")
            self.stream = Stream(self, await select(self.service, event.data, "synthesize-start"))
        elif SynthesizeChunk.is_type(event.type):
            if self.stream is None:
                raise bad("synthesize-chunk", "synthesize-chunk: no stream is open; send synthesize-start first")
            text = event.data.get("text")
            if not isinstance(text, str):
                raise bad("text", "synthesize-chunk.text: expected a string")
            self.stream.add(text)
        elif SynthesizeStop.is_type(event.type):
            if self.stream is None:
                raise bad("synthesize-stop", "synthesize-stop: no stream is open; send synthesize-start first")
            try:
                await self.stream.stop()
            finally:
                stream, self.stream = self.stream, None
                await stream.cancel()  # a no-op once it has spoken everything
        # any other event is not for a TTS server: dropped, as the protocol asks

    async def synthesize(self, data: dict[str, Any]) -> None:
        arrived = time.monotonic()
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad("text", "synthesize.text: expected the text to speak (a non-empty string)")
        limit = self.service.config.max_input_chars
        if len(text) > limit:
            raise too_large("text", f"synthesize.text: {len(text)} characters; the limit is {limit} (max_input_chars)")
        params = await select(self.service, data, "synthesize")
        out = Audio(self, params.voice)
        await out.speak(params, text, arrived)
        await out.end()

    async def speak(self, synthesis: Synthesis, audio: Audio) -> float:
        """Send ``synthesis``'s chunks as they come; finish it on every path. Returns its seconds."""
        seconds = 0.0
        try:
            chunk = await synthesis.first(self.gone)
            while chunk is not None:
                await audio.chunk(to_pcm16(chunk.audio), synthesis.sample_rate)
                seconds += chunk.duration
                chunk = await until_gone(synthesis.next(), self.gone)
            synthesis.finish("ok")
        except (ClientGone, _Gone):
            synthesis.finish("cancelled")
            raise
        except ServiceError as err:
            if synthesis.outcome is None:  # first() has finished (and logged) its own failures
                synthesis.failed(err)
            raise
        except Exception as err:  # noqa: BLE001 - the voice failed mid-stream; the client is told
            synthesis.failed(err)
            raise ServiceError(500, f"synthesis failed in voice {synthesis.name!r}; see the server log", "voice",
                               "synthesis_error") from None
        finally:
            synthesis.finish("cancelled")  # a backstop: a no-op if it finished
        return seconds


class Audio:
    """One audio-start ... audio-stop run (one per synthesize, one per stream)."""

    def __init__(self, conn: Connection, voice: str) -> None:
        self.conn = conn
        self.voice = voice
        self.started = False
        self.audio_seconds = 0.0
        self.compute_seconds = 0.0

    async def begin(self, rate: int) -> None:
        if not self.started:
            self.started = True
            await self.conn.send(AudioStart(rate=rate, width=2, channels=1).event())

    async def chunk(self, pcm: bytes, rate: int) -> None:
        await self.begin(rate)
        await self.conn.send(AudioChunk(rate=rate, width=2, channels=1, audio=pcm).event())

    async def speak(self, params: SynthesisParams, text: str, arrived: float) -> None:
        service = self.conn.service
        budget = service.budget(self.audio_seconds, self.compute_seconds)
        synthesis = await service.start(params, text, arrived, "wyoming", self.conn.gone, budget)
        try:
            self.audio_seconds += await self.conn.speak(synthesis, self)
        finally:
            self.compute_seconds += synthesis.stream.compute

    async def end(self) -> None:
        """audio-stop (after an audio-start: sent now, at the voice's rate, if no audio came)."""
        if not self.started:
            catalog = self.conn.service.catalog
            info = await asyncio.get_running_loop().run_in_executor(None, catalog.info, self.voice)
            rate = info.get("sample_rate")
            await self.begin(rate if isinstance(rate, int) and rate > 0 else 22050)
        await self.conn.send(AudioStop().event())


class Stream:
    """A synthesize-start ... synthesize-stop stream: text arrives in pieces and is cut into
    sentences at once; its own task speaks each sentence as soon as it is complete, so
    the connection goes on reading text meanwhile.

    A failure (over budget, overloaded, the voice failing) is an ``error`` event; the
    sentences after it are not spoken, and synthesize-stop still ends the stream with
    audio-stop and synthesize-stopped.
    """

    def __init__(self, conn: Connection, params: SynthesisParams) -> None:
        self.conn = conn
        self.params = params
        self.buffer = SentenceBuffer()
        self.audio = Audio(conn, params.voice)
        self.chars = 0
        self.failed = False
        self.sentences: asyncio.Queue[tuple[str, float] | None] = asyncio.Queue()  # bounded by max_stream_chars
        self.speaker = asyncio.create_task(self.speak())

    def add(self, text: str) -> None:
        arrived = time.monotonic()
        self.chars += len(text)
        limit = self.conn.service.config.max_stream_chars
        if self.chars > limit:
            raise too_large("text", f"synthesize-chunk.text: more than {limit} characters in one stream "
                                    "(max_stream_chars)")
        for sentence in self.buffer.add(text):
            self.sentences.put_nowait((sentence, arrived))

    async def speak(self) -> None:
        index = 0
        try:
            while (item := await self.sentences.get()) is not None:
                if self.failed:
                    continue
                text, arrived = item
                try:
                    await self.audio.speak(self.params.with_seed_offset(index), text, arrived)
                except ServiceError as err:
                    if not (err.status == 400 and err.param == "input"):  # else nothing to say ("..."): skipped
                        self.failed = True
                        await self.conn.error(err)
                index += 1
        except (_Gone, ClientGone):
            if not self.conn.gone.done():
                self.conn.gone.set_result(None)

    async def stop(self) -> None:
        arrived = time.monotonic()
        for sentence in self.buffer.flush():
            self.sentences.put_nowait((sentence, arrived))
        self.sentences.put_nowait(None)
        await until_gone(asyncio.shield(self.speaker), self.conn.gone)
        await self.audio.end()
        await self.conn.send(SynthesizeStopped().event())

    async def cancel(self) -> None:
        self.speaker.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.speaker


class WyomingListener:
    """A TCP listener; each connection is a :class:`Connection` task, ended by :meth:`stop`."""

    def __init__(self, service: Service, host: str, port: int) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.server: asyncio.base_events.Server | None = None
        self.connections: set[asyncio.Task[None]] = set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        try:
            await Connection(self.service, reader, writer).run()
        except Exception as err:
            log.error("a Wyoming connection failed: %r", err, exc_info=err)
            writer.close()
        finally:
            self.connections.discard(task)

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, self.host, self.port, limit=LINE_LIMIT)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.connections):
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()
