"""``POST /v1/audio/speech/captioned``: audio and word timings streamed together, as produced.

The body is the one of ``/v1/audio/speech`` (``input_type: "ssml"`` included) plus
``phonemes: true`` for phoneme timings too. The answer is newline-delimited JSON
(``application/x-ndjson``), one object a line, each sent as soon as its audio exists::

    {"type": "audio", "audio": "<base64 16-bit little-endian mono PCM>", "sample_rate": 22050,
     "start": 0.0, "duration": 0.093, "words": [{"text": "Hello", "start": 0.046, "end": 0.267}]}
    ...
    {"type": "done", "audio_seconds": 1.52, "words": 2}

``words`` holds the words that start in that line's audio, with times in seconds from
the start of the utterance (a line may have no audio, only the timings of the end of
the last piece). A failure after the first line ends the stream with
``{"type": "error", "error": {"message": ..., "type": ..., "param": ...}}``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from voicestack.audio import to_pcm16
from voicestack.service.core import ClientGone, ServiceError, Synthesis, until_gone
from voicestack.voice import AudioChunk

log = logging.getLogger("voicestack.service")


def chunk_line(chunk: AudioChunk, start: float, phonemes: bool) -> bytes:
    line: dict[str, Any] = {"type": "audio", "audio": base64.b64encode(to_pcm16(chunk.audio)).decode("ascii"),
                            "sample_rate": chunk.sample_rate, "start": round(start, 4),
                            "duration": round(chunk.duration, 4), "words": [w.to_json() for w in chunk.words]}
    if phonemes:
        line["phonemes"] = [p.to_json() for p in chunk.phonemes]
    return json.dumps(line, ensure_ascii=False).encode("utf-8") + b"\n"


class CaptionedResponse(Response):
    """Streams a synthesis as JSON lines; whatever ends it finishes the synthesis."""

    def __init__(self, synthesis: Synthesis, first: AudioChunk | None, phonemes: bool, headers: dict[str, str],
                 gone: asyncio.Future[None], stall: float) -> None:
        super().__init__(None, media_type="application/x-ndjson", headers=headers)
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]  # chunked
        self.synthesis, self.first, self.phonemes, self.gone, self.stall = synthesis, first, phonemes, gone, stall

    async def _body(self, send: Send, data: bytes, more: bool = True) -> None:
        try:
            await asyncio.wait_for(send({"type": "http.response.body", "body": data, "more_body": more}), self.stall)
        except (TimeoutError, OSError):
            raise ClientGone() from None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        s = self.synthesis
        seconds, words = 0.0, 0
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            try:
                chunk = self.first
                while chunk is not None:
                    await self._body(send, chunk_line(chunk, seconds, self.phonemes))
                    seconds += chunk.duration
                    words += len(chunk.words)
                    chunk = await until_gone(s.next(), self.gone)
                s.finish("ok")
                done = {"type": "done", "audio_seconds": round(seconds, 4), "words": words}
            except ClientGone:
                raise
            except Exception as err:  # noqa: BLE001 - mid-stream: an error line ends the stream; logged and counted
                s.failed(err)
                body = err.body()["error"] if isinstance(err, ServiceError) else {
                    "message": "synthesis failed; see the server log", "type": "server_error", "param": None}
                done = {"type": "error", "error": body}
            await self._body(send, json.dumps(done).encode("utf-8") + b"\n")
            await self._body(send, b"", more=False)
        except ClientGone:
            s.finish("cancelled")
        finally:
            s.finish("cancelled")  # no-op if it already finished
            self.gone.cancel()


def captioned_body(raw: Any) -> Any:
    """The body with the only format captioned speech carries (pcm); 400 for another."""
    fmt = raw.get("response_format") if isinstance(raw, dict) else None
    if fmt not in (None, "pcm"):
        raise ServiceError(400, f"response_format: {fmt!r}; captioned speech carries base64 pcm only",
                           "response_format", "invalid_request_error")
    return {**raw, "response_format": "pcm"} if isinstance(raw, dict) else raw
