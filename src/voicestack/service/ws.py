"""``WS /v1/audio/stream``: text arrives in pieces (an LLM's tokens), audio leaves as
soon as each sentence is ready, while later text is still arriving.

Protocol (JSON text messages in; binary PCM frames and JSON events out)::

    -> {"type": "start", "voice": "joe", "speed": 1.0, "seed": 7,      (optional; the same
        "noise_scale": 0.667, "noise_w": 0.8}                            keys work as query params)
    <- {"type": "ready", "voice": "joe", "sample_rate": 22050, "format": "pcm_s16le", "channels": 1}
    -> {"type": "text", "text": "Hello th"}   -> {"type": "text", "text": "ere. How"} ...
    <- {"type": "sentence", "index": 0, "text": "Hello there."}
    <- binary frames: 16-bit little-endian mono PCM at sample_rate
    <- {"type": "sentence_end", "index": 0, "audio_seconds": 0.93}
    -> {"type": "flush"}                      speak what is buffered now, even without an end mark
    -> {"type": "end"}                        flush, finish speaking, then
    <- {"type": "done", "sentences": 3, "audio_seconds": 4.2}   and the server closes (1000)
    <- {"type": "error", "error": {"message": ..., "type": ..., "param": ...}}

Text is cut at sentence ends (. ! ? followed by space, or a newline), not after common
abbreviations or initials; a run longer than ``MAX_PHRASE`` characters without one is cut
at the last comma/semicolon/colon, else the last space. A bad message gets an error event
and the connection goes on; a bad start, overload (close 1013) or a synthesis failure
(close 1011) ends it. If the client goes away, the sentence being spoken stops.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from voicestack.audio import to_pcm16
from voicestack.errors import RequestError
from voicestack.service.protocol import ApiError, SynthesisParams, bad, parse_params

log = logging.getLogger("voicestack.service")

MAX_PHRASE = 250
ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "prof", "sr", "jr", "vs", "etc", "e.g", "i.e", "no", "fig", "mt"}
_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)|\n")
_NUMBER_KEYS = ("speed", "seed", "noise_scale", "noise_w")


class SentenceBuffer:
    """Accumulates text pieces; hands out complete sentences (or long phrases)."""

    def __init__(self, max_phrase: int = MAX_PHRASE) -> None:
        self.text = ""
        self.max_phrase = max_phrase

    def add(self, piece: str) -> list[str]:
        self.text += piece
        out: list[str] = []
        while True:
            cut = self._boundary()
            if cut is None:
                break
            sentence, self.text = self.text[:cut].strip(), self.text[cut:]
            if sentence:
                out.append(sentence)
        return out

    def flush(self) -> list[str]:
        rest, self.text = self.text.strip(), ""
        return [rest] if rest else []

    def _boundary(self) -> int | None:
        for m in _END.finditer(self.text):
            if m.group() == "\n" or not self._abbreviation(m.start()):
                return m.end()
        if len(self.text) > self.max_phrase:
            head = self.text[: self.max_phrase]
            for pattern in (r"[,;:](?=\s)", r"\s"):
                hits = list(re.finditer(pattern, head))
                if hits and hits[-1].end() > self.max_phrase // 4:
                    return hits[-1].end()
            return self.max_phrase
        return None

    def _abbreviation(self, dot: int) -> bool:
        if self.text[dot] != ".":
            return False
        word = re.search(r"([\w.]+)$", self.text[:dot])
        if word is None:
            return False
        w = word.group(1).lower()
        return w in ABBREVIATIONS or (len(w) == 1 and self.text[dot - 1].isupper())


def _query_start(ws: WebSocket) -> dict[str, Any]:
    start: dict[str, Any] = {}
    for key, value in ws.query_params.items():
        if key in _NUMBER_KEYS:
            try:
                start[key] = int(value) if key == "seed" else float(value)
            except ValueError:
                start[key] = value  # parse_params names the field
        else:
            start[key] = value
    return start


async def _send_error(ws: WebSocket, err: ApiError) -> None:
    await ws.send_json({"type": "error", **err.body()})


async def stream_socket(ws: WebSocket) -> None:
    try:
        await _session(ws)
    except WebSocketDisconnect:
        pass  # the client went away; _converse has already stopped its synthesis


async def _session(ws: WebSocket) -> None:
    service = ws.app.state.service
    await ws.accept()
    pending: list[dict[str, Any]] = []
    first = await _receive(ws)
    start = _query_start(ws)
    if isinstance(first, dict) and first.get("type") == "start":
        start.update({k: v for k, v in first.items() if k != "type"})
    elif first is not None:
        pending.append(first)
    try:
        unknown = sorted(set(start) - {"voice", *_NUMBER_KEYS, "model"})
        if unknown:
            raise bad(unknown[0], f"unknown start field '{unknown[0]}'; expected voice, "
                                  f"{', '.join(_NUMBER_KEYS)}")
        params = parse_params(start, service.config.default_voice)
        service.check_voice(params.voice)
        lease = await service.lease(params.voice)
    except ApiError as err:
        service.metrics.errors.inc("bad_request" if err.status < 500 else "voice_load")
        await _send_error(ws, err)
        await ws.close(1008)
        return
    try:
        await ws.send_json({"type": "ready", "voice": params.voice, "sample_rate": lease.voice.sample_rate,
                            "format": "pcm_s16le", "channels": 1})
        await _converse(ws, service, params, pending)
    finally:
        lease.release()


async def _receive(ws: WebSocket) -> dict[str, Any] | None:
    """The next message as a dict; None for a message that is not a JSON object (error sent)."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    if message.get("text") is None:
        await _send_error(ws, bad(None, "expected JSON text messages, got a binary frame"))
        return None
    try:
        data = json.loads(message["text"])
    except json.JSONDecodeError as err:
        await _send_error(ws, bad(None, f"the message is not valid JSON: {err}"))
        return None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        await _send_error(ws, bad("type", "each message must be a JSON object with a 'type'"))
        return None
    return data


