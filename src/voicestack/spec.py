"""JSON stack -> inert, validated specs.

Three passes, each in one place:

1. :func:`parse_stack` reads the JSON: every node's ``type`` first, then its slots
   (child blocks) and its parameters, typed against the component's ``Params``
   dataclass. Nothing is instantiated.
2. :func:`check_stack` walks the tree once more with the addon's tensor contracts:
   the networks a component binds to exist, each block's inputs are produced by its
   neighbours with compatible dtypes and shapes.
3. :func:`build_stack` instantiates every block (sessions load here, and only here).

Every problem names its JSON path, e.g. ``stack[0].streamable_block.stack[1]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voicestack.errors import SpecError
from voicestack.params import json_type as _json_type
from voicestack.params import parse_into
from voicestack.registry import REGISTRY
from voicestack.tensors import TensorDecl

if TYPE_CHECKING:
    from voicestack.blocks import Block
    from voicestack.components.base import BuildContext, CheckEnv

STACK_FORMAT_VERSION = 1


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
        return REGISTRY.get(self.type, self.path)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.name:
            out["name"] = self.name
        out.update({f.name: getattr(self.params, f.name) for f in dataclasses.fields(self.params)})
        for slot, child in self.children.items():
            out[slot] = [c.to_json() for c in child] if isinstance(child, tuple) else child.to_json()
        return out


# ---------------------------------------------------------------------------- parse


def parse_stack(value: Any, path: str = "stack") -> BlockSpec:
    """Parse a manifest's ``stack`` (a list of StreamableBlocks or one object)."""
    problems: list[tuple[str, str]] = []
    spec = _parse_root(value, path, problems)
    if problems or spec is None:
        raise SpecError(problems or [(path, "empty stack")])
    return spec


def _parse_root(value: Any, path: str, problems: list[tuple[str, str]]) -> BlockSpec | None:
    from voicestack.components.base import EmptyParams

    if isinstance(value, Mapping):
        return _parse_block(value, path, "streamable", problems)
    if not isinstance(value, list):
        problems.append((path, f"expected a list of blocks, got {_json_type(value)}"))
        return None
    if not value:
        problems.append((path, "empty stack; expected at least one StreamableBlock"))
        return None
    blocks = [_parse_block(item, f"{path}[{i}]", "streamable", problems) for i, item in enumerate(value)]
    if len(blocks) == 1:
        return blocks[0]
    if any(b is None for b in blocks):
        return None
    return BlockSpec("StreamableStack", EmptyParams(), {"stack": tuple(b for b in blocks if b)}, path)


def _parse_block(value: Any, path: str, kind: str, problems: list[tuple[str, str]]) -> BlockSpec | None:
    if not isinstance(value, Mapping):
        problems.append((path, f"expected a block object with a 'type', got {_json_type(value)}"))
        return None
    type_name = value.get("type")
    if not isinstance(type_name, str):
        problems.append((path, f"missing 'type'; expected one of {', '.join(REGISTRY.names())}"))
        return None
    try:
        cls = REGISTRY.get(type_name, path)
    except SpecError as err:
        problems.extend(err.problems)
        return None
    if cls.kind != kind:
        problems.append(
            (path, f"'{type_name}' is a {cls.kind.capitalize()}Block; this slot expects a {kind.capitalize()}Block")
        )
        return None
    children: dict[str, BlockSpec | tuple[BlockSpec, ...]] = {}
    ok = True
    for slot_name, slot in cls.slots.items():
        slot_path = f"{path}.{slot_name}"
        if slot_name not in value:
            if slot.required:
                problems.append((slot_path, f"missing; '{type_name}' needs a {slot.kind.capitalize()}Block here"))
                ok = False
            continue
        raw = value[slot_name]
        if slot.many:
            if not isinstance(raw, list) or not raw:
                problems.append((slot_path, f"expected a non-empty list of {slot.kind.capitalize()}Blocks"))
                ok = False
                continue
            parsed = [_parse_block(item, f"{slot_path}[{i}]", slot.kind, problems) for i, item in enumerate(raw)]
            if any(p is None for p in parsed):
                ok = False
            else:
                children[slot_name] = tuple(p for p in parsed if p)
        else:
            child = _parse_block(raw, slot_path, slot.kind, problems)
            if child is None:
                ok = False
            else:
                children[slot_name] = child
    raw_params = {k: v for k, v in value.items() if k not in cls.slots and k not in ("type", "name")}
    params = parse_params(cls.Params, raw_params, path, type_name, problems)
    name = value.get("name")
    if name is not None and not isinstance(name, str):
        problems.append((f"{path}.name", f"expected a string, got {_json_type(name)}"))
        ok = False
    if not ok or params is None:
        return None
    return BlockSpec(type_name, params, children, path, name)


def parse_params(params_cls: type, raw: Mapping[str, Any], path: str, owner: str, problems: list[tuple[str, str]]) -> Any:
    """Type-check ``raw`` against a Params dataclass; return an instance or None."""
    return parse_into(params_cls, raw, path, owner, problems)


# ---------------------------------------------------------------------------- check


def check_block(spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
    """Validate one node against its environment; returns what it produces or emits."""
    return spec.component.check(spec, env.at(spec.path))


def check_stack(spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
    """Validate the whole tree; raise one SpecError listing every problem found."""
    emitted = check_block(spec, env)
    if env.problems:
        raise SpecError(env.problems)
    return emitted


# ---------------------------------------------------------------------------- build


def build_block(spec: BlockSpec, ctx: BuildContext) -> Block:
    """Instantiate a node and, first, its children (one pass, top-down recursion)."""
    cls = spec.component
    children: dict[str, Any] = {}
    for slot_name, child in spec.children.items():
        children[slot_name] = (
            [build_block(c, ctx) for c in child] if isinstance(child, tuple) else build_block(child, ctx)
        )
    block = cls.build(spec, children, ctx)
    block.name = ctx.unique_name(block.name)
    return block
