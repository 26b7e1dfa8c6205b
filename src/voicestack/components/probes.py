"""Diagnostic blocks: they pass the stream through unchanged and record what they see."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from voicestack.blocks import Request, Stream, StreamableBlock
from voicestack.components.base import BuildContext, CheckEnv
from voicestack.components.base import register
from voicestack.spec import BlockSpec
from voicestack.tensors import TensorDecl, Tensors


@dataclass(frozen=True)
class TimingProbeParams:
    label: str = "probe"


@register
class TimingProbe(StreamableBlock):
    """Records, per chunk, when it passed and how many steps it carried (request.events)."""

    type_name = "TimingProbe"
    Params = TimingProbeParams

    def __init__(self, params: TimingProbeParams, name: str) -> None:
        super().__init__(name)
        self.params = params

    def generate(self, source: Stream | None, tensors: Tensors, request: Request) -> Stream:
        assert source is not None
        start = time.perf_counter()
        for i, chunk in enumerate(source):
            steps = {k: int(v.shape[-1]) for k, v in chunk.items()}
            request.events.append(
                {"block": self.params.label, "event": "chunk", "index": i, "t": time.perf_counter() - start, "steps": steps}
            )
            yield chunk

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        if env.stream is None:
            env.error("TimingProbe needs a stream to observe; place it after a StreamableBlock")
            return {}
        return dict(env.stream)

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> TimingProbe:
        return cls(spec.params, spec.name or cls.type_name)
