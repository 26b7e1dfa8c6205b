"""Static-shape encoders: a piece's ids padded to a compiled bucket.

``StaticEncoders`` / ``StaticParallelEncoders`` pad the ids (id 0) to the smallest
compiled bucket that holds them and pass the real length (where the network has a
length input); outputs are trimmed back to the real length. Where a piece is cut is the
voice's choice (``components.parts``): the same cuts as the default profile, the
buckets extended to cover the voice's encoder limit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from voicestack.addon import NetworkDecl
from voicestack.blocks import Request, SequenceBlock
from voicestack.components.base import BuildContext, CheckEnv, register
from voicestack.components.containers import (
    Encoder,
    Encoders,
    EncodersParams,
    ParallelEncoders,
    ParallelEncodersParams,
    encode_limit,
    encoder_specs,
)
from voicestack.components.parts import PartsMixin, stats
from voicestack.components.static import IDS, LENGTHS, NOISE_PREFIX, StaticNetworkCall
from voicestack.profiles import DEFAULT_BUCKETS, MIN_BUCKET
from voicestack.spec import BlockSpec
from voicestack.tensors import DTYPES, TensorDecl, Tensors, resolve_shape

if TYPE_CHECKING:
    from voicestack.profiles import Profile


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

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> SequenceBlock:
        blocks, nets, sizes = _static_children(spec, ctx)
        block = cls.assemble(blocks, nets, spec)  # type: ignore[attr-defined]
        block.setup(nets, sizes, ctx.frontend)
        return block  # type: ignore[no-any-return]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "buckets": list(self.buckets)}  # type: ignore[misc]


@register
class StaticEncoders(_StaticEncodersComponent, Encoders):
    """Encoders on static shapes: ids padded to compiled buckets, long pieces split at phrases."""

    type_name = "StaticEncoders"
    Params = StaticEncodersParams


@register
class StaticParallelEncoders(_StaticEncodersComponent, ParallelEncoders):
    """ParallelEncoders on static shapes: independent encoders run at once, each on its bucket."""

    type_name = "StaticParallelEncoders"
    Params = StaticParallelEncodersParams


__all__ = ["StaticEncoders", "StaticParallelEncoders", "covering", "id_input", "lengths_input"]
