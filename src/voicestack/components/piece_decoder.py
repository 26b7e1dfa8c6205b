"""PieceDecoder: a Decoder whose network also reads the piece's sequence tensors.

Kokoro's decoder reads the speaker's style row, chosen by the piece's token count, beside
the frames it decodes; the plain ``Decoder`` gives its network the frames only. With the
defaults the window covers the whole piece (one call: the same audio as the monolithic
graph, bit for bit): Kokoro's decoder normalises over the time axis of its input (AdaIN
instance norms) and quantises each call's activations with a scale from their range, so a
smaller window changes every sample (see docs/kokoro.md for the measured figures).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from voicestack.blocks import Request, Stream
from voicestack.components.base import register
from voicestack.components.decoders import Decoder, DecoderParams, FrameBuffer
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
    type_name = "PieceDecoder"
    Params = PieceDecoderParams

    def generate(self, source: Stream | None, tensors: Tensors, request: Request) -> Stream:
        assert source is not None
        ctx = self.params.context
        buf = FrameBuffer(source, self.input_name)
        pos = 0
        for window in self.windows(request):
            buf.fill_to(pos + window + ctx + 1)  # +1: know whether more follows
            if buf.exhausted and pos >= buf.end:
                return
            end = min(pos + window, buf.end)
            lo, hi = max(0, pos - ctx), min(buf.end, end + ctx)
            out = self.call({**tensors, self.input_name: np.ascontiguousarray(buf.slice(lo, hi))}, request, self.name)
            y, r = out[self.output_name], self.ratio
            yield {self.output_name: y[..., (pos - lo) * r : (end - lo) * r]}
            pos = end
            buf.drop_before(pos - ctx)
