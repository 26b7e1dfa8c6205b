"""Streamed text -> sentences (or phrases) for the service's transports.

A thin adapter over :class:`voicestack.text.SentenceSplitter`, the splitter the whole-text
front-end's rules share (abbreviations, initials, numbers, ``No. 5``, ``a.m.``...), so
text streamed word by word is cut where the same text sent at once would be. A run of
more than ``max_phrase`` characters without a sentence end is cut at its last
``, ; :``, else its last space. Linear in the text (``"Mr. " * 25000`` included).
"""

from __future__ import annotations

from voicestack.text import SentenceSplitter
from voicestack.text.sentences import cut_long

MAX_PHRASE = 250


class SentenceBuffer:
    """Accumulates text pieces; hands out complete sentences (or long phrases)."""

    def __init__(self, max_phrase: int = MAX_PHRASE) -> None:
        self.max_phrase = max_phrase
        self._splitter = SentenceSplitter(max_chars=max_phrase, eager=True)

    def add(self, piece: str) -> list[str]:
        """The sentences ``piece`` completes: at once after an ordinary word's stop (speech
        starts without waiting for more text), after an abbreviation's or an initial's
        once the next word decides."""
        return self._splitter.feed(piece)

    def flush(self) -> list[str]:
        """What is left, as a last sentence (or none); the buffer starts afresh."""
        return cut_long(self._splitter.flush(), self.max_phrase)
