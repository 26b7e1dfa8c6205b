"""Static-shape integration components: every network call has exactly a compiled shape.

A static profile substitutes these for the dynamic ones (see ``profiles.Profile.apply``);
a stack may also name them directly.

* ``StaticEncoders`` / ``StaticParallelEncoders``: the ids are padded (id 0) to the
  smallest compiled bucket that holds them and the real ``input_lengths`` is passed;
  outputs are trimmed back to the real length. A piece longer than the largest bucket
  is split at a phrase boundary (after , ; : . ! ? and the following space), else at a
  word boundary (after a space), never inside a word; the parts' outputs are joined
  before the upsampler, so the decoder runs across the join (with its context) and the
  audio has no seam.
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
from voicestack.blocks import ParallelSequenceBlockContainer, Request, SequenceBlock, SequenceBlockContainer, Stream
from voicestack.components.base import BuildContext, CheckEnv
from voicestack.components.containers import (
    Encoder,
    Encoders,
    EncodersParams,
    ParallelEncoders,
    ParallelEncodersParams,
    encode_limit,
    encoder_specs,
)
from voicestack.components.decoders import Decoder, DecoderParams, FrameBuffer
from voicestack.components.network import NetworkCall, renamed_needs
from voicestack.profiles import DEFAULT_BUCKETS, MIN_BUCKET
from voicestack.components.base import register
from voicestack.runtime import Session
from voicestack.runtime.static import GuardedSession, StaticShapeError, static_copy
from voicestack.components.parts import PartsMixin, split_points, stats
from voicestack.spec import BlockSpec
from voicestack.tensors import DTYPES, TensorDecl, Tensors, resolve_shape

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


# ---------------------------------------------------------------------------- encoders


@dataclass(frozen=True)
class StaticEncodersParams(EncodersParams):
    buckets: tuple[int, ...] = DEFAULT_BUCKETS

    def __post_init__(self) -> None:
        _check_buckets(self.buckets)


@dataclass(frozen=True)
class StaticParallelEncodersParams(ParallelEncodersParams):
    buckets: tuple[int, ...] = DEFAULT_BUCKETS

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_buckets(self.buckets)


def _check_buckets(buckets: tuple[int, ...]) -> None:
    if not buckets:
        raise ValueError("buckets must list at least one compiled length")
    small = [b for b in buckets if b < MIN_BUCKET]
    if small:
        raise ValueError(f"bucket {small[0]} is shorter than one word (buckets must be >= {MIN_BUCKET} ids)")


def id_input(net: NetworkDecl) -> str | None:
    """The network's id input, from its declaration: the one int64 [1, T] input the
    framework does not feed (``input`` when there are several); None if there is none."""
    found = [n for n, inp in net.inputs.items() if inp.feed is None and inp.decl.dtype == "int64"
             and len(inp.decl.shape) == 2 and isinstance(inp.decl.shape[-1], str)]
    return IDS if IDS in found else found[0] if len(found) == 1 else None


def lengths_input(net: NetworkDecl) -> str | None:
    """The network's length input (int64 [1], not fed), or None: a graph reading all its ids."""
    found = [n for n, inp in net.inputs.items() if inp.feed is None and inp.decl.dtype == "int64"
             and tuple(inp.decl.shape) == (1,)]
    return LENGTHS if LENGTHS in found else found[0] if len(found) == 1 else None


def _seq_dim(net: NetworkDecl) -> str | None:
    """The symbolic name of a network's id length (the last dim of its id input)."""
    name = id_input(net)
    return None if name is None else str(net.inputs[name].decl.shape[-1])


def covering(buckets: Iterable[int], limit: int | None) -> tuple[int, ...]:
    """The compiled sizes: the profile's buckets, plus one for the voice's encoder limit
    when the largest is shorter (a static profile cuts where the default profile does)."""
    sizes = sorted(set(buckets))
    if limit is not None and sizes[-1] < limit:
        sizes.append(limit)
    return tuple(sizes)


class StaticEncodersMixin(PartsMixin):
    """The voice's parts (``components.parts``), each padded to a bucket, run on compiled
    shapes and trimmed back."""

    buckets: tuple[int, ...]

    def setup(self, nets: list[NetworkDecl], buckets: Iterable[int], frontend: Any) -> None:
        self.buckets = tuple(sorted(set(buckets)))
        limit = frontend.encode_limit() if frontend is not None else None
        self.setup_parts(nets, min(limit or self.buckets[-1], self.buckets[-1]), frontend)
        self.noise: list[tuple[str, str, TensorDecl, str]] = []  # (block name, input, decl, dim)
        self.ids_name = next((n for n in map(id_input, nets) if n), IDS)
        self.lengths_name = next((n for n in map(lengths_input, nets) if n), None)
        for block, net in zip(self.blocks, nets, strict=True):
            dim = _seq_dim(net)
            for iname, inp in net.inputs.items():
                if inp.feed is not None and inp.feed.kind == "noise":
                    self.noise.append((block.name, iname, inp.decl, dim))  # type: ignore[arg-type]

    def encode_part(self, tensors: Tensors, request: Request, n: int) -> Tensors:
        ids = np.asarray(tensors[self.ids_name]).reshape(-1)[:n]
        bucket = next(s for s in self.buckets if s >= n)
        padded = dict(tensors)
        x = np.zeros((1, bucket), dtype=ids.dtype)
        x[0, :n] = ids
        padded[self.ids_name] = x
        if self.lengths_name is not None:  # a graph without one reads the padding too
            padded[self.lengths_name] = np.asarray([n], dtype=np.int64)
        for block_name, iname, decl, dim in self.noise:
            # drawn at the real length (the same draws as the dynamic profile), zero-padded
            shape = resolve_shape(decl.shape, {dim: n}, f"{block_name}.{iname}")
            noise = request.rng(f"{block_name}/{iname}{request.part}").standard_normal(shape)
            widths = [(0, bucket - n if d == dim else 0) for d in decl.shape]
            padded[f"{NOISE_PREFIX}{block_name}/{iname}"] = np.pad(noise.astype(DTYPES[decl.dtype]), widths)
        out = self.run_children(padded, request)
        counters = stats(request)
        counters["ids"] += n
        counters["ids_padding"] += bucket - n
        counters["encoder_calls"] += 1
        return {name: self._trim(name, value, n) for name, value in out.items()}

    def _trim(self, name: str, value: np.ndarray, n: int) -> np.ndarray:
        for axis in self.joins.get(name, ()):
            value = np.take(value, np.arange(n), axis=axis)
        return value


