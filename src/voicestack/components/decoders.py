"""Decoders that stream: a windowed network over frames, and an autoregressive one.

``Decoder`` runs a frame-parallel network (VITS flow + HiFi-GAN, a mel decoder, a mel
vocoder) over windows of its input with context frames on both sides, trimmed away,
so every seam matches whole-utterance decoding. Windows start small (low time to first
audio) and grow (low total cost).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voicestack.blocks import Request, Stream, StreamableBlock
from voicestack.components.base import BuildContext, CheckEnv, register
from voicestack.components.network import NetworkCall, check_renames, renamed_outputs
from voicestack.errors import SpecError
from voicestack.spec import BlockSpec
from voicestack.tensors import DTYPES, TensorDecl, Tensors, resolve_shape


@dataclass(frozen=True)
class DecoderParams:
    network: str = "decoder"
    input: str | None = None  # stream tensor to window; default: the network's one streamed input
    output: str | None = None  # name of the emitted tensor; default: the network's first output
    first_window: int = 16
    max_window: int = 128
    growth: float = 2.0
    context: int = 24
    # a window takes the rest of the piece when that is at most (1 + tail) x its size plus
    # the context (capped at max_window): no last small window that is mostly context
    tail: float = 0.0
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.tail < 0.0:
            raise ValueError(f"tail must be >= 0.0, got {self.tail}")
        if self.first_window < 1 or self.max_window < self.first_window:
            raise ValueError(f"need 1 <= first_window <= max_window, got {self.first_window} and {self.max_window}")
        if self.growth < 1.0:
            raise ValueError(f"growth must be >= 1.0, got {self.growth}")
        if self.context < 0:
            raise ValueError(f"context must be >= 0, got {self.context}")


def window_schedule(first: int, largest: int, growth: float, state: dict[str, Any] | None = None,
                    request: Request | None = None) -> Iterator[int]:
    """Window sizes: ``first``, then growing by ``growth`` up to ``largest``.

    With ``state`` (kept per request) the schedule continues across text pieces: only the
    request's first audio needs small windows; later sentences start large. A request's
    ``window_limit`` (read at every window) caps a window at that multiple of ``first``.
    """
    state = {} if state is None else state
    state.setdefault("size", float(first))
    while True:
        limit = request.window_limit if request is not None else None
        size = state["size"] if limit is None else min(state["size"], max(1.0, limit) * first)
        yield int(size)
        state["size"] = min(float(largest), state["size"] * growth)


class FrameBuffer:
    """Frames pulled from upstream, addressable by absolute frame index."""

    def __init__(self, source: Stream, key: str) -> None:
        self.source = source
        self.key = key
        self.parts: list[np.ndarray] = []
        self.offset = 0  # absolute index of the first frame held
        self.end = 0  # absolute index after the last frame held
        self.exhausted = False

    def fill_to(self, frame: int) -> None:
        while not self.exhausted and self.end < frame:
            try:
                chunk = next(self.source)
            except StopIteration:
                self.exhausted = True
                return
            part = chunk[self.key]
            self.parts.append(part)
            self.end += part.shape[-1]

    def slice(self, lo: int, hi: int) -> np.ndarray:
        data = np.concatenate(self.parts, axis=-1) if len(self.parts) != 1 else self.parts[0]
        self.parts = [data]
        return data[..., lo - self.offset : hi - self.offset]

    def drop_before(self, frame: int) -> None:
        if frame <= self.offset or not self.parts:
            return
        data = np.concatenate(self.parts, axis=-1)
        cut = min(frame, self.end) - self.offset
        self.parts = [data[..., cut:]]
        self.offset += cut


@register
class Decoder(StreamableBlock):
    type_name = "Decoder"
    Params = DecoderParams

    def __init__(self, params: DecoderParams, call: NetworkCall, input_name: str, output_name: str, name: str):
        super().__init__(name)
        self.params = params
        self.call = call
        self.input_name = input_name  # tensor name in the stream
        self.network_input = next(n for n in call.net.needed_inputs if params.inputs.get(n, n) == input_name)
        self.output_name = output_name
        self.ratio = call.net.time_ratio
        self.time_ratio = self.ratio

    def windows(self, request: Request) -> Iterator[int]:
        p = self.params
        return window_schedule(p.first_window, p.max_window, p.growth, request.state.setdefault(self.name, {}),
                               request)

    def run_window(self, frames: np.ndarray, request: Request, tensors: Tensors | None = None) -> np.ndarray:
        """The network over one window of frames; its other inputs (a style vector, say)
        come from the piece's sequence tensors."""
        out = self.call({**(tensors or {}), self.input_name: frames}, request, self.name)
        return out[self.output_name]

    def generate(self, source: Stream | None, tensors: Tensors, request: Request) -> Stream:
        assert source is not None
        ctx = self.params.context
        buf = FrameBuffer(source, self.input_name)
        pos = 0
        state = request.state.setdefault(self.name, {})
        for window in self.windows(request):
            # the request's first window never looks ahead: pulling more frames would run
            # the upstream network again before the first audio
            merged = 0
            if self.params.tail and state.get("started"):
                merged = min(self.params.max_window, int((1.0 + self.params.tail) * window) + ctx)
            state["started"] = True
            buf.fill_to(pos + max(window, merged) + ctx + 1)  # +1: know whether more follows
            if buf.exhausted and pos >= buf.end:
                return
            end = buf.end if buf.exhausted and buf.end - pos <= merged else min(pos + window, buf.end)
            lo, hi = max(0, pos - ctx), min(buf.end, end + ctx)
            y = self.run_window(buf.slice(lo, hi), request, tensors)
            r = self.ratio
            yield {self.output_name: y[..., (pos - lo) * r : (end - lo) * r]}
            pos = end
            buf.drop_before(pos - ctx)

    @classmethod
    def resolve_io(cls, spec: BlockSpec, env: CheckEnv) -> tuple[str, str] | None:
        p = spec.params
        net = env.network(p.network)
        if net is None or not check_renames(net, p, env):
            return None
        needed = {p.inputs.get(n, n): d for n, d in net.needed_inputs.items()}
        if p.input is None and len(needed) != 1:
            env.error(f"network '{net.name}' has {len(needed)} inputs to stream ({', '.join(needed)}); name one with 'input'", "input")
            return None
        input_name = p.input or next(iter(needed))
        if input_name not in needed:
            env.error(f"'{input_name}' is not an input of network '{net.name}' (inputs: {', '.join(needed)})", "input")
            return None
        outs = renamed_outputs(net, p.outputs)
        output_name = p.output or next(iter(outs))
        if output_name not in outs:
            env.error(f"'{output_name}' is not an output of network '{net.name}' (outputs: {', '.join(outs)})", "output")
            return None
        return input_name, output_name

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        io = cls.resolve_io(spec, env)
        if io is None:
            return {}
        net = env.manifest.networks[spec.params.network]
        input_name, output_name = io
        needed = {spec.params.inputs.get(n, n): d for n, d in net.needed_inputs.items()}
        env.require(input_name, needed[input_name], f"{cls.type_name} network '{net.name}'", stream=True)
        for other, decl in needed.items():
            if other != input_name:
                env.require(other, decl, f"{cls.type_name} network '{net.name}'")
        return {output_name: renamed_outputs(net, spec.params.outputs)[output_name]}

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> StreamableBlock:
        p = spec.params
        input_name, output_name = cls.io_names(spec, ctx.manifest.networks[p.network])
        return cls(p, NetworkCall.open(p, ctx), input_name, output_name, spec.name or p.network)  # type: ignore[arg-type]

    @staticmethod
    def io_names(spec: BlockSpec, net: Any) -> tuple[str, str]:
        """The streamed input and emitted output tensor names of a checked Decoder spec."""
        p = spec.params
        needed = [p.inputs.get(n, n) for n in net.needed_inputs]
        input_name = p.input or needed[0]
        if input_name not in needed:
            raise SpecError.at(spec.path, f"'{input_name}' is not an input of network '{net.name}'")
        first_output = next(iter(net.outputs))
        return input_name, p.output or p.outputs.get(first_output, first_output)

    def describe(self) -> dict[str, Any]:
        p = self.params
        return {**super().describe(), "network": self.call.net.name, "window": [p.first_window, p.max_window],
                "context": p.context}


