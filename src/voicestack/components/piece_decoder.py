"""PieceDecoder: a Decoder whose network also reads the piece's sequence tensors.

Kokoro's decoder reads the speaker's style row, chosen by the piece's token count, beside
the frames it decodes; the plain ``Decoder`` gives its network the frames only. With the
defaults the window covers the whole piece (one call: the same audio as the monolithic
graph, bit for bit): Kokoro's decoder normalises over the time axis of its input (AdaIN
instance norms) and quantises each call's activations with a scale from their range, so a
smaller window changes every sample (see docs/kokoro.md for the measured figures).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voicestack.blocks import Request, Stream
from voicestack.components.base import BuildContext, register
from voicestack.components.decoders import Decoder, DecoderParams
from voicestack.spec import BlockSpec
from voicestack.tensors import Tensors

WHOLE = 1 << 20  # frames: a window larger than any piece


@dataclass(frozen=True)
class PieceDecoderParams(DecoderParams):
    first_window: int = WHOLE
    max_window: int = WHOLE
    context: int = 0
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)


@register
class PieceDecoder(Decoder):
    """A Decoder whose window is, by default, the whole piece (for networks whose frames
    depend on the whole piece); its other inputs come from the piece's tensors."""

    type_name = "PieceDecoder"
    Params = PieceDecoderParams


@dataclass(frozen=True)
class StaticPieceDecoderParams(PieceDecoderParams):
    # frames per call, one compiled shape each; a piece is decoded by the smallest that
    # holds it (its last frame repeated up to the window, the extra audio cut off), a piece
    # longer than the largest in windows of the largest
    window: tuple[int, ...] = (128, 256, 512, 1024)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.window or min(self.window) < 1:
            raise ValueError(f"window must list compiled frame counts >= 1, got {list(self.window)}")


def _piece_decoder_with_profile(params: Any, profile: Any, path: str, problems: list[tuple[str, str]]) -> Any:
    return params if profile.window is None else dataclasses.replace(params, window=tuple(profile.window))


@register
class StaticPieceDecoder(PieceDecoder):
    """PieceDecoder on static shapes: every call sees exactly a compiled number of frames."""

    type_name = "StaticPieceDecoder"
    Params = StaticPieceDecoderParams
    params: StaticPieceDecoderParams
    with_profile = staticmethod(_piece_decoder_with_profile)

    def generate(self, source: Stream | None, tensors: Tensors, request: Request) -> Stream:
        from voicestack.components.static import count_call, padded_to, stats

        assert source is not None
        frames = np.concatenate([chunk[self.input_name] for chunk in source], axis=-1)
        sizes = sorted(set(self.params.window))
        counters = stats(request)
        r, total = self.ratio, frames.shape[-1]
        pos = 0
        while pos < total:
            size = next((s for s in sizes if s >= total - pos), sizes[-1])
            part = frames[..., pos: pos + size]
            n = part.shape[-1]
            y = self.run_window(np.ascontiguousarray(padded_to(part, size)), request, tensors)
            count_call(counters, size, size - n)
            yield {self.output_name: y[..., : n * r]}
            pos += n

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> Decoder:
        from voicestack.components.static import windowed_static

        return windowed_static(cls, spec, ctx, spec.params.window)  # type: ignore[no-any-return]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "windows": list(self.params.window)}
