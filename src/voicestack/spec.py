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

from collections.abc import Mapping
from typing import Any

from voicestack.components.base import COMPONENTS, BlockSpec, EmptyParams, build_block, check_block, check_stack
from voicestack.errors import SpecError
from voicestack.params import json_type as _json_type
from voicestack.params import parse_into

__all__ = ["STACK_FORMAT_VERSION", "BlockSpec", "build_block", "check_block", "check_stack", "parse_params",
           "parse_stack"]
MAX_DEPTH = 64  # stacks nest a few levels; a deeper one is a mistake (or an attack on the parser)

STACK_FORMAT_VERSION = 1


# ---------------------------------------------------------------------------- parse


def parse_stack(value: Any, path: str = "stack") -> BlockSpec:
    """Parse a manifest's ``stack`` (a list of StreamableBlocks or one object)."""
    problems: list[tuple[str, str]] = []
    spec = _parse_root(value, path, problems)
    if problems or spec is None:
        raise SpecError(problems or [(path, "empty stack")])
    return spec


def _parse_root(value: Any, path: str, problems: list[tuple[str, str]]) -> BlockSpec | None:
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


def _parse_block(value: Any, path: str, kind: str, problems: list[tuple[str, str]], depth: int = 0) -> BlockSpec | None:
    if depth > MAX_DEPTH:
        problems.append((path, f"stack nested more than {MAX_DEPTH} levels deep"))
        return None
    if not isinstance(value, Mapping):
        problems.append((path, f"expected a block object with a 'type', got {_json_type(value)}"))
        return None
    type_name = value.get("type")
    if not isinstance(type_name, str):
        problems.append((path, f"missing 'type'; expected one of {', '.join(COMPONENTS.names())}"))
        return None
    try:
        cls = COMPONENTS.get(type_name, path)
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
            parsed = [_parse_block(item, f"{slot_path}[{i}]", slot.kind, problems, depth + 1) for i, item in enumerate(raw)]
            if any(p is None for p in parsed):
                ok = False
            else:
                children[slot_name] = tuple(p for p in parsed if p)
        else:
            child = _parse_block(raw, slot_path, slot.kind, problems, depth + 1)
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


