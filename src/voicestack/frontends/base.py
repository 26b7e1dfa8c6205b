"""Front-ends: text -> pieces, each a dict of named tensors the stack encodes at once.

A front-end is a component family like blocks: one class, one registration
(``@register_frontend`` or an entry point in the group ``voicestack.frontends``), a
``type`` tag in ``addon.json``, a ``Params`` dataclass parsed by ``voicestack.params``.
Stages compose (normalise -> phonemise -> map ids -> split), each replaceable:

* a ``normalizer`` turns written text into speakable text (``normalize``);
* a ``phonemizer`` turns text into sentences of phonemes (``sentences``);
* an ``ids`` stage maps phonemes to model ids (``encode``) and says where a sequence
  of its ids may be cut (``cut_points``) and how a part becomes a piece (``wrap``);
* a ``frontend`` yields :class:`Piece` objects (``pieces``) and declares the tensors
  every piece holds (``contracts``), checked against the stack before weights load.

The front-end owns where a piece may be cut: static-shape encoders ask it
(:meth:`FrontEnd.cut_points`) instead of knowing any model's ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from voicestack.blocks import EmptyParams
from voicestack.errors import SpecError
from voicestack.params import json_repr, parse_into
from voicestack.registry import Family
from voicestack.tensors import TensorDecl

if TYPE_CHECKING:
    from voicestack.addon import Manifest

Problems = list[tuple[str, str]]
MAX_DEPTH = 16


@dataclass(frozen=True)
class Span:
    """A word or phoneme of a piece: its text and the ids [start, end) it was turned into."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Piece:
    """One piece of text the stack encodes at once, as named tensors."""

    tensors: dict[str, np.ndarray]
    text: str = ""
    sentence_end: bool = True  # False: a long sentence was cut here; the next piece continues it
    phonemes: str = ""
    events: tuple[dict[str, Any], ...] = ()  # reported once to the listener (e.g. text it could not read)
    words: tuple[Span, ...] = ()  # the words that start in this piece (for word timings)
    phones: tuple[Span, ...] = ()  # the phonemes that start in this piece
    # (words, phones) worked out only when asked for: matching written words to phonemes
    # costs more than phonemising, and most callers never read the timings
    label: Callable[[], tuple[tuple[Span, ...], tuple[Span, ...]]] | None = field(
        default=None, compare=False, repr=False)

    def spans(self) -> tuple[tuple[Span, ...], tuple[Span, ...]]:
        """The words and phonemes that start in this piece."""
        return self.label() if self.label is not None else (self.words, self.phones)


@dataclass(frozen=True)
class Phonemes:
    """A sentence as a phonemizer gives it: its source text and its phoneme string."""

    text: str
    phonemes: str
    events: tuple[dict[str, Any], ...] = ()
    words: tuple[tuple[str, int, int], ...] = ()  # each written word and the [start, end) of phonemes it is read as
    label: Callable[[], tuple[tuple[str, int, int], ...]] | None = field(default=None, compare=False, repr=False)

    def written_words(self) -> tuple[tuple[str, int, int], ...]:
        """``words``, worked out on first use when the phonemizer left it to ``label``."""
        return self.label() if self.label is not None else self.words


def unreadable_event(runs: Sequence[Any]) -> dict[str, Any]:
    """The event for text dropped because the voice can't read its script."""
    scripts = sorted({r.script for r in runs})
    return {"event": "unreadable_text", "scripts": scripts, "text": " ".join(r.text for r in runs)[:200],
            "message": f"skipped text in a script this voice cannot read ({', '.join(scripts)})"}


class FrontEndPart:
    """Common base of every front-end class: type name, kind, params, child stages."""

    type_name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    Params: ClassVar[type] = EmptyParams
    slots: ClassVar[Mapping[str, tuple[str, bool]]] = {}  # slot -> (kind, required)

    def __init__(self, params: Any, children: Mapping[str, FrontEndPart], manifest: Manifest) -> None:
        self.params = params
        self.children = dict(children)
        self.manifest = manifest

    @classmethod
    def check(cls, params: Any, manifest: Manifest, path: str, problems: Problems) -> None:
        """Validate against the addon (before anything loads); append problems."""

    def describe(self) -> dict[str, Any]:
        return {"type": self.type_name, **{k: c.describe() for k, c in self.children.items()}}


class Normalizer(FrontEndPart):
    kind = "normalizer"

    def normalize(self, text: str) -> str:
        raise NotImplementedError