def _static_children(spec: BlockSpec, ctx: BuildContext) -> tuple[list[SequenceBlock], list[NetworkDecl], tuple[int, ...]]:
    blocks: list[SequenceBlock] = []
    nets: list[NetworkDecl] = []
    sizes = covering(spec.params.buckets, encode_limit(ctx))
    for child in encoder_specs(spec, ctx):
        net = ctx.manifest.networks[child.params.network]
        dim = _seq_dim(net)
        call = StaticNetworkCall.open_static(child.params, ctx, dim, sizes)  # type: ignore[arg-type]
        blocks.append(Encoder(call, child.name or net.name))
        nets.append(net)
    return blocks, nets, sizes


def _check_static_encoders(spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
    produced = Encoders.check(spec, env)
    for child in encoder_specs(spec, env):
        net = env.manifest.networks[child.params.network]
        if _seq_dim(net) is None:
            env.error(f"network '{net.name}' has no int64 id input [1, T] with a dynamic last dimension; "
                      f"{spec.type} pads ids along it to the compiled buckets")
    return produced


def _encoders_with_profile(params: Any, profile: Profile, path: str, problems: list[tuple[str, str]]) -> Any:
    if profile.buckets is None:
        return params
    return dataclasses.replace(params, buckets=profile.buckets)


class _StaticEncodersComponent(StaticEncodersMixin):
    """What both static encoder containers share: profile sizes, checks, description."""

    buckets: tuple[int, ...]
    with_profile = staticmethod(_encoders_with_profile)

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        return _check_static_encoders(spec, env)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "buckets": list(self.buckets)}  # type: ignore[misc]


@register
class StaticEncoders(_StaticEncodersComponent, Encoders):
    """Encoders on static shapes: ids padded to compiled buckets, long pieces split at phrases."""

    type_name = "StaticEncoders"
    Params = StaticEncodersParams

    def run_children(self, tensors: Tensors, request: Request) -> Tensors:
        return SequenceBlockContainer.process(self, tensors, request)

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> SequenceBlock:
        blocks, nets, sizes = _static_children(spec, ctx)
        block = cls(blocks, spec.name or cls.type_name)
        block.setup(nets, sizes, ctx.frontend)
        return block



@register
class StaticParallelEncoders(_StaticEncodersComponent, ParallelEncoders):
    """ParallelEncoders on static shapes: independent encoders run at once, each on its bucket."""

    type_name = "StaticParallelEncoders"
    Params = StaticParallelEncodersParams

    def run_children(self, tensors: Tensors, request: Request) -> Tensors:
        return ParallelSequenceBlockContainer.process(self, tensors, request)

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> SequenceBlock:
        blocks, nets, sizes = _static_children(spec, ctx)
        needs = [frozenset(renamed_needs(net, {})) for net in nets]
        block = cls(blocks, needs, spec.params.max_workers, spec.name or cls.type_name)
        block.setup(nets, sizes, ctx.frontend)
        return block

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "buckets": list(self.buckets)}


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
                if pad:
                    frames = np.concatenate([frames, np.repeat(frames[..., -1:], pad, axis=-1)], axis=-1)
                y = self.run_window(frames, request)
                counters["frames"] += size
                counters["frames_padding"] += pad
                counters["decoder_calls"] += 1
                yield {self.output_name: y[..., (pos - lo) * r: (end - lo) * r]}
                return
            end = hi - ctx
            y = self.run_window(buf.slice(lo, hi), request)
            counters["frames"] += size
            counters["decoder_calls"] += 1
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
        p = spec.params
        net = ctx.manifest.networks[p.network]
        input_name, output_name = cls.io_names(spec, net)
        network_input = next(n for n in net.needed_inputs if p.inputs.get(n, n) == input_name)
        dim = net.inputs[network_input].decl.shape[-1]
        call = StaticNetworkCall.open_static(p, ctx, str(dim), p.windows)
        return cls(p, call, input_name, output_name, spec.name or p.network)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "windows": list(self.params.windows), "context": self.params.context}


__all__ = ["StaticDecoder", "StaticEncoders", "StaticNetworkCall", "StaticParallelEncoders",
           "guards", "split_points", "stats"]
