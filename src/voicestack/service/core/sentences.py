"""Streamed text -> sentences (or phrases), in time linear in the text.

Text is cut at sentence ends (. ! ? … followed by white space, or a newline), not after
common abbreviations or initials; a run of more than ``max_phrase`` characters without
one is cut at its last comma/semicolon/colon, else its last space, else hard. Each
boundary search looks at most ``max_phrase`` characters ahead and each abbreviation
check a few characters back, and every cut moves forward by at least a quarter phrase,
so a message costs O(its length) whatever it holds (``"Mr. " * 25000`` included).
"""

from __future__ import annotations

import re

MAX_PHRASE = 250
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "prof", "sr", "jr", "vs", "etc", "e.g", "i.e", "no",
                           "fig", "mt"})
_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)|\n")
_WORD_BEFORE = re.compile(r"[\w.]+$")
_PHRASE = re.compile(r"[,;:](?=\s)")
_SPACE = re.compile(r"\s")
_LOOKBACK = 12  # longer than any abbreviation above


class SentenceBuffer:
    """Accumulates text pieces; hands out complete sentences (or long phrases)."""

    def __init__(self, max_phrase: int = MAX_PHRASE) -> None:
        self.text = ""
        self.max_phrase = max_phrase
        self._scanned = 0  # no sentence end starts before this offset of self.text

    def add(self, piece: str) -> list[str]:
        text = self.text + piece  # self.text is at most about max_phrase long
        out: list[str] = []
        start, pos = 0, self._scanned
        while True:
            cut, pos = self._boundary(text, start, pos)
            if cut is None:
                break
            sentence = text[start:cut].strip()
            if sentence:
                out.append(sentence)
            start = pos = cut
        self.text = text[start:]
        self._scanned = max(0, pos - start)
        return out

    def flush(self) -> list[str]:
        rest, self.text, self._scanned = self.text.strip(), "", 0
        return [rest] if rest else []

    def _boundary(self, text: str, start: int, pos: int) -> tuple[int | None, int]:
        """(cut, resume): the next cut at or after ``pos``, or None and where to resume."""
        limit = start + self.max_phrase
        end = min(len(text), limit + 2)  # a sentence end within the phrase limit, with its lookahead
        for m in _END.finditer(text, pos, end):
            if m.group() == "\n" or not self._abbreviation(text, start, m.start()):
                return m.end(), m.end()
        if len(text) - start > self.max_phrase:
            head_end = limit
            for pattern in (_PHRASE, _SPACE):
                last = None
                for last in pattern.finditer(text, start + self.max_phrase // 4, head_end):
                    pass
                if last is not None:
                    return last.end(), last.end()
            return limit, limit
        # nothing yet: a sentence end may still complete in the last few characters
        return None, max(pos, len(text) - _LOOKBACK)

    @staticmethod
    def _abbreviation(text: str, start: int, dot: int) -> bool:
        if text[dot] != ".":
            return False
        word = _WORD_BEFORE.search(text, max(start, dot - _LOOKBACK), dot)
        if word is None:
            return False
        w = word.group().lower()
        return w in ABBREVIATIONS or (len(w) == 1 and text[dot - 1].isupper())
