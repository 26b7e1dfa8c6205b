"""A loaded voice: text front-end + validated stack + profile -> a lazy audio stream."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

import voicestack.components  # noqa: F401  (registers the built-in components)
from voicestack.addon import Manifest, read_manifest
from voicestack.blocks import Request, StreamableBlock
from voicestack.components.base import BuildContext, CheckEnv
from voicestack.errors import RequestError, SpecError
from voicestack.profiles import Profile, resolve_profile
from voicestack.runtime import SessionFactory
from voicestack.spec import build_block, check_stack, parse_stack
from voicestack.tensors import TensorDecl

# what the front-end hands the stack for each text piece
FRONTEND_TENSORS = {
    "input": TensorDecl("int64", (1, "T")),
    "input_lengths": TensorDecl("int64", (1,)),
}
PARAM_LIMITS = {
    "length_scale": (0.05, 20.0),
    "noise_scale": (0.0, 5.0),
    "noise_w": (0.0, 5.0),
}
MAX_TEXT_CHARS = 1_000_000


@dataclass(frozen=True)
class AudioChunk:
    """Mono float32 samples in [-1, 1] and their rate."""

    audio: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        return self.audio.size / self.sample_rate


class FrontEnd(Protocol):
    def pieces(self, text: str) -> Iterator[list[int]]:
        """Id sequences, one per piece of text the stack encodes at once, lazily."""
        ...


class CharacterFrontEnd:
    """Letters -> ids by position in ``symbols`` (0 is padding); sentences split on . ! ?"""

    def __init__(self, symbols: str, max_piece: int = 200) -> None:
        self.symbols = {c: i + 1 for i, c in enumerate(symbols)}
        self.max_piece = max_piece

    def pieces(self, text: str) -> Iterator[list[int]]:
        for sentence in re.split(r"(?<=[.!?])\s+", text.lower()):
            ids = [self.symbols[c] for c in sentence if c in self.symbols]
            for start in range(0, len(ids), self.max_piece):
                piece = ids[start : start + self.max_piece]
                if piece:
                    yield piece


class IdsFrontEnd:
    """Text is already ids: whitespace-separated integers, one piece per line (testing)."""

    def pieces(self, text: str) -> Iterator[list[int]]:
        for line in text.splitlines():
            if line.strip():
                yield [int(tok) for tok in line.split()]


def split_long(ids: list[int], max_piece: int, id_map: Mapping[str, list[int]]) -> Iterator[list[int]]:
    """Cut one sentence's Piper ids (``^ _ (p _)* $``) into pieces of at most ``max_piece``
    ids: at phrase breaks (after , : ;) first, else between words, and inside a word only
    for a single word longer than a piece. Each piece is a well-formed id sequence."""
    if len(ids) <= max_piece:
        yield ids
        return
    from voicestack.text import phrase_breaks

    head = [*id_map["^"], *id_map["_"]]
    tail = list(id_map["$"])
    pad, space = list(id_map["_"]), list(id_map.get(" ", []))
    phrase = set(phrase_breaks(ids, id_map))
    words = {k + len(space) + len(pad) - 1 for k in range(len(ids))
             if space and ids[k : k + len(space)] == space and ids[k + len(space) : k + len(space) + len(pad)] == pad}
    start, end = len(head), len(ids) - len(tail)  # body: ids[start:end]
    budget = max_piece - len(head) - len(tail)
    while end - start > budget:
        limit = start + budget - 1  # the last index a piece may end on
        cut = max((k for k in phrase if start <= k <= limit), default=None)
        if cut is None:
            cut = max((k for k in words if start <= k <= limit), default=None)
        if cut is None:  # one word longer than a piece: cut after a pad
            cut = max(k for k in range(start, limit + 1) if ids[k : k + len(pad)] == pad) if pad else limit
        yield head + ids[start : cut + 1] + tail
        start = cut + 1
    if end > start:
        yield head + ids[start:end] + tail


class EspeakFrontEnd:
    """espeak-ng phonemes -> Piper phoneme ids, one piece per sentence; a sentence longer
    than ``max_piece`` ids is cut at phrase, then word boundaries (the encoder's cost
    grows faster than linearly, and the first audio must not wait for a huge sentence)."""

    def __init__(self, settings: Mapping[str, Any], max_piece: int) -> None:
        from voicestack.text import TextFrontEnd

        self.inner = TextFrontEnd(
            settings.get("voice", "en-us"), settings["phoneme_id_map"], normalize=settings.get("normalize", True)
        )
        self.max_piece = max_piece

    def pieces(self, text: str) -> Iterator[list[int]]:
        for sentence in self.inner.iter_sentences(text):
            if sentence.ids:
                yield from split_long(list(sentence.ids), self.max_piece, self.inner.phoneme_id_map)


def make_frontend(settings: Mapping[str, Any]) -> FrontEnd:
    kind = settings.get("type")
    max_piece = int(settings.get("max_piece", 400))
    if kind == "characters":
        return CharacterFrontEnd(str(settings.get("symbols", "abcdefghijklmnopqrstuvwxyz ,.!?'")), max_piece)
    if kind == "ids":
        return IdsFrontEnd()
    if kind == "espeak":
        return EspeakFrontEnd(settings, max_piece)
    raise SpecError.at("frontend.type", f"unknown front-end {kind!r}")


def validate_stack(manifest: Manifest, stack_name: str = "default",
                   profile: Profile | None = None) -> tuple[Any, dict[str, TensorDecl]]:
    """Parse + check one of the manifest's stacks; every problem carries its JSON path.

    With a ``profile``, the stack checked is the one that profile runs (its component
    substitutions and compiled sizes applied: ``Profile.apply``).
    """
    path = "stack" if stack_name == "default" else f"stacks.{stack_name}"
    try:
        spec = parse_stack(manifest.stacks[stack_name], path)
        if profile is not None:
            spec = profile.apply(spec)
        emitted = check_stack(spec, CheckEnv(manifest, dict(FRONTEND_TENSORS), None, path))
    except SpecError as err:
        raise SpecError(err.problems, source=manifest.source) from None
    audio = emitted.get("audio")
    if audio is None or not audio.dtype.startswith("float"):
        raise SpecError.at(
            path, f"the stack must emit a float 'audio' stream; it emits {', '.join(emitted) or 'nothing'}",
            source=manifest.source,
        )
    return spec, emitted


class Voice:
    def __init__(self, manifest: Manifest, profile: Profile, root: StreamableBlock, frontend: FrontEnd) -> None:
        self.manifest = manifest
        self.profile = profile
        self.root = root
        self.frontend = frontend
        self.name = manifest.name
        self.sample_rate = manifest.sample_rate
        self.language = manifest.language
        self.architecture = manifest.architecture
        self.defaults = dict(manifest.inference)

    @classmethod
    def load(cls, addon_dir: Path, profile: str | Mapping[str, Any] | None = None,
             sessions: SessionFactory | None = None) -> Voice:
        manifest = read_manifest(addon_dir)
        try:
            prof = resolve_profile(profile, manifest.profiles, manifest.stacks, manifest.networks)
        except SpecError as err:
            raise SpecError(err.problems, source=manifest.source) from None
        spec, _ = validate_stack(manifest, prof.stack, prof)
        frontend = make_frontend(manifest.frontend)
        root = build_block(spec, BuildContext(manifest, sessions or SessionFactory(), prof))
        assert isinstance(root, StreamableBlock)
        return cls(manifest, prof, root, frontend)

    def request(self, *, seed: int | None = None, cancel: threading.Event | None = None,
                **overrides: float | None) -> Request:
        params = dict(self.defaults)
        for key, value in overrides.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise RequestError(key, f"expected a number, got {value!r}")
            lo, hi = PARAM_LIMITS.get(key, (-np.inf, np.inf))
            if not lo <= value <= hi:
                raise RequestError(key, f"{value} is out of range; expected {lo} to {hi}")
            params[key] = float(value)
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little")
        elif isinstance(seed, bool) or not isinstance(seed, int):
            raise RequestError("seed", f"expected an integer, got {seed!r}")
        req = Request(params=params, seed=seed)
        if cancel is not None:
            req.cancel = cancel
        return req

    def stream(self, text: str, *, length_scale: float | None = None, noise_scale: float | None = None,
               noise_w: float | None = None, seed: int | None = None, cancel: threading.Event | None = None,
               request: Request | None = None) -> Iterator[AudioChunk]:
        """Audio chunks as they are produced; nothing is computed until the first pull."""
        if not isinstance(text, str):
            raise RequestError("text", f"expected a string, got {type(text).__name__}")
        if len(text) > MAX_TEXT_CHARS:
            raise RequestError("text", f"{len(text)} characters is more than the {MAX_TEXT_CHARS} allowed")
        req = request or self.request(seed=seed, cancel=cancel, length_scale=length_scale,
                                      noise_scale=noise_scale, noise_w=noise_w)
        return self._stream(text, req)

    def _stream(self, text: str, req: Request) -> Iterator[AudioChunk]:
        pieces = 0
        for piece, ids in enumerate(self.frontend.pieces(text)):
            pieces += 1
            req.piece = piece
            tensors = {
                "input": np.asarray([ids], dtype=np.int64),
                "input_lengths": np.asarray([len(ids)], dtype=np.int64),
            }
            for chunk in self.root.stream(None, tensors, req):
                audio = np.asarray(chunk["audio"], dtype=np.float32).reshape(-1)
                if audio.size:
                    yield AudioChunk(np.clip(audio, -1.0, 1.0), self.sample_rate)
        if pieces == 0:
            raise RequestError("text", "nothing to speak: the text has no pronounceable words")

    def synthesize(self, text: str, **kwargs: Any) -> AudioChunk:
        """The whole utterance at once (same audio as joining ``stream``)."""
        parts = [c.audio for c in self.stream(text, **kwargs)]
        return AudioChunk(np.concatenate(parts) if parts else np.zeros(0, np.float32), self.sample_rate)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "language": self.language, "sample_rate": self.sample_rate,
                "architecture": self.architecture, "profile": self.profile.name, "stack": self.root.describe()}
