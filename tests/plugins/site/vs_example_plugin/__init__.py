"""A third-party voicestack plugin, as a separate distribution would ship it: one block,
one front-end and one runtime, each one class, registered only through entry points
(see vs_example_plugin-1.0.dist-info/entry_points.txt)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voicestack.components.effects import AudioEffect
from voicestack.frontends import FrontEnd, Piece, id_piece
from voicestack.runtime import Runtime, Session
from voicestack.runtime.ort import OnnxRuntime, OrtOptions


@dataclass(frozen=True)
class FadeInParams:
    samples: int = 64


class FadeIn(AudioEffect):
    """A block: ramps the first samples of every chunk stream up from silence."""

    type_name = "FadeIn"
    Params = FadeInParams

    def apply(self, audio: np.ndarray, request: Any) -> np.ndarray:
        done = request.state.setdefault(self.name, {"n": 0})
        n = done["n"]
        ramp = np.clip((np.arange(audio.shape[-1]) + n) / self.params.samples, 0.0, 1.0).astype(audio.dtype)
        done["n"] = n + audio.shape[-1]
        return audio * ramp


DIGITS = "zero one two three four five six seven eight nine".split()


@dataclass(frozen=True)
class DigitLettersParams:
    symbols: str = "abcdefghijklmnopqrstuvwxyz ,.!?'"


class DigitLetters(FrontEnd):
    """A front-end: letters by position, digits spelled out as words first."""

    type_name = "DigitLetters"
    Params = DigitLettersParams

    def pieces(self, text: str) -> Iterator[Piece]:
        words = " ".join("".join(f" {DIGITS[int(c)]} " if c.isdigit() else c for c in text.lower()).split())
        ids = [self.params.symbols.index(c) + 1 for c in words if c in self.params.symbols]
        if ids:
            yield id_piece(ids, text)


class CountingSession:
    def __init__(self, inner: Session) -> None:
        self.inner, self.path, self.nbytes = inner, inner.path, inner.nbytes

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        CountingRuntime.runs += 1
        return self.inner.run(inputs)


class CountingRuntime(Runtime):
    """A runtime: onnxruntime, counting every network call (a thin wrapper)."""

    name = "counting"
    Options = OrtOptions
    runs = 0

    @classmethod
    def open(cls, path: Path, options: Any, static_shapes: Mapping[str, tuple[int, ...]] | None) -> Session:
        return CountingSession(OnnxRuntime.open(path, options, static_shapes))
