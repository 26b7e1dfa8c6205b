"""Word and phoneme timings: the front-end's spans (which ids a word became) meet the
aligning block's frames (where each id starts) and the stack's frame ratio (samples per
frame downstream of the aligner, :func:`voicestack.blocks.frame_ratio`).

Times count from the start of the utterance. A word is handed out with the first chunk
whose audio reaches its start (and once its end is known: an attention decoder learns a
symbol's end only when its attention moves on).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from voicestack.blocks import Alignment
from voicestack.frontends.base import Span


@dataclass(frozen=True)
class Timing:
    """A word (or phoneme) and when it is said, in seconds from the utterance's start."""

    text: str
    start: float
    end: float

    def to_json(self) -> dict[str, object]:
        return {"text": self.text, "start": round(self.start, 4), "end": round(self.end, 4)}


class PieceClock:
    """Turns one piece's spans into timings as its alignment becomes known."""

    def __init__(self, words: Sequence[Span], phones: Sequence[Span], alignment: Alignment, ratio: float,
                 offset: int, sample_rate: int) -> None:
        self.pending = [list(words), list(phones)]
        self.alignment = alignment
        self.ratio = ratio
        self.offset = offset
        self.rate = sample_rate

    def sample(self, frame: int) -> int:
        return self.offset + round(frame * self.ratio)

    def due(self, reached: int, final: bool = False) -> tuple[tuple[Timing, ...], tuple[Timing, ...]]:
        """(words, phonemes) that start before sample ``reached`` (all, when ``final``)."""
        out: list[tuple[Timing, ...]] = []
        for k, spans in enumerate(self.pending):
            ready: list[Timing] = []
            while spans:
                span = spans[0]
                start = self.alignment.start(span.start)
                end = self.alignment.start(span.end)
                if final:
                    last = self.alignment.frames
                    start = last if start is None else start
                    end = last if end is None else end
                if start is None or end is None or (not final and self.sample(start) >= reached):
                    break
                spans.pop(0)
                a, b = self.sample(start), self.sample(max(start, end))
                ready.append(Timing(span.text, a / self.rate, b / self.rate))
            self.pending[k] = spans
            out.append(tuple(ready))
        return out[0], out[1]
