"""The espeak-ng front-end of Piper voices, as composable stages.

    "frontend": {"type": "Phonemes",
                 "normalizer": {"type": "EnglishNormalizer"},
                 "phonemizer": {"type": "Espeak", "voice": "en-us"},
                 "ids": {"type": "PiperIds", "phoneme_id_map": {...}},
                 "max_piece": 8192, "max_encode": 768}

``{"type": "espeak", "voice": ..., "phoneme_id_map": ..., "normalize": true}`` is the
short form Piper addons use; it builds the same stages.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voicestack.frontends.base import (
    FrontEnd,
    FrontEndPart,
    IdMap,
    Normalizer,
    Phonemes,
    Phonemizer,
    Piece,
    Problems,
    Span,
    id_piece,
    register_frontend,
    separator_cuts,
    unreadable_event,
)
from voicestack.params import limits, safe_text

if TYPE_CHECKING:
    from voicestack.addon import Manifest

BOS, EOS, PAD = "^", "$", "_"
# The longest run of ids one encoder call takes (the voice's limit, under every profile).
# One call's cost per id stays flat to about 700 ids and then rises (bench/bench_encoder.py);
# a longer sentence is still one piece, encoded in parts joined before the decoder.
MAX_ENCODE = 768
# The longest piece: past it a sentence with no punctuation at all is cut into pieces
# spoken one after another (each its own intonation), so first audio never waits for
# the encoding of an endless sentence.
MAX_PIECE = 8192


@dataclass(frozen=True)
class NormalizerParams:
    language: str = "en"


@register_frontend
class EnglishNormalizer(Normalizer):
    """Written text -> what a careful reader says (dates, numbers, abbreviations, ...)."""

    type_name = "EnglishNormalizer"
    Params = NormalizerParams

    def normalize(self, text: str) -> str:
        from voicestack.text.normalize import normalize, strip_invisible

        return normalize(strip_invisible(text), language=self.params.language)


@dataclass(frozen=True)
class EspeakParams:
    voice: str = field(default="en-us", metadata=limits(nonempty=True, max_len=64))


_known_voices: dict[str, str | None] = {}
_known_lock = threading.Lock()


def espeak_voice_problem(voice: str) -> str | None:
    """Why espeak-ng can't speak with ``voice`` (asked once per voice), or None."""
    with _known_lock:
        if voice in _known_voices:
            return _known_voices[voice]
    from voicestack.text.espeak_client import EspeakError, get_client

    try:
        get_client().clauses(voice, "a")
        why = None
    except EspeakError as err:
        why = str(err)
    with _known_lock:
        _known_voices[voice] = why
    return why


@register_frontend
class Espeak(Phonemizer):
    """Sentences of espeak-ng IPA phonemes, exactly as piper-tts makes them."""

    type_name = "Espeak"
    Params = EspeakParams

    def __init__(self, params: Any, children: Mapping[str, FrontEndPart], manifest: Manifest) -> None:
        super().__init__(params, children, manifest)
        from voicestack.text import TextFrontEnd

        # the phoneme -> id map belongs to the ids stage; this one only phonemises
        self.inner = TextFrontEnd(params.voice, {BOS: [1], PAD: [0], EOS: [2]}, normalize=False)

    @classmethod
    def check(cls, params: Any, manifest: Manifest, path: str, problems: Problems) -> None:
        why = espeak_voice_problem(params.voice)
        if why is not None:
            problems.append((f"{path}.voice", f"espeak-ng has no voice {safe_text(params.voice)!r} ({why})"))

    def sentences(self, text: str) -> Iterator[Phonemes]:
        # TextFrontEnd.iter_sentences without its id mapping (that is the ids stage's job)
        from voicestack.frontends.words import label_phoneme_words, text_words

        prepared, dropped = self.inner._prepare(text)
        events = (unreadable_event(dropped),) if dropped else ()
        for source, phonemes in self.inner._phonemize(prepared):
            if phonemes:
                def label(source: str = source, phonemes: str = phonemes) -> tuple[tuple[str, int, int], ...]:
                    return tuple(label_phoneme_words([w for w, _, _ in text_words(source)], phonemes, self.isolated))

                yield Phonemes(source.strip(), phonemes, events, label=functools.cache(label))
                events = ()

    def isolated(self, words: Sequence[str]) -> list[str]:
        """Each word phonemised alone (one espeak call for all when each comes back as a clause)."""
        import unicodedata

        from voicestack.text.espeak_client import SEPARATOR

        def said(clauses: list[tuple[str, str, str]]) -> str:
            return unicodedata.normalize("NFD", "".join(c[0] for c in clauses).replace(SEPARATOR, ""))

        clauses = self.inner._espeak(". ".join(words) + ".")
        if len(clauses) == len(words):
            return [said([c]) for c in clauses]
        return [said(self.inner._espeak(w)) for w in words]