class Phonemizer(FrontEndPart):
    kind = "phonemizer"

    def sentences(self, text: str) -> Iterator[Phonemes]:
        raise NotImplementedError


class IdMap(FrontEndPart):
    kind = "ids"

    def encode(self, phonemes: str) -> list[int]:
        raise NotImplementedError

    def cut_points(self, ids: Sequence[int]) -> list[tuple[int, int]]:
        """Where a part may start: (index, priority 2 after a phrase break, 1 between words)."""
        return []

    def pad_id(self) -> int:
        return 0

    def resume(self, ids: Sequence[int], at: int) -> list[int]:
        """The ids of a piece that says ``ids`` from index ``at`` (a word start) on."""
        return [int(v) for v in ids[at:]]

    def positions(self, phonemes: str) -> tuple[list[int | None], list[int]] | None:
        """For each character of ``phonemes``: the index of its first id in ``encode``'s
        output (None: it has none) and how many ids it became; None: not known (no word timings)."""
        return None

    def split(self, ids: list[int], limit: int) -> Iterator[list[int]]:
        """Cut one sentence's ids into pieces of at most ``limit`` ids (default: at cut points)."""
        for a, b in choose_cuts(len(ids), self.cut_points(ids), limit)[0]:
            yield ids[a:b]


class FrontEnd(FrontEndPart):
    """Text -> pieces. Override :meth:`pieces` and :meth:`contracts`."""

    kind = "frontend"

    def pieces(self, text: str) -> Iterator[Piece]:
        raise NotImplementedError

    @classmethod
    def contracts(cls, params: Any, manifest: Manifest) -> dict[str, TensorDecl]:
        """The tensors every piece holds."""
        return dict(ID_TENSORS)

    # the tensors holding a piece's ids and their count (encoders that cut a piece read them)
    ids_tensor: ClassVar[str] = "input"
    lengths_tensor: ClassVar[str] = "input_lengths"

    def cut_points(self, ids: Sequence[int]) -> list[tuple[int, int]]:
        """Where a piece's ids may be cut (by encoders that take a piece in parts)."""
        return []

    def pad_id(self) -> int:
        return 0

    def resume(self, ids: Sequence[int], at: int) -> list[int]:
        """The ids of a piece that says ``ids`` from index ``at`` (a word start) on: what a
        fallback speaks after a voice failed inside a piece."""
        return [int(v) for v in ids[at:]]

    def encode_limit(self) -> int | None:
        """The longest run of ids one encoder call takes -- the voice's limit, the same
        under every profile. A longer piece is encoded in parts cut at :meth:`cut_points`
        and joined before the decoder (no pause, no sentence-final tone); None: no limit."""
        return None


ID_TENSORS = {"input": TensorDecl("int64", (1, "T")), "input_lengths": TensorDecl("int64", (1,))}
FRONTENDS: Family[FrontEndPart] = Family("front-end", "voicestack.frontends", FrontEndPart)
register_frontend = FRONTENDS.register


def id_piece(ids: Sequence[int], text: str = "", sentence_end: bool = True, phonemes: str = "",
             events: tuple[dict[str, Any], ...] = (), words: tuple[Span, ...] = (),
             phones: tuple[Span, ...] = (), label: Any = None) -> Piece:
    """The usual piece: ``input`` [1, T] and ``input_lengths`` [1], int64."""
    return Piece({"input": np.asarray([list(ids)], dtype=np.int64),
                  "input_lengths": np.asarray([len(ids)], dtype=np.int64)}, text, sentence_end, phonemes, events,
                 words, phones, label)


def separator_cuts(ids: Sequence[int], word: frozenset[int], phrase: frozenset[int],
                   pad: frozenset[int]) -> list[tuple[int, int]]:
    """Cut points after each word separator (and the padding after it); priority 2 where
    phrase punctuation precedes the separator."""
    n = len(ids)
    cuts: list[tuple[int, int]] = []
    for i, v in enumerate(ids):
        if int(v) in word:
            j = i + 1
            while j < n and int(ids[j]) in pad:
                j += 1
            k = i - 1
            while k >= 0 and int(ids[k]) in pad:
                k -= 1
            cuts.append((j, 2 if k >= 0 and int(ids[k]) in phrase else 1))
    return cuts


