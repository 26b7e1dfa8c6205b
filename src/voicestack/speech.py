"""Speaking a document of segments (parsed SSML): breaks as silence, prosody as the
length scale and a gain block, voice switches streaming on without a gap.

The request is shared by every segment (cancellation, pacing, timings and events carry
on); each segment sets its own length scale, and a switched-to voice its own defaults.
The voices a document switches to load on a background thread while the first voice
speaks. Word timings count from the start of the document.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from voicestack.blocks import Request
from voicestack.components.effects import Gain, GainParams
from voicestack.errors import RequestError
from voicestack.text.ssml import Break, Segment
from voicestack.timing import Timing

BREAK_CHUNK_SECONDS = 0.1  # silence goes out in chunks this long, so pacing stays even


def _shifted(timings: Sequence[Timing], seconds: float) -> tuple[Timing, ...]:
    return tuple(Timing(t.text, t.start + seconds, t.end + seconds) for t in timings)


def _reads_raw_phonemes(voice: Any) -> bool:
    return bool(getattr(voice.frontend, "raw_phonemes", False))


def stream_document(voice: Any, items: Sequence[Segment | Break], req: Request, voices: Callable[[str], Any],
                    chunk: type) -> Iterator[Any]:
    """``chunk`` objects (AudioChunks) of ``items`` spoken by ``voice`` (a Voice) and the
    voices its segments name (from ``voices``)."""
    names = sorted({s.voice for s in items if isinstance(s, Segment) and s.voice and s.voice != voice.name})
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voicestack-ssml") if names else None
    loading: dict[str, Future[Any]] = {n: pool.submit(voices, n) for n in names} if pool else {}
    try:
        yield from _speak(voice, items, req, loading, chunk)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _speak(voice: Any, items: Sequence[Segment | Break], req: Request, loading: dict[str, Future[Any]],
           chunk_type: type) -> Iterator[Any]:
    rate = voice.sample_rate
    emitted = 0
    spoke = False
    base = dict(req.params)
    speaker = req.speaker
    for item in items:
        if isinstance(item, Break):
            total = round(item.seconds * rate)
            step = int(BREAK_CHUNK_SECONDS * rate)
            for start in range(0, total, step):
                req.check_cancelled()
                n = min(step, total - start)
                emitted += n
                yield chunk_type(np.zeros(n, np.float32), rate)
            continue
        who = voice
        if item.voice is not None and item.voice != voice.name:
            try:
                who = loading[item.voice].result()
            except RequestError:
                raise
            except Exception as err:  # noqa: BLE001 - any failure to load is that voice's error
                raise RequestError("voice", f"SSML <voice name={item.voice!r}>: {err}") from None
            if who.sample_rate != rate:
                raise RequestError("voice", f"SSML <voice name={item.voice!r}> speaks at {who.sample_rate} Hz, "
                                            f"voice '{voice.name}' at {rate} Hz; a document keeps one rate")
        params = dict(base) if who is voice else dict(who.defaults)
        if "length_scale" in params:
            params["length_scale"] = float(np.clip(params["length_scale"] / item.rate, 0.1, 10.0))
        req.params = params
        req.speaker = speaker if who is voice else None
        gain = Gain(GainParams(max(-60.0, min(40.0, item.volume_db))), "ssml-volume") if item.volume_db else None
        text = item.text if _reads_raw_phonemes(who) else item.plain
        offset = emitted / rate
        try:
            for chunk in who._stream(text, req):
                audio = chunk.audio if gain is None else np.clip(gain.apply(chunk.audio, req), -1.0, 1.0)
                emitted += audio.size
                spoke = spoke or audio.size > 0
                yield dataclasses.replace(chunk, audio=audio, words=_shifted(chunk.words, offset),
                                          phonemes=_shifted(chunk.phonemes, offset))
        except RequestError as err:
            if not str(err).startswith("text: nothing to speak"):
                raise
    req.params, req.speaker = base, speaker
    if not spoke:
        raise RequestError("input", "nothing to speak: the SSML document has no words this voice can read")
