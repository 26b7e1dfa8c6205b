"""Static-shape integration components: every network call has exactly a compiled shape.

A static profile substitutes these for the dynamic ones (see ``profiles.Profile.apply``);
a stack may also name them directly.

* ``StaticNetworkCall``: a network called through static copies, one per compiled size,
  each behind a guard that checks the exact shape;
* the encoders (``StaticEncoders``, ``StaticParallelEncoders``) are in
  ``components.static_encoders``;
* ``StaticDecoder``: windows of exactly a compiled size, context included. The last
  window of a piece slides back over real frames so the audio stays exact; a piece
  shorter than one window is padded by repeating its last frame and trimmed.

Both count what they compute in ``request.state["static"]`` (real and padding ids and
frames) for benchmarks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from voicestack.addon import NetworkDecl
from voicestack.blocks import Request, Stream
from voicestack.components.base import BuildContext, CheckEnv, register
from voicestack.components.decoders import Decoder, DecoderParams, FrameBuffer
from voicestack.components.network import NetworkCall
from voicestack.components.parts import stats
from voicestack.runtime import Session
from voicestack.runtime.static import GuardedSession, StaticShapeError, static_copy
from voicestack.spec import BlockSpec
from voicestack.tensors import TensorDecl, Tensors, resolve_shape

if TYPE_CHECKING:
    from voicestack.profiles import Profile

IDS = "input"  # the usual id tensor [1, T] (preferred when a network has several candidates)
LENGTHS = "input_lengths"
NOISE_PREFIX = "noise:"  # tensors carrying noise drawn at the real length (then padded)


# ---------------------------------------------------------------------------- the network call


class StaticNetworkCall(NetworkCall):
    """Calls a network through static copies, one per compiled size of dimension ``dim``."""

    def __init__(self, net: NetworkDecl, sessions: Mapping[int, GuardedSession], dim: str,
                 inputs: Mapping[str, str], outputs: Mapping[str, str],
                 assets: Mapping[str, Any] | None = None) -> None:
        first = next(iter(sessions.values()))
        super().__init__(net, first, inputs, outputs, assets)
        self.sessions = dict(sessions)
        self.dim = dim

    @classmethod
    def open_static(cls, params: Any, ctx: BuildContext, dim: str, sizes: Iterable[int]) -> StaticNetworkCall:
        """Make (or reuse cached) static copies for each size and open them under the profile's runtime."""
        net = ctx.manifest.networks[params.network]
        config = ctx.runtime_for(net.name)
        sessions: dict[int, GuardedSession] = {}
        for size in sorted(set(sizes)):
            shapes = {name: resolve_shape(inp.decl.shape, {dim: size}, f"network '{net.name}' input '{name}'")
                      for name, inp in net.inputs.items()}
            path = static_copy(net.path, shapes)
            session: Session = ctx.sessions.open(path, dataclasses.replace(config, static_shapes=shapes))
            sessions[size] = GuardedSession(session, shapes, net.name)
        call = cls(net, sessions, dim, params.inputs, params.outputs, ctx.manifest.assets)
        call.config, call.addon = config, ctx.manifest.name
        return call

    @property
    def compiled(self) -> list[int]:
        return sorted(self.sessions)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "shapes": "static",
                "compiled": [{k: list(v) for k, v in self.sessions[n].shapes.items()} for n in self.compiled]}

    def session_for(self, dims: Mapping[str, int]) -> Session:
        size = dims.get(self.dim)
        session = self.sessions.get(size)  # type: ignore[arg-type]
        if session is None:
            raise StaticShapeError(
                f"static network '{self.net.name}' has no compiled size {size} for dimension '{self.dim}' "
                f"(compiled: {', '.join(map(str, self.compiled))})"
            )
        return session

    def feed_value(self, name: str, inp: Any, dims: dict[str, int], tensors: Mapping[str, np.ndarray],
                   request: Request, noise_key: str) -> np.ndarray:
        # noise drawn at the real (unpadded) size and padded by the caller, so the draws
        # equal the dynamic profile's
        given = tensors.get(f"{NOISE_PREFIX}{noise_key}/{name}")
        return given if given is not None else super().feed_value(name, inp, dims, tensors, request, noise_key)


def guards(block: Any) -> list[GuardedSession]:
    """Every guarded static session under a built block (for tests and metrics)."""
    found: list[GuardedSession] = []
    seen: set[int] = set()

    def walk(b: Any) -> None:
        if id(b) in seen:
            return
        seen.add(id(b))
        call = getattr(b, "call", None)
        if isinstance(call, StaticNetworkCall):
            found.extend(call.sessions.values())
        for attr in ("blocks", "sequence_block", "streamable_block", "inner"):
            child = getattr(b, attr, None)
            for c in child if isinstance(child, list) else [child] if child is not None else []:
                walk(c)

    walk(block)
    return found


# ---------------------------------------------------------------------------- decoder


@dataclass(frozen=True)
class StaticDecoderParams(DecoderParams):
    # frames the network sees per call, context on both sides included; one compiled
    # shape each. None: 3, 6 and 12 x context (joe: 96, 192, 384 frames; measured in
    # bench/bench_profiles.py). The first call of a request uses the smallest (time to
    # first audio); later calls the smallest that reaches the end of the piece, else the
    # largest.
    window: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for w in self.windows:
            if w <= 2 * self.context:
                raise ValueError(f"window {w} is smaller than twice the context ({self.context}) plus one frame")

    @property
    def windows(self) -> tuple[int, ...]:
        if self.window:
            return tuple(sorted(set(self.window)))
        c = max(self.context, 2)
        return (3 * c, 6 * c, 12 * c)


