"""One way to validate parameters: JSON values -> a frozen, typed dataclass.

Block params, front-end settings, profiles, the service configuration and request
bodies are all declared as dataclasses and parsed here, so every error has one shape:
the full key path, the value found and what was expected::

    stack[0].streamable_block.stack[1].growth: got a number 0.5, expected >= 1.0
    speed: got a string 'fast', expected a number

Field metadata refines the type (``field(default=1.0, metadata=limits(lo=0.25, hi=4.0))``):
``lo``/``hi`` bounds, ``nonempty`` for strings and lists, ``max_len``. ``Literal[...]``
fields take one of their values. Hostile values (integers of thousands of digits,
non-finite numbers, lone surrogates) are refused with the same message shape.

A leaf module: it imports nothing from voicestack but the error types.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

from voicestack.errors import SpecError

T = TypeVar("T")
Problems = list[tuple[str, str]]
MAX_INT_DIGITS = 19  # beyond int64 nothing we take is meaningful (seeds, sizes, counts)


def limits(lo: float | None = None, hi: float | None = None, *, nonempty: bool = False,
           max_len: int | None = None, doc: str = "") -> dict[str, Any]:
    """Field metadata for :func:`parse`: bounds on numbers, lengths of strings and lists."""
    return {"lo": lo, "hi": hi, "nonempty": nonempty, "max_len": max_len, "doc": doc}


def join(path: str, key: str | int) -> str:
    """``stack[0]`` + ``type`` -> ``stack[0].type``; ``a`` + 3 -> ``a[3]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def parse(cls: type[T], raw: Any, path: str = "", owner: str = "", problems: Problems | None = None) -> T:
    """Parse ``raw`` into ``cls``; raise one :class:`SpecError` naming every problem.

    With ``problems`` given, problems are appended there instead and a partially valid
    parse raises nothing: the caller gathers every error of a tree before raising.
    """
    collect: Problems = [] if problems is None else problems
    before = len(collect)
    value = parse_into(cls, raw, path, owner, collect)
    if problems is None and len(collect) > before:
        raise SpecError(collect)
    return value  # type: ignore[return-value]


def parse_into(cls: type[T], raw: Any, path: str, owner: str, problems: Problems) -> T | None:
    """Like :func:`parse` but always collects; returns None when ``raw`` is invalid."""
    if not isinstance(raw, Mapping):
        problems.append((path, f"expected an object, got {json_type(raw)}"))
        return None
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    ok = True
    for key in raw:
        if key not in fields:
            valid = ", ".join(sorted(fields)) or "none"
            who = f" for '{owner}'" if owner else ""
            problems.append((join(path, safe_text(key)), f"unknown parameter{who}; valid parameters: {valid}"))
            ok = False
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                who = f" of '{owner}'" if owner else ""
                what = f.metadata.get("doc") or type_name(hints[name])
                problems.append((join(path, name), f"missing required parameter{who} ({what})"))
                ok = False
            continue
        why = check_value(raw[name], hints[name], f.metadata)
        if why is not None:
            problems.append((join(path, name), why))
            ok = False
            continue
        values[name] = freeze(raw[name], hints[name])
    if not ok:
        return None
    try:
        return cls(**values)
    except (ValueError, TypeError) as err:  # __post_init__ checks across fields
        problems.append((path, f"bad parameters{f' for {owner!r}' if owner else ''}: {err}"))
        return None


def check_value(value: Any, hint: Any, meta: Mapping[str, Any] | None = None) -> str | None:
    """Why ``value`` does not fit ``hint`` (and the field's limits), or None."""
    if not conforms(value, hint):
        return f"got {json_repr(value)}, expected {type_name(hint)}"
    meta = meta or {}
    lo, hi = meta.get("lo"), meta.get("hi")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if lo is not None and value < lo:
            return f"got {json_repr(value)}, expected >= {lo}" + (f" and <= {hi}" if hi is not None else "")
        if hi is not None and value > hi:
            return f"got {json_repr(value)}, expected <= {hi}" + (f" and >= {lo}" if lo is not None else "")
    if isinstance(value, (str, list, tuple)):
        if meta.get("nonempty") and not value:
            return f"got {json_repr(value)}, expected a non-empty {'string' if isinstance(value, str) else 'list'}"
        max_len = meta.get("max_len")
        if max_len is not None and len(value) > max_len:
            return f"got {json_type(value)} of length {len(value)}, expected at most {max_len}"
    return None


def conforms(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return True
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool) and _int_ok(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return _int_ok(value) if isinstance(value, int) else math.isfinite(value)
    if hint is str:
        return isinstance(value, str) and _text_ok(value)
    if origin in (list, tuple, Sequence):
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],)
        item = args[0] if args else Any
        return isinstance(value, (list, tuple)) and all(conforms(v, item) for v in value)
    if origin in (dict, Mapping):
        key_t, val_t = args if args else (Any, Any)
        return isinstance(value, Mapping) and all(conforms(k, key_t) and conforms(v, val_t) for k, v in value.items())
    return isinstance(value, hint) if isinstance(hint, type) else False


def _int_ok(value: int) -> bool:
    # a bound on size, not on digits: str() of a huge int is itself quadratic
    return -(10**MAX_INT_DIGITS) < value < 10**MAX_INT_DIGITS


def _text_ok(value: str) -> bool:
    """Lone surrogates cannot be encoded anywhere (headers, logs, espeak): refuse them."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def safe_text(value: Any, limit: int = 60) -> str:
    """A printable, bounded form of any value, for messages (never raises)."""
    if isinstance(value, int) and not isinstance(value, bool) and not _int_ok(value):
        return "an integer too large"
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def freeze(value: Any, hint: Any = Any) -> Any:
    """Lists become tuples and objects read-only mappings; ints given for a float become floats."""
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, Mapping):
        return types.MappingProxyType({k: freeze(v) for k, v in value.items()})
    return value


def type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if hint is type(None):
        return "null"
    if origin in (list, tuple, Sequence):
        return f"a list of {type_name(args[0]) if args else 'values'}"
    if origin in (dict, Mapping):
        return f"an object of {type_name(args[1])}" if args else "an object"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", tuple: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), "an object" if isinstance(value, Mapping)
                                                       else type(value).__name__)


def json_repr(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)) or isinstance(value, Mapping):
        return json_type(value)
    return f"{json_type(value)} {safe_text(value if not isinstance(value, str) else repr(value))}"
