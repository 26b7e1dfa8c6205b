"""The WebSocket transport, ``WS /v1/audio/stream``: text arrives in pieces (an LLM's
tokens), audio leaves as soon as each sentence is ready, while later text still arrives.

Protocol (JSON text messages in; binary PCM frames and JSON events out)::

    connect with ?voice=joe&speed=1.0&seed=7&noise_scale=0.667&noise_w=0.8   (all optional;
                 voice may be an alias or VOICE/SPEAKER)
    <- {"type": "ready", "voice": "joe", "speaker": null, "sample_rate": 22050, "format": "pcm_s16le",
        "channels": 1}
       (sent at once; or an error event and close 1008 for a bad parameter or unknown voice)
    -> {"type": "start", "voice": "joe", "speed": 1.0, ...}   (optional, before any text: another ready)
    -> {"type": "text", "text": "Hello th"}   -> {"type": "text", "text": "ere. How"} ...
    <- {"type": "sentence", "index": 0, "text": "Hello there."}
    <- binary frames: 16-bit little-endian mono PCM at sample_rate
    <- {"type": "sentence_end", "index": 0, "audio_seconds": 0.93}
    <- {"type": "words", "index": 0, "words": [{"text": "Hello", "start": 0.05, "end": 0.31}, ...]}
       (with ?words=true or "words": true at the start: before the binary frame the words start
       in; seconds from the start of the connection's audio)
    -> {"type": "ssml", "text": "<speak>...</speak>"}   a whole SSML document, spoken after the text before it
    -> {"type": "flush"}                      speak what is buffered now, even without an end mark
    -> {"type": "end"}                        flush, finish speaking, then
    <- {"type": "done", "sentences": 3, "audio_seconds": 4.2}   and the server closes (1000)
    <- {"type": "error", "error": {"message": ..., "type": ..., "param": ...}}

Sentences are cut by :class:`~voicestack.service.core.sentences.SentenceBuffer` (linear
time, run off the event loop). A bad message gets an error event and the connection
goes on; a bad start (1008), overload (1013), the per-connection budget (1008) or a
synthesis failure (1011) ends it. If the client goes away, or takes no audio for
``write_stall_seconds``, the sentence being spoken stops.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from voicestack.audio import to_pcm16
from voicestack.errors import RequestError
from voicestack.service.core import Lease, SentenceBuffer, Service, ServiceError, SynthesisParams, bad, parse_json
from voicestack.service.core.requests import ClientMessage, client_message, query_values, start_params, stream_start
from voicestack.service.core.service import request_error
from voicestack.timing import Timing

log = logging.getLogger("voicestack.service")


class _Closed(Exception):
    """The conversation is over (the socket is closed or must be)."""


async def stream_socket(ws: WebSocket) -> None:
    service: Service = ws.app.state.service
    await ws.accept()
    conversation = Conversation(ws, service)
    try:
        await conversation.run()
    except (WebSocketDisconnect, _Closed):
        pass  # the client went away or the conversation ended; its synthesis is finished
    finally:
        conversation.release()


class Conversation:
    def __init__(self, ws: WebSocket, service: Service) -> None:
        self.ws = ws
        self.service = service
        self.stall = service.config.write_stall_seconds
        self.lease: Lease | None = None
        self.params: SynthesisParams | None = None
        self.total_chars = 0
        self.audio_seconds = 0.0
        self.compute_seconds = 0.0
        self.words = False  # word timing events asked for
        self.sentences: asyncio.Queue[tuple[Any, ...] | None] = asyncio.Queue()  # (text, arrived[, ssml])

    def release(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    # -- sending (each send bounded by the stall timeout) ------------------------------------
    async def _send(self, message: dict[str, Any] | bytes) -> None:
        if self.ws.application_state != WebSocketState.CONNECTED:
            raise _Closed()
        try:
            if isinstance(message, bytes):
                await asyncio.wait_for(self.ws.send_bytes(message), self.stall)
            else:
                await asyncio.wait_for(self.ws.send_text(json.dumps(message)), self.stall)
        except TimeoutError:
            log.warning("a WebSocket client took nothing for %g s; closing it", self.stall)
            self.service.metrics.errors.labels("stalled").inc()
            raise _Closed() from None
        except (OSError, RuntimeError):
            raise _Closed() from None

    async def error(self, err: ServiceError, close: int | None = None) -> None:
        if err.status < 500 and err.kind != "overloaded":
            self.service.metrics.errors.labels("bad_request").inc()
        await self._send({"type": "error", **err.body()})
        if close is not None:
            await self.close(close)

    async def close(self, code: int) -> None:
        if self.ws.application_state == WebSocketState.CONNECTED:
            try:
                await asyncio.wait_for(self.ws.close(code), self.stall)
            except (TimeoutError, OSError, RuntimeError):
                pass
        raise _Closed()

    # -- the conversation -----------------------------------------------------------------
    async def configure(self, raw: dict[str, Any]) -> None:
        """Validate the start parameters, pin the voice, say ready (or the error, and close)."""
        try:
            start = stream_start(raw)
            params = self.service.resolve(start_params(start, self.service.config.default_voice))
            lease = await self.service.lease(params.voice)
        except ServiceError as err:
            await self.error(err, 1008)
            return
        try:
            speaker = lease.voice.speaker(params.speaker)
        except RequestError as err:
            lease.release()
            await self.error(request_error(err), 1008)
            return
        self.release()
        self.lease, self.params = lease, params
        self.words = bool(start.words)
        await self._send({"type": "ready", "voice": params.voice, "speaker": speaker.name if speaker else None,
                          "sample_rate": int(lease.voice.sample_rate), "format": "pcm_s16le", "channels": 1})

    async def receive(self) -> ClientMessage | None:
        """The next message, validated; None after reporting a bad one."""
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        try:
            if text is None:
                raise bad(None, "expected JSON text messages, got a binary frame")
            return client_message(parse_json(text, "the message"))
        except ServiceError as err:
            await self.error(err)
            return None

    async def run(self) -> None:
        await self.configure(query_values(list(self.ws.query_params.multi_items())))
        speaker = asyncio.create_task(self.speak())
        buffer = SentenceBuffer()
        loop = asyncio.get_running_loop()
        texted = False
        try:
            while True:
                receiving = asyncio.ensure_future(self.receive())
                done, _ = await asyncio.wait({receiving, speaker}, return_when=asyncio.FIRST_COMPLETED)
                if speaker in done:  # it ended the conversation (error, overload, or the peer left)
                    receiving.cancel()
                    speaker.result()
                    return
                msg = receiving.result()
                if msg is None:
                    continue
                now = time.monotonic()
                if msg.type == "start":
                    if texted:
                        await self.error(bad("type", "type: 'start' must come before any text"))
                    else:
                        await self.configure({k: v for k, v in vars(msg.start()).items() if v is not None})
                elif msg.type == "text":
                    assert msg.text is not None
                    texted = True
                    self.total_chars += len(msg.text)
                    limit = self.service.config.max_stream_chars
                    if self.total_chars > limit:
                        err = ServiceError(413, f"text: more than {limit} characters of text on one connection "
                                                "(max_stream_chars)", "text", "request_too_large")
                        await self.error(err, 1008)
                    for sentence in await loop.run_in_executor(None, buffer.add, msg.text):
                        self.sentences.put_nowait((sentence, now))
                elif msg.type == "ssml":
                    assert msg.text is not None
                    texted = True
                    self.total_chars += len(msg.text)
                    if self.total_chars > self.service.config.max_stream_chars:
                        await self.error(ServiceError(413, "text: more than the characters allowed on one "
                                                      "connection (max_stream_chars)", "text", "request_too_large"),
                                         1008)
                    for sentence in buffer.flush():
                        self.sentences.put_nowait((sentence, now))
                    self.sentences.put_nowait((msg.text, now, True))
                else:  # flush, end
                    for sentence in buffer.flush():
                        self.sentences.put_nowait((sentence, now))
                    if msg.type == "end":
                        self.sentences.put_nowait(None)
                        await speaker
                        return
        finally:
            if not speaker.done():
                speaker.cancel()
            try:
                await speaker
            except (asyncio.CancelledError, Exception):  # noqa: BLE001,S110
                pass  # its synthesis is finished; the reason was reported or the peer is gone

    async def speak(self) -> None:
        index = 0
        while True:
            item = await self.sentences.get()
            if item is None:
                await self._send({"type": "done", "sentences": index, "audio_seconds": round(self.audio_seconds, 3)})
                await self.close(1000)
                return
            text, arrived, *ssml = item
            assert self.params is not None
            budget = self.service.budget(self.audio_seconds, self.compute_seconds)
            params = dataclasses.replace(self.params.with_seed_offset(index), ssml=bool(ssml), words=self.words)
            try:
                synthesis = await self.service.start(params, text, arrived, "ws", budget=budget)
            except ServiceError as err:
                await self.error(err, 1013 if err.status == 503 else 1011 if err.status >= 500 else 1008)
                return
            seconds = 0.0
            failure: Exception | None = None
            try:
                await self._send({"type": "sentence", "index": index, "text": text})
                while True:
                    try:
                        chunk = await synthesis.next()
                    except Exception as err:  # noqa: BLE001 - the voice failed; the connection is fine
                        failure = err
                        break
                    if chunk is None:
                        break
                    if chunk.words and self.words:
                        at = self.audio_seconds + seconds
                        await self._send({"type": "words", "index": index, "words": [
                            Timing(w.text, w.start + at, w.end + at).to_json() for w in chunk.words]})
                    seconds += chunk.duration
                    if chunk.audio.size:
                        await self._send(to_pcm16(chunk.audio))
            finally:
                self.audio_seconds += seconds
                self.compute_seconds += synthesis.stream.compute
                if failure is None:
                    synthesis.finish("ok" if synthesis.stream.final is not None else "cancelled")
            if failure is not None:
                if isinstance(failure, ServiceError) and failure.param == "input" and failure.status == 400:
                    synthesis.finish("bad_request")  # a piece with no pronounceable words ("..."): skip it
                elif isinstance(failure, ServiceError):
                    synthesis.failed(failure)
                    failure.param = "text"
                    await self.error(failure, 1008)
                else:
                    synthesis.failed(failure)
                    await self.error(ServiceError(500, f"synthesis failed in voice {self.params.voice!r}; see the "
                                                       "server log", "voice", "synthesis_error"), 1011)
                    return
            await self._send({"type": "sentence_end", "index": index, "audio_seconds": round(seconds, 3)})
            index += 1
