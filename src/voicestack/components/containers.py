"""The abstractions' composites as stack types, and the encoder containers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicestack.blocks import (
    ParallelSequenceBlockContainer,
    Request,
    SequenceBlock,
    SequenceBlockContainer,
    StreamablePipeline,
    StreamableStack,
    check_sequence,
)
from voicestack.components.base import COMPONENTS, BuildContext, CheckEnv, register
from voicestack.components.network import NetworkCall, NetworkParams, check_renames, renamed_needs, renamed_outputs
from voicestack.components.parts import PartsMixin
from voicestack.spec import BlockSpec
from voicestack.tensors import TensorDecl, Tensors

# the composites of voicestack.blocks, registered as they are
register(StreamablePipeline)
register(StreamableStack)
register(SequenceBlockContainer)
COMPONENTS.register(SequenceBlockContainer, "SequenceBlocks")  # the name stacks used before


@register
class Encoder(SequenceBlock):
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


def encode_limit(ctx: BuildContext) -> int | None:
    """The voice's encoder limit (its front-end's), whatever the profile."""
    return ctx.frontend.encode_limit() if ctx.frontend is not None else None


def encoder_networks(specs: list[BlockSpec], ctx: BuildContext) -> list[Any]:
    return [ctx.manifest.networks[c.params.network] for c in specs]


@register
class Encoders(PartsMixin, SequenceBlockContainer):
    """All the addon's networks of a role (default ``encoder``), one Encoder each, in order;
    a piece over the voice's encoder limit is encoded in parts (``components.parts``)."""

    type_name = "Encoders"
    Params = EncodersParams
    slots = {}  # its children are the addon's networks of a role, not listed in the stack

    def run_children(self, tensors: Tensors, request: Request) -> Tensors:
        return SequenceBlockContainer.process(self, tensors, request)

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        children = encoder_specs(spec, env)
        if not children:
            env.error(f"addon '{env.manifest.name}' declares no network with role '{spec.params.role}'", "role")
            return {}
        return check_sequence(children, env)

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> SequenceBlock:
        specs = encoder_specs(spec, ctx)
        nets = encoder_networks(specs, ctx)
        block = cls.assemble([Encoder.build(c, {}, ctx) for c in specs], nets, spec)
        block.setup_parts(nets, encode_limit(ctx), ctx.frontend)
        return block

    @classmethod
    def assemble(cls, blocks: list[SequenceBlock], nets: list[Any], spec: BlockSpec) -> Any:
        """The container over its encoder blocks (the static variants build these too)."""
        return cls(blocks, spec.name or cls.type_name)


@dataclass(frozen=True)
class ParallelEncodersParams:
    role: str = "encoder"
    max_workers: int = 2

    def __post_init__(self) -> None:
        if self.max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {self.max_workers}")


@register
class ParallelEncoders(PartsMixin, ParallelSequenceBlockContainer):
    """Like Encoders, but independent encoders run at the same time on a thread pool."""

    type_name = "ParallelEncoders"
    Params = ParallelEncodersParams
    slots = {}

    def run_children(self, tensors: Tensors, request: Request) -> Tensors:
        return ParallelSequenceBlockContainer.process(self, tensors, request)

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        return Encoders.check(spec, env)

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> SequenceBlock:
        specs = encoder_specs(spec, ctx)
        nets = encoder_networks(specs, ctx)
        block = cls.assemble([Encoder.build(c, {}, ctx) for c in specs], nets, spec)
        block.setup_parts(nets, encode_limit(ctx), ctx.frontend)
        return block

    @classmethod
    def assemble(cls, blocks: list[SequenceBlock], nets: list[Any], spec: BlockSpec) -> Any:
        needs = [frozenset(renamed_needs(net, {})) for net in nets]
        return cls(blocks, needs, spec.params.max_workers, spec.name or cls.type_name)