def choose_cuts(n: int, cuts: Sequence[tuple[int, int]], limit: int) -> tuple[list[tuple[int, int]], int]:
    """Cut ``n`` ids into as few [start, end) parts of at most ``limit`` as fit, at the best
    boundary: each cut aims at an even share of what is left (no stub of a few words
    encoded without context) and takes the phrase break nearest that aim if one is in
    reach, else the nearest word boundary. Returns the parts and how many cuts had to fall
    inside a word (no cut point in reach)."""
    parts: list[tuple[int, int]] = []
    start, forced = 0, 0
    while n - start > limit:
        left = -(-(n - start) // limit)  # parts still needed
        aim = start + (n - start) / left
        # a cut must leave the rest able to fit in left - 1 parts, and a part no longer than limit
        lo, hi = max(start + 1, n - (left - 1) * limit), start + limit
        reach = [(c, p) for c, p in cuts if lo <= c <= hi and c < n]
        if not reach:  # no boundary lets the rest fit in as few parts: take one more part
            reach = [(c, p) for c, p in cuts if start < c <= hi and c < n]
        phrases = [c for c, p in reach if p == 2 and c - start >= (aim - start) / 2]  # no stub
        words = [c for c, _ in reach]
        if phrases or words:
            cut = min(phrases or words, key=lambda c: (abs(c - aim), -c))
        else:
            cut, forced = min(hi, max(lo, round(aim))), forced + 1
        parts.append((start, cut))
        start = cut
    parts.append((start, n))
    return parts, forced


# ----------------------------------------------------------------- parse / build


@dataclass(frozen=True)
class FrontEndSpec:
    """One parsed front-end node: its type, params and child stage specs."""

    type: str
    params: Any
    children: Mapping[str, FrontEndSpec] = field(default_factory=dict)
    path: str = "frontend"

    @property
    def cls(self) -> type[FrontEndPart]:
        return FRONTENDS.get(self.type, self.path)


def parse_frontend(raw: Any, manifest: Manifest, path: str = "frontend", kind: str = "frontend",
                   problems: Problems | None = None, depth: int = 0) -> FrontEndSpec | None:
    """Parse and check a front-end tree; with ``problems`` None, raise one SpecError listing all."""
    collect: Problems = [] if problems is None else problems
    spec = _parse(raw, manifest, path, kind, collect, depth)
    if problems is None and collect:
        raise SpecError(collect, source=manifest.source)
    return spec


def _parse(raw: Any, manifest: Manifest, path: str, kind: str, problems: Problems, depth: int) -> FrontEndSpec | None:
    if depth > MAX_DEPTH:
        problems.append((path, f"front-end nested more than {MAX_DEPTH} levels deep"))
        return None
    if not isinstance(raw, Mapping):
        problems.append((path, f"expected an object with a 'type', got {json_repr(raw)}"))
        return None
    type_name = raw.get("type")
    if not isinstance(type_name, str) or type_name not in FRONTENDS:
        got = ("missing 'type'" if type_name is None else f"unknown type {type_name!r}" if isinstance(type_name, str)
               else f"'type' must be a string, got {json_repr(type_name)}")
        names = [n for n in FRONTENDS.names() if FRONTENDS.get(n, path).kind == kind]
        problems.append((f"{path}.type", f"{got}; expected a {kind}: one of {', '.join(names)}"))
        return None
    cls = FRONTENDS.get(type_name, path)
    if cls.kind != kind:
        problems.append((f"{path}.type", f"'{type_name}' is a {cls.kind}; this slot expects a {kind}"))
        return None
    before = len(problems)
    children: dict[str, FrontEndSpec] = {}
    for slot, (slot_kind, required) in cls.slots.items():
        if slot not in raw:
            if required:
                problems.append((f"{path}.{slot}", f"missing; '{type_name}' needs a {slot_kind} here"))
            continue
        child = _parse(raw[slot], manifest, f"{path}.{slot}", slot_kind, problems, depth + 1)
        if child is not None:
            children[slot] = child
    params = parse_into(cls.Params, {k: v for k, v in raw.items() if k != "type" and k not in cls.slots}, path,
                        type_name, problems)
    if params is not None:
        cls.check(params, manifest, path, problems)
    if params is None or len(problems) > before:
        return None
    return FrontEndSpec(type_name, params, children, path)


def build_frontend(spec: FrontEndSpec, manifest: Manifest) -> FrontEndPart:
    children = {slot: build_frontend(child, manifest) for slot, child in spec.children.items()}
    return spec.cls(spec.params, children, manifest)


def frontend_contracts(spec: FrontEndSpec, manifest: Manifest) -> dict[str, TensorDecl]:
    cls = spec.cls
    assert issubclass(cls, FrontEnd)
    return cls.contracts(spec.params, manifest)
