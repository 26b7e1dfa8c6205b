"""What every registered component shares: typed params, slots, check and build.

A component is a block class (SequenceBlock or StreamableBlock subclass) that also
inherits :class:`Component`. It declares ``type_name``, a frozen ``Params``
dataclass, its child ``slots``, and two class methods:

* ``check(spec, env)``: validate against tensor contracts, before any weights load;
  returns the tensors it produces (SequenceBlock) or emits (StreamableBlock).
* ``build(spec, children, ctx)``: instantiate (load sessions) once the tree is valid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from voicestack.blocks import Block, SequenceBlock, StreamableBlock
from voicestack.tensors import TensorDecl

if TYPE_CHECKING:
    from voicestack.addon import Manifest, NetworkDecl
    from voicestack.runtime import SessionFactory
    from voicestack.spec import BlockSpec


@dataclass(frozen=True)
class EmptyParams:
    """For components that take no parameters."""


@dataclass(frozen=True)
class Slot:
    kind: str  # "sequence" | "streamable"
    many: bool = False
    required: bool = True


@dataclass
class CheckEnv:
    """What a block may rely on while being checked: networks, available tensors, upstream."""

    manifest: Manifest
    tensors: dict[str, TensorDecl]
    stream: dict[str, TensorDecl] | None
    path: str = "stack"
    problems: list[tuple[str, str]] = field(default_factory=list)

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
    """What ``build`` gets: the manifest and a factory of runtime sessions (per profile)."""

    manifest: Manifest
    sessions: SessionFactory
    profile: Any = None  # voicestack.profiles.Profile
    names: set[str] = field(default_factory=set)  # block names given so far: each is unique

    def unique_name(self, name: str) -> str:
        """Block names key metrics and per-request state: two blocks never share one."""
        candidate, n = name, 1
        while candidate in self.names:
            n += 1
            candidate = f"{name}#{n}"
        self.names.add(candidate)
        return candidate

    def runtime_for(self, network: str) -> Any:
        from voicestack.runtime import RuntimeConfig

        return self.profile.runtime_for(network) if self.profile is not None else RuntimeConfig()


class Component:
    type_name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    Params: ClassVar[type] = EmptyParams
    slots: ClassVar[Mapping[str, Slot]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if issubclass(cls, SequenceBlock):
            cls.kind = "sequence"
        elif issubclass(cls, StreamableBlock):
            cls.kind = "streamable"

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        raise NotImplementedError(f"{cls.__name__}.check")

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> Block:
        raise NotImplementedError(f"{cls.__name__}.build")
