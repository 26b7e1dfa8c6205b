"""Upsampler: repeats each symbol's encoding by its duration, frame chunk by frame chunk.

With ``log_scale`` set it also samples VITS's prior: z = m + eps * exp(log_s) * noise,
eps drawn once per text piece from the request's seeded generator, so the frames are the
same whatever the chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from voicestack.blocks import Request, Stream, StreamableBlock
from voicestack.components.base import BuildContext, CheckEnv
from voicestack.components.base import register
from voicestack.spec import BlockSpec
from voicestack.tensors import TensorDecl, Tensors


@dataclass(frozen=True)
class UpsamplerParams:
    durations: str = "w_ceil"
    mean: str = "m_p"
    log_scale: str | None = "logs_p"
    output: str = "z_p"
    noise_param: str = "noise_scale"
    chunk_frames: int = 8

    def __post_init__(self) -> None:
        if self.chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {self.chunk_frames}")


def durations_to_index(durations: np.ndarray) -> np.ndarray:
    """Frame -> symbol index, from per-symbol frame counts (any float/int array)."""
    counts = np.maximum(np.rint(durations.reshape(-1)), 0).astype(np.int64)
    return np.repeat(np.arange(counts.size), counts)


@register
class Upsampler(StreamableBlock):
    type_name = "Upsampler"
    Params = UpsamplerParams
    aligns = True

    def __init__(self, params: UpsamplerParams, name: str) -> None:
        super().__init__(name)
        self.params = params

    def generate(self, source: Stream | None, tensors: Tensors, request: Request) -> Stream:
        p = self.params
        mean = tensors[p.mean]
        index = durations_to_index(tensors[p.durations])
        frames = index.size
        if request.alignment is not None:  # each symbol starts where the frames before it end
            counts = np.bincount(index, minlength=np.asarray(tensors[p.durations]).size)
            request.alignment.starts = (np.cumsum(counts) - counts).tolist()
            request.alignment.frames, request.alignment.complete = frames, True
        std = None
        if p.log_scale is not None:
            scale = request.param(p.noise_param)
            if scale != 0.0:
                eps = request.rng(f"{self.name}/eps").standard_normal((*mean.shape[:-1], frames)).astype(mean.dtype)
                std = (eps, np.exp(tensors[p.log_scale]), scale)
        for start in range(0, frames, p.chunk_frames):
            idx = index[start : start + p.chunk_frames]
            chunk = mean[..., idx]
            if std is not None:
                eps, sigma, scale = std
                chunk = chunk + eps[..., start : start + p.chunk_frames] * sigma[..., idx] * scale
            yield {p.output: np.ascontiguousarray(chunk, dtype=mean.dtype)}

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        p = spec.params
        if env.stream is not None:
            env.error("Upsampler starts a stream (it reads sequence tensors); it cannot follow another StreamableBlock")
        mean = env.require(p.mean, None, "Upsampler (mean)")
        env.require(p.durations, None, "Upsampler (durations)")
        if p.log_scale is not None:
            log_s = env.require(p.log_scale, None, "Upsampler (log_scale)")
            if mean is not None and log_s is not None and mean.mismatch(log_s):
                env.error(f"'{p.mean}' {list(mean.shape)} and '{p.log_scale}' {list(log_s.shape)} differ", "log_scale")
        if mean is None:
            return {}
        return {p.output: TensorDecl(mean.dtype, (*mean.shape[:-1], "F"))}

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> Upsampler:
        return cls(spec.params, spec.name or cls.type_name)