async def _converse(ws: WebSocket, service: Any, params: SynthesisParams, pending: list[dict[str, Any]]) -> None:
    sentences: asyncio.Queue[tuple[str, float] | None] = asyncio.Queue()
    speaker = asyncio.create_task(_speak(ws, service, params, sentences))
    buffer = SentenceBuffer()
    total = 0
    try:
        while True:
            if pending:
                msg: dict[str, Any] | None = pending.pop(0)
            else:
                receiving = asyncio.ensure_future(_receive(ws))
                done, _ = await asyncio.wait({receiving, speaker}, return_when=asyncio.FIRST_COMPLETED)
                if speaker in done:  # it ended the conversation (error, overload, or the peer left)
                    receiving.cancel()
                    speaker.result()
                    return
                msg = receiving.result()
            if msg is None:
                continue
            kind = msg["type"]
            now = time.monotonic()
            if kind == "text":
                text = msg.get("text")
                if not isinstance(text, str):
                    await _send_error(ws, bad("text", f"'text' must be a string, got {type(text).__name__}"))
                    continue
                total += len(text)
                if total > service.config.max_stream_chars:
                    await _send_error(ws, bad("text", f"more than {service.config.max_stream_chars} characters "
                                                      "of text on one connection"))
                    await ws.close(1008)
                    return
                for sentence in buffer.add(text):
                    sentences.put_nowait((sentence, now))
            elif kind == "flush":
                for sentence in buffer.flush():
                    sentences.put_nowait((sentence, now))
            elif kind == "end":
                for sentence in buffer.flush():
                    sentences.put_nowait((sentence, now))
                sentences.put_nowait(None)
                await speaker
                return
            else:
                await _send_error(ws, bad("type", f"unknown message type {kind!r}; expected text, flush or end"))
    except WebSocketDisconnect:
        pass
    finally:
        if not speaker.done():
            speaker.cancel()
        try:
            await speaker
        except (asyncio.CancelledError, Exception):  # noqa: BLE001,S110
            pass  # its synthesis is finished; the reason was reported or the peer is gone


async def _speak(ws: WebSocket, service: Any, params: SynthesisParams,
                 sentences: asyncio.Queue[tuple[str, float] | None]) -> None:
    index = 0
    audio_seconds = 0.0
    while True:
        item = await sentences.get()
        if item is None:
            await ws.send_json({"type": "done", "sentences": index, "audio_seconds": round(audio_seconds, 3)})
            await ws.close(1000)
            return
        text, arrived = item
        seeded = params if params.seed is None else \
            SynthesisParams(params.voice, params.speed, (params.seed + index) % 2**32, params.noise_scale,
                            params.noise_w)
        try:
            synthesis = await service.start(seeded, text, arrived, "ws")
        except ApiError as err:
            await _send_error(ws, err)
            await ws.close(1013 if err.status == 503 else 1011)
            return
        seconds = 0.0
        failure: Exception | None = None
        try:
            await ws.send_json({"type": "sentence", "index": index, "text": text})
            while True:
                try:
                    chunk = await synthesis.next()
                except Exception as err:  # noqa: BLE001 - the voice failed; the connection is fine
                    failure = err
                    break
                if chunk is None:
                    break
                seconds += chunk.duration
                await ws.send_bytes(to_pcm16(chunk.audio))
        except BaseException:  # cancelled, or the peer went away while we sent
            synthesis.finish("cancelled")
            raise
        if failure is None:
            synthesis.finish("ok")
        elif isinstance(failure, RequestError) and failure.field == "text":
            synthesis.finish("bad_request")  # a piece with no pronounceable words ("..."): skip it
        else:
            synthesis.finish("error")
            log.error("voice %r failed mid-stream on the WebSocket: %r", params.voice, failure, exc_info=failure)
            await _send_error(ws, ApiError(500, f"synthesis failed in voice {params.voice!r}; see the server log",
                                           "voice", "synthesis_error"))
            await ws.close(1011)
            return
        audio_seconds += seconds
        await ws.send_json({"type": "sentence_end", "index": index, "audio_seconds": round(seconds, 3)})
        index += 1