def _decoder_with_profile(params: Any, profile: Profile, path: str, problems: list[tuple[str, str]]) -> Any:
    changes: dict[str, Any] = {}
    if profile.window is not None:
        changes["window"] = profile.window
    if profile.context is not None:
        changes["context"] = profile.context
    if not changes:
        return params
    window = changes.get("window", params.window)
    context = changes.get("context", params.context)
    bad = [w for w in (window or ()) if w <= 2 * context]
    if bad:
        where = f"{profile.path}.window" if profile.window is not None else f"{path}.window"
        problems.append((where, f"window {bad[0]} is smaller than twice the context ({context}) plus one frame; "
                                f"a window holds the context on both sides and the frames it decodes"))
        return params
    return dataclasses.replace(params, **changes)


@register
class StaticDecoder(Decoder):
    """Decoder on static shapes: every call sees exactly a compiled window of frames."""

    type_name = "StaticDecoder"
    Params = StaticDecoderParams
    params: StaticDecoderParams
    with_profile = staticmethod(_decoder_with_profile)

    def generate(self, source: Stream | None, tensors: Tensors, request: Request) -> Stream:
        assert source is not None
        ctx = self.params.context
        sizes = self.params.windows
        largest = sizes[-1]
        r = self.ratio
        state = request.state.setdefault(f"{self.name}/static", {"calls": 0})
        counters = stats(request)
        buf = FrameBuffer(source, self.input_name)
        pos = 0
        while True:
            lo = max(0, pos - ctx)
            if state["calls"] == 0:
                size = sizes[0]  # the request's first audio: the smallest window
                buf.fill_to(lo + size + 1)
            else:
                buf.fill_to(lo + largest + 1)
                reach = [s for s in sizes if lo + s >= buf.end] if buf.exhausted else []
                size = reach[0] if reach else largest
                if reach and size > buf.end:
                    # the covering window would need padding: decode with a smaller one first
                    # so the last window can slide back over real frames instead
                    shorter = [s for s in sizes if lo + s < buf.end]
                    size = shorter[-1] if shorter else size
            if buf.exhausted and pos >= buf.end:
                return
            state["calls"] += 1
            hi = lo + size
            if buf.exhausted and hi >= buf.end:
                # the last window of the piece: slide back over real frames, pad only if too short
                end = buf.end
                lo = max(0, end - size)
                frames = buf.slice(lo, end)
                pad = size - frames.shape[-1]
                y = self.run_window(padded_to(frames, size), request, tensors)
                count_call(counters, size, pad)
                yield {self.output_name: y[..., (pos - lo) * r: (end - lo) * r]}
                return
            end = hi - ctx
            y = self.run_window(buf.slice(lo, hi), request, tensors)
            count_call(counters, size, 0)
            yield {self.output_name: y[..., (pos - lo) * r: (end - lo) * r]}
            pos = end
            buf.drop_before(max(0, pos - largest))

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        emitted = super().check(spec, env)
        net = env.manifest.networks.get(spec.params.network)
        io = cls.resolve_io(spec, env.with_(problems=[])) if net is not None else None
        if net is not None and io is not None:
            network_input = next(n for n in net.needed_inputs if spec.params.inputs.get(n, n) == io[0])
            dim = net.inputs[network_input].decl.shape[-1]
            if not isinstance(dim, str):
                env.error(f"network '{net.name}' input '{network_input}' has a fixed length {dim}; "
                          f"{cls.type_name} needs a dynamic one to make its compiled windows", "network")
        return emitted

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> Decoder:
        return windowed_static(cls, spec, ctx, spec.params.windows)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "windows": list(self.params.windows), "context": self.params.context}


def padded_to(frames: np.ndarray, size: int) -> np.ndarray:
    """``frames`` made ``size`` long by repeating the last one (the extra output is cut off)."""
    pad = size - frames.shape[-1]
    return np.concatenate([frames, np.repeat(frames[..., -1:], pad, axis=-1)], axis=-1) if pad > 0 else frames


def count_call(counters: dict[str, int], size: int, pad: int) -> None:
    """One decoder call of ``size`` frames, ``pad`` of them padding."""
    counters["frames"] += size
    counters["frames_padding"] += pad
    counters["decoder_calls"] += 1


def windowed_static(cls: Any, spec: BlockSpec, ctx: BuildContext, sizes: Iterable[int]) -> Any:
    """A decoder block of ``cls`` over static copies of its network, one per window size
    of the streamed input's length."""
    p = spec.params
    net = ctx.manifest.networks[p.network]
    input_name, output_name = cls.io_names(spec, net)
    network_input = next(n for n in net.needed_inputs if p.inputs.get(n, n) == input_name)
    dim = net.inputs[network_input].decl.shape[-1]
    call = StaticNetworkCall.open_static(p, ctx, str(dim), sizes)
    return cls(p, call, input_name, output_name, spec.name or p.network)


__all__ = ["StaticDecoder", "StaticNetworkCall", "count_call", "guards", "padded_to", "stats", "windowed_static"]