@dataclass(frozen=True)
class AutoregressiveParams:
    network: str = "decoder"
    frame_input: str = "frame_in"  # network input: the previous frame
    frame_output: str = "frame"  # network output: the new frame
    state: dict[str, str] = field(default_factory=dict)  # network output -> network input carried per step
    stop_output: str | None = "stop"
    stop_threshold: float = 0.5
    max_frames_per_symbol: float = 12.0
    min_frames: int = 1
    lengths: str = "input_lengths"  # sequence tensor giving the symbol count
    chunk_frames: int = 8
    output: str = "mel"

    def __post_init__(self) -> None:
        if self.chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {self.chunk_frames}")
        if not 0.0 < self.stop_threshold < 1.0:
            raise ValueError(f"stop_threshold must be in (0, 1), got {self.stop_threshold}")


@register
class AutoregressiveDecoder(StreamableBlock):
    """Steps a single-step network: each frame is made from the previous one.

    State tensors named in ``state`` are carried from step to step (zeros at first);
    every other network input comes from the sequence tensors (e.g. encoder memory).
    Frames go downstream in chunks of ``chunk_frames`` as they are made. Stops when the
    stop output crosses ``stop_threshold`` or after ``max_frames_per_symbol`` frames per
    input symbol (reported in ``request.events``), so nothing loops forever.
    """

    type_name = "AutoregressiveDecoder"
    Params = AutoregressiveParams

    def __init__(self, params: AutoregressiveParams, call: NetworkCall, name: str) -> None:
        super().__init__(name)
        self.params = params
        self.call = call

    def generate(self, source: Stream | None, tensors: Tensors, request: Request) -> Stream:
        p = self.params
        symbols = int(np.asarray(tensors[p.lengths]).reshape(-1)[0])
        limit = max(p.min_frames, int(np.ceil(symbols * p.max_frames_per_symbol)))
        step_inputs = self.initial_state(tensors)
        pending: list[np.ndarray] = []
        status = "max_length"
        for step in range(limit):
            request.check_cancelled()
            feeds = {**tensors, **step_inputs}
            out = self.call(feeds, request, f"{self.name}/{step}")
            frame = out[p.frame_output]
            pending.append(frame if frame.ndim == 3 else frame[..., None])
            step_inputs[p.frame_input] = frame
            for o, i in p.state.items():
                step_inputs[i] = out[o]
            stopped = (
                p.stop_output is not None
                and step + 1 >= p.min_frames
                and float(np.asarray(out[p.stop_output]).reshape(-1)[0]) >= p.stop_threshold
            )
            if len(pending) >= p.chunk_frames or stopped:
                yield {p.output: np.concatenate(pending, axis=-1)}
                pending = []
            if stopped:
                status = "stop_token"
                break
        if pending:
            yield {p.output: np.concatenate(pending, axis=-1)}
        request.events.append({"block": self.name, "event": "end", "status": status})

    def initial_state(self, tensors: Tensors, initial: Mapping[str, float] | None = None) -> Tensors:
        """The carried inputs (previous frame, states) before the first step: ``initial``'s
        value or 0, sized from the dynamic dims of the sequence tensors the network reads."""
        p = self.params
        net = self.call.net
        dims: dict[str, int] = {}
        for name, inp in net.inputs.items():
            if name in tensors:
                for d, size in zip(inp.decl.shape, tensors[name].shape, strict=False):
                    if isinstance(d, str):
                        dims.setdefault(d, size)
        carried = set(p.state.values()) | {p.frame_input}
        return {n: np.full(resolve_shape(net.inputs[n].decl.shape, dims, f"{net.name}.{n}"),
                           (initial or {}).get(n, 0.0), dtype=DTYPES[net.inputs[n].decl.dtype]) for n in carried}

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        p = spec.params
        net = env.network(p.network)
        if net is None:
            return {}
        for key, name in (("frame_input", p.frame_input),):
            if name not in net.inputs:
                env.error(f"network '{net.name}' has no input '{name}'", key)
        if p.frame_output not in net.outputs:
            env.error(f"network '{net.name}' has no output '{p.frame_output}'", "frame_output")
            return {}
        if p.stop_output is not None and p.stop_output not in net.outputs:
            env.error(f"network '{net.name}' has no output '{p.stop_output}'", "stop_output")
        for o, i in p.state.items():
            if o not in net.outputs or i not in net.inputs:
                env.error(f"state '{o}' -> '{i}' must map an output of '{net.name}' to one of its inputs", "state")
        carried = set(p.state.values()) | {p.frame_input}
        for n, decl in net.needed_inputs.items():
            if n not in carried:
                env.require(n, decl, f"network '{net.name}'")
        env.require(p.lengths, None, "AutoregressiveDecoder (lengths)")
        frame = net.outputs[p.frame_output]
        shape = frame.shape if frame.rank == 3 else (*frame.shape, 1)
        return {p.output: TensorDecl(frame.dtype, (*shape[:-1], "F"))}

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> AutoregressiveDecoder:
        from voicestack.components.network import NetworkParams

        call = NetworkCall.open(NetworkParams(network=spec.params.network), ctx)
        return cls(spec.params, call, spec.name or cls.type_name)