@dataclass(frozen=True)
class PiperIdsParams:
    phoneme_id_map: Mapping[str, tuple[int, ...]]


@register_frontend
class PiperIds(IdMap):
    """Piper's ids: ``^ _ (phoneme _)* $``, from the voice's ``phoneme_id_map``."""

    type_name = "PiperIds"
    Params = PiperIdsParams

    def __init__(self, params: Any, children: Mapping[str, FrontEndPart], manifest: Manifest) -> None:
        super().__init__(params, children, manifest)
        from voicestack.text import TextFrontEnd

        self.table = {k: list(v) for k, v in params.phoneme_id_map.items()}
        self.inner = TextFrontEnd("en-us", self.table, normalize=False)  # its id mapping only

        def ids(chars: str) -> frozenset[int]:
            return frozenset(i for c in chars for i in self.table.get(c, []))

        self.word, self.phrase, self.pad = ids(" "), ids(",;:.!?"), ids(PAD)

    @classmethod
    def check(cls, params: Any, manifest: Manifest, path: str, problems: Problems) -> None:
        table = params.phoneme_id_map
        for symbol in (BOS, PAD, EOS):
            if symbol not in table or not table[symbol]:
                problems.append((f"{path}.phoneme_id_map", f"no id for {symbol!r}; a Piper map needs ^ _ $"))
        bad = [k for k, v in table.items() if any(i < 0 or i > 1 << 20 for i in v)]
        if bad:
            problems.append((f"{path}.phoneme_id_map.{safe_text(bad[0])}", "ids must be whole numbers >= 0"))

    def encode(self, phonemes: str) -> list[int]:
        return self.inner.ids(phonemes)

    def positions(self, phonemes: str) -> tuple[list[int | None], list[int]]:
        # as TextFrontEnd.ids lays them out: ^ _ (phoneme _)* $, unknown phonemes skipped
        pad = len(self.table[PAD])
        index = len(self.table[BOS]) + pad
        starts: list[int | None] = []
        widths: list[int] = []
        for ch in phonemes:
            mapped = self.table.get(ch)
            starts.append(None if mapped is None else index)
            widths.append(0 if mapped is None else len(mapped))
            index += 0 if mapped is None else len(mapped) + pad
        return starts, widths

    def cut_points(self, ids: Sequence[int]) -> list[tuple[int, int]]:
        return separator_cuts(ids, self.word, self.phrase, self.pad)

    def pad_id(self) -> int:
        return self.table[PAD][0]

    def resume(self, ids: Sequence[int], at: int) -> list[int]:
        head = [*self.table[BOS], *self.table[PAD]]
        return head + [int(v) for v in ids[at:]] if at > 0 else [int(v) for v in ids]

    def split(self, ids: list[int], limit: int) -> Iterator[list[int]]:
        """Cut at phrase breaks (after , : ;) first, else between words, inside a word only
        for one word longer than a piece; each part is re-wrapped as ``^ _ ... $``."""
        if len(ids) <= limit:
            yield ids
            return
        from voicestack.text import phrase_breaks

        id_map = self.table
        head = [*id_map[BOS], *id_map[PAD]]
        tail = list(id_map[EOS])
        pad, space = list(id_map[PAD]), list(id_map.get(" ", []))
        phrase = set(phrase_breaks(ids, id_map))
        words = {k + len(space) + len(pad) - 1 for k in range(len(ids))
                 if space and ids[k: k + len(space)] == space and ids[k + len(space): k + len(space) + len(pad)] == pad}
        start, end = len(head), len(ids) - len(tail)  # body: ids[start:end]
        budget = limit - len(head) - len(tail)
        while end - start > budget:
            last = start + budget - 1  # the last index a piece may end on
            cut = max((k for k in phrase if start <= k <= last), default=None)
            if cut is None:
                cut = max((k for k in words if start <= k <= last), default=None)
            if cut is None:  # one word longer than a piece: cut after a pad
                cut = max(k for k in range(start, last + 1) if ids[k: k + len(pad)] == pad) if pad else last
            yield head + ids[start: cut + 1] + tail
            start = cut + 1
        if end > start:
            yield head + ids[start:end] + tail


@dataclass(frozen=True)
class PhonemesParams:
    max_piece: int = field(default=MAX_PIECE, metadata=limits(lo=16, hi=100_000))
    max_encode: int = field(default=MAX_ENCODE, metadata=limits(lo=16, hi=100_000))


