"""The abstractions as stack types, and the encoder containers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicestack.blocks import (
    ParallelSequenceBlockContainer,
    SequenceBlock,
    SequenceBlockContainer,
    StreamablePipeline,
    StreamableStack,
)
from voicestack.components.base import BuildContext, CheckEnv, Component, Slot
from voicestack.components.network import NetworkCall, NetworkParams, check_renames, renamed_needs, renamed_outputs
from voicestack.registry import register
from voicestack.spec import BlockSpec, check_block
from voicestack.tensors import TensorDecl, Tensors
from voicestack.blocks import Request


@register
class Pipeline(StreamablePipeline, Component):
    """StreamablePipeline: one SequenceBlock, then one StreamableBlock fed its tensors."""

    type_name = "StreamablePipeline"
    slots = {"sequence_block": Slot("sequence"), "streamable_block": Slot("streamable")}

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        seq = spec.children["sequence_block"]
        produced = check_block(seq, env.with_(stream=None))  # type: ignore[arg-type]
        return check_block(spec.children["streamable_block"], env.with_(tensors={**env.tensors, **produced}))  # type: ignore[arg-type]

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> Pipeline:
        return cls(children["sequence_block"], children["streamable_block"], spec.name or cls.type_name)


@register
class Stack(StreamableStack, Component):
    """StreamableStack: a chain of StreamableBlocks."""

    type_name = "StreamableStack"
    slots = {"stack": Slot("streamable", many=True)}

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        stream = env.stream
        for child in spec.children["stack"]:  # type: ignore[union-attr]
            emitted = check_block(child, env.with_(stream=stream))
            stream = emitted
        return stream or {}

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> Stack:
        return cls(children["stack"], spec.name or cls.type_name)


def _check_sequence(children: list[BlockSpec], env: CheckEnv) -> dict[str, TensorDecl]:
    available = dict(env.tensors)
    produced: dict[str, TensorDecl] = {}
    for child in children:
        out = check_block(child, env.with_(tensors=available, stream=None))
        available.update(out)
        produced.update(out)
    return produced


@register
class SequenceBlocks(SequenceBlockContainer, Component):
    """A SequenceBlockContainer of explicitly listed SequenceBlocks, run in order."""

    type_name = "SequenceBlocks"
    slots = {"blocks": Slot("sequence", many=True)}

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        return _check_sequence(list(spec.children["blocks"]), env)  # type: ignore[arg-type]

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> SequenceBlocks:
        return cls(children["blocks"], spec.name or cls.type_name)


@register
class Encoder(SequenceBlock, Component):
    """One network as a SequenceBlock: its inputs from earlier tensors or feeds."""

    type_name = "Encoder"
    Params = NetworkParams

    def __init__(self, call: NetworkCall, name: str) -> None:
        super().__init__(name)
        self.call = call

    def process(self, tensors: Tensors, request: Request) -> Tensors:
        return self.call(tensors, request, self.name)

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        net = env.network(spec.params.network)
        if net is None or not check_renames(net, spec.params, env):
            return {}
        for name, decl in renamed_needs(net, spec.params.inputs).items():
            env.require(name, decl, f"network '{net.name}'")
        return renamed_outputs(net, spec.params.outputs)

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> Encoder:
        return cls(NetworkCall.open(spec.params, ctx), spec.name or spec.params.network)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "network": self.call.net.name}


@dataclass(frozen=True)
class EncodersParams:
    role: str = "encoder"


def encoder_specs(spec: BlockSpec, env_or_ctx: Any) -> list[BlockSpec]:
    """One Encoder spec per network of the role, ordered so producers come first."""
    manifest = env_or_ctx.manifest
    nets = [n for n in manifest.networks.values() if n.role == spec.params.role]
    ordered, done = [], set()
    while nets:
        ready = [n for n in nets if all(d in done for d in n.depends)]
        if not ready:  # a dependency cycle or a dependency of another role: keep declared order
            ready = nets[:1]
        for n in ready:
            ordered.append(n)
            done.add(n.name)
            nets.remove(n)
    return [
        BlockSpec("Encoder", NetworkParams(network=n.name), {}, f"{spec.path}<network {n.name}>", n.name)
        for n in ordered
    ]


@register
class Encoders(SequenceBlockContainer, Component):
    """All the addon's networks of a role (default ``encoder``), one Encoder each, in order."""

    type_name = "Encoders"
    Params = EncodersParams

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        children = encoder_specs(spec, env)
        if not children:
            env.error(f"addon '{env.manifest.name}' declares no network with role '{spec.params.role}'", "role")
            return {}
        return _check_sequence(children, env)

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> SequenceBlock:
        blocks = [Encoder.build(c, {}, ctx) for c in encoder_specs(spec, ctx)]
        return cls(blocks, spec.name or cls.type_name)


@dataclass(frozen=True)
class ParallelEncodersParams:
    role: str = "encoder"
    max_workers: int = 2

    def __post_init__(self) -> None:
        if self.max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {self.max_workers}")


@register
class ParallelEncoders(ParallelSequenceBlockContainer, Component):
    """Like Encoders, but independent encoders run at the same time on a thread pool."""

    type_name = "ParallelEncoders"
    Params = ParallelEncodersParams

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        return Encoders.check(spec, env)

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> SequenceBlock:
        specs = encoder_specs(spec, ctx)
        blocks = [Encoder.build(c, {}, ctx) for c in specs]
        needs = [frozenset(renamed_needs(ctx.manifest.networks[c.params.network], {})) for c in specs]
        return cls(blocks, needs, spec.params.max_workers, spec.name or cls.type_name)
