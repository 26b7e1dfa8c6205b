"""DSP blocks on the audio stream. Each consumes and emits ``audio``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from voicestack.blocks import Request, Stream, StreamableBlock
from voicestack.components.base import BuildContext, CheckEnv
from voicestack.components.base import register
from voicestack.spec import BlockSpec
from voicestack.tensors import TensorDecl, Tensors


class AudioEffect(StreamableBlock):
    """Base for effects: override :meth:`apply` (one chunk in, one chunk out)."""

    key = "audio"

    def __init__(self, params: Any, name: str) -> None:
        super().__init__(name)
        self.params = params

    def apply(self, audio: np.ndarray, request: Request) -> np.ndarray:
        raise NotImplementedError

    def generate(self, source: Stream | None, tensors: Tensors, request: Request) -> Stream:
        assert source is not None
        for chunk in source:
            yield {**chunk, self.key: self.apply(chunk[self.key], request)}

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        got = env.require(cls.key, None, cls.type_name, stream=True)
        if got is not None and not got.dtype.startswith("float"):
            env.error(f"{cls.type_name} needs floating-point audio, got {got.dtype}")
        return dict(env.stream or {})

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> AudioEffect:
        return cls(spec.params, spec.name or cls.type_name)


@dataclass(frozen=True)
class GainParams:
    db: float = 0.0

    def __post_init__(self) -> None:
        if not -60.0 <= self.db <= 40.0:
            raise ValueError(f"db must be between -60 and 40, got {self.db}")


@register
class Gain(AudioEffect):
    type_name = "Gain"
    Params = GainParams

    def apply(self, audio: np.ndarray, request: Request) -> np.ndarray:
        return (audio * np.float32(10.0 ** (self.params.db / 20.0))).astype(audio.dtype)


@dataclass(frozen=True)
class LimiterParams:
    ceiling: float = 0.99

    def __post_init__(self) -> None:
        if not 0.0 < self.ceiling <= 1.0:
            raise ValueError(f"ceiling must be in (0, 1], got {self.ceiling}")


@register
class Limiter(AudioEffect):
    """Hard clip to ``ceiling`` so no sample leaves [-1, 1]."""

    type_name = "Limiter"
    Params = LimiterParams

    def apply(self, audio: np.ndarray, request: Request) -> np.ndarray:
        c = self.params.ceiling
        return np.clip(audio, -c, c)