@register_frontend
class PhonemesFrontEnd(FrontEnd):
    """normalise -> phonemise -> ids -> one piece per sentence (of at most ``max_piece``
    ids); an encoder takes at most ``max_encode`` ids in one call (``encode_limit``)."""

    type_name = "Phonemes"
    Params = PhonemesParams
    slots = {"normalizer": ("normalizer", False), "phonemizer": ("phonemizer", True), "ids": ("ids", True)}

    def stages(self) -> tuple[Normalizer | None, Phonemizer, IdMap]:
        normalizer = self.children.get("normalizer")
        phonemizer, ids = self.children["phonemizer"], self.children["ids"]
        assert isinstance(phonemizer, Phonemizer) and isinstance(ids, IdMap)
        return normalizer if isinstance(normalizer, Normalizer) else None, phonemizer, ids

    @property
    def raw_phonemes(self) -> bool:
        """Whether ``[[ ... ]]`` in the text is read as raw phonemes (espeak's IPA, as Piper does)."""
        return isinstance(self.children.get("phonemizer"), Espeak)

    def normalized(self, text: str) -> str:
        normalizer, _, _ = self.stages()
        return normalizer.normalize(text) if normalizer is not None else text

    def pieces(self, text: str) -> Iterator[Piece]:
        _, phonemizer, ids = self.stages()
        for sentence in phonemizer.sentences(self.normalized(text)):
            encoded = ids.encode(sentence.phonemes)
            if not sentence.phonemes or not encoded:
                continue
            parts = list(ids.split(encoded, self.params.max_piece))
            spans = functools.cache(lambda ids=ids, s=sentence, e=encoded, p=parts: self.spans(ids, s, e, p))
            for k, part in enumerate(parts):
                yield id_piece(part, sentence.text, k == len(parts) - 1, sentence.phonemes,
                               sentence.events if k == 0 else (),
                               label=lambda k=k, spans=spans: (spans()[0][k], spans()[1][k]))

    @staticmethod
    def spans(ids: IdMap, sentence: Phonemes, encoded: list[int],
              parts: list[list[int]]) -> tuple[list[tuple[Span, ...]], list[tuple[Span, ...]]]:
        """The words and phonemes starting in each part (nothing if the ids stage can't say)."""
        from voicestack.frontends.words import part_spans, phoneme_spans

        layout = ids.positions(sentence.phonemes)
        if layout is None:
            return [()] * len(parts), [()] * len(parts)
        words, phones = phoneme_spans(sentence.phonemes, *layout, sentence.written_words())
        return part_spans(encoded, parts, words), part_spans(encoded, parts, phones)

    def cut_points(self, ids: Sequence[int]) -> list[tuple[int, int]]:
        return self.stages()[2].cut_points(ids)

    def pad_id(self) -> int:
        return self.stages()[2].pad_id()

    def encode_limit(self) -> int | None:
        return self.params.max_encode

    def resume(self, ids: Sequence[int], at: int) -> list[int]:
        return self.stages()[2].resume(ids, at)


@dataclass(frozen=True)
class EspeakShortParams:
    phoneme_id_map: Mapping[str, tuple[int, ...]]
    voice: str = field(default="en-us", metadata=limits(nonempty=True, max_len=64))
    normalize: bool = True
    max_piece: int = field(default=MAX_PIECE, metadata=limits(lo=16, hi=100_000))
    max_encode: int = field(default=MAX_ENCODE, metadata=limits(lo=16, hi=100_000))


@register_frontend
class EspeakFrontEnd(PhonemesFrontEnd):
    """The short form Piper addons use: EnglishNormalizer (optional) + Espeak + PiperIds."""

    type_name = "espeak"
    Params = EspeakShortParams
    slots = {}

    def __init__(self, params: Any, children: Mapping[str, FrontEndPart], manifest: Manifest) -> None:
        language = params.voice.split("-")[0]
        stages: dict[str, FrontEndPart] = {
            "phonemizer": Espeak(EspeakParams(params.voice), {}, manifest),
            "ids": PiperIds(PiperIdsParams(params.phoneme_id_map), {}, manifest),
        }
        if params.normalize:
            stages["normalizer"] = EnglishNormalizer(NormalizerParams(language), {}, manifest)
        super().__init__(PhonemesParams(params.max_piece, params.max_encode), stages, manifest)

    @classmethod
    def check(cls, params: Any, manifest: Manifest, path: str, problems: Problems) -> None:
        Espeak.check(EspeakParams(params.voice), manifest, path, problems)
        PiperIds.check(PiperIdsParams(params.phoneme_id_map), manifest, path, problems)
