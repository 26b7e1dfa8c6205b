"""What every registered block shares: typed params, slots, check and build.

A component is a block class (a SequenceBlock or StreamableBlock subclass). It
declares ``type_name``, a frozen ``Params``
dataclass, its child ``slots``, and two class methods:

* ``check(spec, env)``: validate against tensor contracts, before any weights load;
  returns the tensors it produces (SequenceBlock) or emits (StreamableBlock).
* ``build(spec, children, ctx)``: instantiate (load sessions) once the tree is valid.

It joins with one registration: ``@register`` (or an entry point in the group
``voicestack.components``). :class:`BlockSpec` is the inert, parsed form of one stack
node (``voicestack.spec`` parses JSON into it); :func:`check_block` and
:func:`build_block` walk a tree of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voicestack.blocks import Block, EmptyParams, Slot, StreamableBlock
from voicestack.errors import SpecError
from voicestack.registry import Family
from voicestack.runtime import RuntimeConfig, SessionFactory
from voicestack.tensors import TensorDecl

if TYPE_CHECKING:
    from voicestack.addon import Manifest, NetworkDecl


# every block class is a component (see voicestack.blocks); the name stays for plugins
Component = Block


COMPONENTS: Family[Block] = Family("component", "voicestack.components", Block)
register = COMPONENTS.register


@dataclass(frozen=True)
class BlockSpec:
    """One node of a stack: its type, typed parameters, child specs and JSON path."""

    type: str
    params: Any  # an instance of the component's Params dataclass
    children: Mapping[str, BlockSpec | tuple[BlockSpec, ...]] = field(default_factory=dict)
    path: str = "stack"
    name: str | None = None

    @property
    def component(self) -> Any:
        return COMPONENTS.get(self.type, self.path)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.name:
            out["name"] = self.name
        out.update({f.name: getattr(self.params, f.name) for f in dataclasses.fields(self.params)})
        for slot, child in self.children.items():
            out[slot] = [c.to_json() for c in child] if isinstance(child, tuple) else child.to_json()
        return out


# A nested addon (a vocoder) checked or built by the one assembly path, with the same profile:
# (addon name or path, stack name, stream tensors in, JSON path) -> emitted tensors / built block
NestedCheck = Callable[[str, str, dict[str, TensorDecl], str], dict[str, TensorDecl]]
NestedBuild = Callable[[str, str, str], StreamableBlock]


@dataclass
class CheckEnv:
    """What a block may rely on while being checked: networks, available tensors, upstream."""

    manifest: Manifest
    tensors: dict[str, TensorDecl]
    stream: dict[str, TensorDecl] | None
    path: str = "stack"
    problems: list[tuple[str, str]] = field(default_factory=list)
    nested: NestedCheck | None = None

    def at(self, path: str) -> CheckEnv:
        return dataclasses.replace(self, path=path)

    def with_(self, **changes: Any) -> CheckEnv:
        return dataclasses.replace(self, **changes)

    def error(self, message: str, sub: str = "") -> None:
        self.problems.append((f"{self.path}.{sub}" if sub else self.path, message))

    def network(self, name: str, param: str = "network") -> NetworkDecl | None:
        decl = self.manifest.networks.get(name)
        if decl is None:
            known = ", ".join(sorted(self.manifest.networks)) or "none"
            self.error(f"network '{name}' is not declared by addon '{self.manifest.name}'; declared: {known}", param)
        return decl

    def require(self, name: str, want: TensorDecl | None, what: str, *, stream: bool = False) -> TensorDecl | None:
        """Check that tensor ``name`` is available (from upstream stream or sequence tensors)."""
        pool = self.stream if stream else self.tensors
        origin = "the upstream stream" if stream else "the sequence tensors"
        if pool is None:
            self.error(f"{what} needs stream tensor '{name}', but nothing streams into this block")
            return None
        got = pool.get(name)
        if got is None:
            self.error(f"{what} needs tensor '{name}', which {origin} do not provide (available: {', '.join(sorted(pool)) or 'none'})")
            return None
        if want is not None:
            why = want.mismatch(got)
            if why is not None:
                self.error(f"{what}: tensor '{name}' has {why}")
                return None
        return got


@dataclass
class BuildContext:
    """What ``build`` gets: the manifest, a session factory, the profile and the front-end."""

    manifest: Manifest
    sessions: SessionFactory
    profile: Any = None  # voicestack.profiles.Profile
    frontend: Any = None  # voicestack.frontends.FrontEnd: where a piece of its ids may be cut
    names: set[str] = field(default_factory=set)  # block names given so far: each is unique
    nested: NestedBuild | None = None

    def unique_name(self, name: str) -> str:
        """Block names key metrics and per-request state: two blocks never share one."""
        candidate, n = name, 1
        while candidate in self.names:
            n += 1
            candidate = f"{name}#{n}"
        self.names.add(candidate)
        return candidate

    def runtime_for(self, network: str) -> RuntimeConfig:
        return self.profile.runtime_for(network) if self.profile is not None else RuntimeConfig()


def check_block(spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
    """Validate one node against its environment; returns what it produces or emits."""
    result: dict[str, TensorDecl] = spec.component.check(spec, env.at(spec.path))
    return result


def check_stack(spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
    """Validate the whole tree; raise one SpecError listing every problem found."""
    emitted = check_block(spec, env)
    if env.problems:
        raise SpecError(env.problems)
    return emitted


def build_block(spec: BlockSpec, ctx: BuildContext) -> Block:
    """Instantiate a node and, first, its children (one pass, top-down recursion)."""
    cls = spec.component
    children: dict[str, Any] = {}
    for slot_name, child in spec.children.items():
        children[slot_name] = (
            [build_block(c, ctx) for c in child] if isinstance(child, tuple) else build_block(child, ctx)
        )
    block: Block = cls.build(spec, children, ctx)
    block.name = ctx.unique_name(block.name)
    return block


__all__ = ["COMPONENTS", "BlockSpec", "BuildContext", "CheckEnv", "Component", "EmptyParams", "Slot", "build_block",
           "check_block", "check_stack", "register"]
