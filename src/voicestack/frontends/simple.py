"""Front-ends without phonemes: letters by position, and ids given as text (for tests)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voicestack.frontends.base import FrontEnd, FrontEndPart, Piece, Span, id_piece, register_frontend, separator_cuts
from voicestack.params import limits

if TYPE_CHECKING:
    from voicestack.addon import Manifest

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class CharactersParams:
    symbols: str = field(default="abcdefghijklmnopqrstuvwxyz ,.!?'", metadata=limits(nonempty=True))
    max_piece: int = field(default=400, metadata=limits(lo=1, hi=100_000))


@register_frontend
class CharacterFrontEnd(FrontEnd):
    """Letters -> ids by position in ``symbols`` (0 is padding); sentences split on . ! ?"""

    type_name = "characters"
    Params = CharactersParams

    def __init__(self, params: Any, children: Mapping[str, FrontEndPart], manifest: Manifest) -> None:
        super().__init__(params, children, manifest)
        self.symbols = {c: i + 1 for i, c in enumerate(params.symbols)}

        def ids(chars: str) -> frozenset[int]:
            return frozenset(self.symbols[c] for c in chars if c in self.symbols)

        self.word, self.phrase, self.pad = ids(" "), ids(",;:.!?"), frozenset({0})

    def pieces(self, text: str) -> Iterator[Piece]:
        from voicestack.frontends.words import text_words

        for sentence in _SENTENCE.split(text.lower()):
            kept = [i for i, c in enumerate(sentence) if c in self.symbols]
            ids = [self.symbols[sentence[i]] for i in kept]
            at = {i: k for k, i in enumerate(kept)}  # character -> id index
            words = [(w, [at[i] for i in range(a, b) if i in at]) for w, a, b in text_words(sentence)]
            n = self.params.max_piece
            for start in range(0, len(ids), n):
                piece = ids[start: start + n]
                if piece:
                    spans = tuple(Span(w, k[0] - start, min(k[-1] + 1, start + n) - start) for w, k in words
                                  if k and start <= k[0] < start + n)
                    phones = tuple(Span(sentence[kept[k]], k - start, k - start + 1) for k in range(start, start + len(piece))
                                   if sentence[kept[k]].strip())
                    yield id_piece(piece, sentence, start + n >= len(ids), words=spans, phones=phones)

    def cut_points(self, ids: Sequence[int]) -> list[tuple[int, int]]:
        return separator_cuts(ids, self.word, self.phrase, self.pad)


@dataclass(frozen=True)
class IdsParams:
    # optional: lets static encoders cut at words (" ") and phrases (, ; : . ! ?)
    phoneme_id_map: Mapping[str, tuple[int, ...]] | None = None


@register_frontend
class IdsFrontEnd(FrontEnd):
    """Text is already ids: whitespace-separated integers, one piece per line (testing)."""

    type_name = "ids"
    Params = IdsParams

    def pieces(self, text: str) -> Iterator[Piece]:
        for line in text.splitlines():
            if line.strip():
                yield id_piece([int(tok) for tok in line.split()], line)

    def cut_points(self, ids: Sequence[int]) -> list[tuple[int, int]]:
        table = self.params.phoneme_id_map or {}

        def pick(chars: str) -> frozenset[int]:
            return frozenset(i for c in chars for i in table.get(c, []))

        return separator_cuts(ids, pick(" "), pick(",;:.!?"), pick("_")) if table else []
