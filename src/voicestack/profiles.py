"""Profiles: how an addon's networks run (runtime, device, threads, shapes), by name.

Every voice understands the built-in names; an addon may declare more (or refine the
built-ins) under ``profiles``; a deployment may pass a profile object of its own.

A profile changes the stack in exactly one place, :meth:`Profile.apply`: under
``shapes: "static"`` the parsed stack's integration components are substituted by
their static-shape variants (``STATIC_COMPONENTS``: Encoders -> StaticEncoders, ...),
their parameters carried over, and the profile's compiled sizes (``buckets``,
``window``, ``context``) written into them. A profile may add substitutions of its own
(``components: {"Decoder": "MyDecoder"}``) or name a whole other stack (``stack``).
No network file and no stack JSON is edited by hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from voicestack.components.base import COMPONENTS as REGISTRY
from voicestack.errors import SpecError
from voicestack.params import json_repr, limits, parse_into, safe_text
from voicestack.runtime import RUNTIMES, RuntimeConfig

if TYPE_CHECKING:
    from voicestack.spec import BlockSpec


BUILTIN_PROFILES: dict[str, dict[str, Any]] = {
    "default": {"runtime": "onnxruntime", "shapes": "dynamic",
                "description": "onnxruntime on CPU, dynamic shapes"},
    "static": {"runtime": "onnxruntime", "shapes": "static",
               "description": "onnxruntime on CPU, static shapes (what an accelerator with compiled shapes gets)"},
    "openvino": {"runtime": "openvino", "device": "CPU", "shapes": "static", "precision": "f32",
                 "description": "OpenVINO on CPU, static shapes, f32 precision"},
}

# the integration components a static profile switches to (type name -> static type name)
STATIC_COMPONENTS: dict[str, str] = {
    "Encoders": "StaticEncoders",
    "ParallelEncoders": "StaticParallelEncoders",
    "Decoder": "StaticDecoder",
}
DEFAULT_BUCKETS = (64, 128, 256)
MIN_BUCKET = 16  # about one long word of phoneme ids (with Piper's interleaved pads)

MAX_SIZE = 1 << 16  # no compiled length or window beyond this is meaningful


@dataclass(frozen=True)
class Profile:
    name: str
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    networks: Mapping[str, RuntimeConfig] = field(default_factory=dict)
    shapes: str = "dynamic"
    stack: str = "default"
    raw: Mapping[str, Any] = field(default_factory=dict)
    buckets: tuple[int, ...] | None = None  # encoder input lengths compiled (static)
    window: tuple[int, ...] | None = None  # decoder input frames per call, context included (static)
    context: int | None = None  # decoder context frames on each side (static)
    components: Mapping[str, str] = field(default_factory=dict)  # extra type substitutions
    path: str = "profile"  # where this profile came from, for error messages

    def runtime_for(self, network: str) -> RuntimeConfig:
        return self.networks.get(network, self.runtime)

    @property
    def substitutions(self) -> dict[str, str]:
        """Type name -> type name applied to the stack (static variants, then the profile's own)."""
        subs = dict(STATIC_COMPONENTS) if self.shapes == "static" else {}
        subs.update(self.components)
        return subs

    def apply(self, spec: BlockSpec) -> BlockSpec:
        """The stack this profile runs: substitutions and compiled sizes applied (one place)."""
        problems: list[tuple[str, str]] = []
        out = _substitute(spec, self, problems)
        if problems:
            raise SpecError(problems)
        return out


def _substitute(spec: BlockSpec, profile: Profile, problems: list[tuple[str, str]]) -> BlockSpec:
    children: dict[str, Any] = {}
    for slot, child in spec.children.items():
        children[slot] = (tuple(_substitute(c, profile, problems) for c in child) if isinstance(child, tuple)
                          else _substitute(child, profile, problems))
    type_name = profile.substitutions.get(spec.type, spec.type)
    params = spec.params
    if type_name != spec.type:
        try:
            cls = REGISTRY.get(type_name, spec.path)
        except SpecError as err:
            problems.extend((f"{profile.path}.components", msg) for _, msg in err.problems)
            return spec
        if cls.kind != spec.component.kind:
            problems.append((f"{profile.path}.components",
                             f"'{type_name}' is a {cls.kind.capitalize()}Block; it cannot replace '{spec.type}' "
                             f"at {spec.path}"))
            return spec
        old = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
        new_fields = {f.name for f in dataclasses.fields(cls.Params)}
        dropped = sorted(k for k in old if k not in new_fields)
        if dropped:
            problems.append((f"{profile.path}.components",
                             f"'{type_name}' cannot replace '{spec.type}' at {spec.path}: it has no "
                             f"parameter(s) {', '.join(dropped)}"))
            return spec
        try:
            params = cls.Params(**old)
        except (TypeError, ValueError) as err:
            problems.append((spec.path, f"bad parameters for '{type_name}': {err}"))
            return spec
    cls = REGISTRY.get(type_name, spec.path)
    with_profile = getattr(cls, "with_profile", None)
    if with_profile is not None:
        params = with_profile(params, profile, spec.path, problems)
    if type_name == spec.type and params is spec.params and not children:
        return spec
    return dataclasses.replace(spec, type=type_name, params=params, children=children or spec.children)


@dataclass(frozen=True)
class ProfileFields:
    """The fields every profile has, whatever its runtime (the runtime's own come on top)."""

    runtime: str = field(default="onnxruntime", metadata=limits(nonempty=True))
    shapes: Literal["dynamic", "static"] = "dynamic"
    stack: str = "default"
    description: str = ""
    buckets: int | tuple[int, ...] | None = None
    window: int | tuple[int, ...] | None = None
    context: int | None = field(default=None, metadata=limits(lo=0, hi=4096))
    components: Mapping[str, str] = field(default_factory=dict)
    networks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # cross-request batching (runtime.batching): up to this many same-shaped calls of one
    # network from concurrent streams run as one; 1: off
    batch: int = field(default=1, metadata=limits(lo=1, hi=1024))
    batch_wait_ms: float = field(default=2.0, metadata=limits(lo=0, hi=1000))


COMMON_FIELDS = frozenset(f.name for f in dataclasses.fields(ProfileFields))
NETWORK_FIELDS = frozenset({"runtime"})  # per network: the runtime and that runtime's own fields


def _runtime_config(raw: Mapping[str, Any], runtime: str, base: Mapping[str, Any], path: str,
                    problems: list[tuple[str, str]]) -> RuntimeConfig:
    """The runtime's own fields of ``raw`` (over ``base``), parsed by its Options dataclass.
    A field the runtime doesn't have is an error naming the field and the runtime."""
    if runtime not in RUNTIMES:
        problems.append((f"{path}.runtime", f"unknown runtime {safe_text(runtime)!r}; expected one of "
                                           f"{', '.join(RUNTIMES.names())}"))
        return RuntimeConfig()
    cls = RUNTIMES.get(runtime, path)
    why = cls.missing()
    if why is not None:
        problems.append((f"{path}.runtime", why))
        return RuntimeConfig(runtime)
    own = {f.name for f in dataclasses.fields(cls.Options)}
    merged = {k: v for k, v in base.items() if k in own}
    for key, value in raw.items():
        if key in own:
            merged[key] = value
        elif key not in COMMON_FIELDS:
            problems.append((f"{path}.{safe_text(key)}", f"runtime '{runtime}' has no field {safe_text(key)!r} "
                             f"(its fields: {', '.join(sorted(own)) or 'none'}; every profile: "
                             f"{', '.join(sorted(COMMON_FIELDS))})"))
    before = len(problems)
    options = parse_into(cls.Options, merged, path, f"runtime {runtime}", problems)
    if options is None or len(problems) > before:
        return RuntimeConfig(runtime)
    cls.check(options, path, problems)
    return RuntimeConfig(runtime, options)


def parse_profile(name: str, raw: Any, path: str, stacks: Mapping[str, Any], networks: Mapping[str, Any]) -> Profile:
    """A profile object -> :class:`Profile`; one SpecError naming every bad field."""
    problems: list[tuple[str, str]] = []
    if not isinstance(raw, Mapping):
        raise SpecError.at(path, f"expected an object of profile fields, got {json_repr(raw)}")
    common = parse_into(ProfileFields, {k: v for k, v in raw.items() if k in COMMON_FIELDS}, path, "profile",
                        problems)
    if common is None:
        _runtime_config(raw, str(raw.get("runtime", "onnxruntime")), {}, path, problems)
        raise SpecError(problems)
    base = _runtime_config(raw, common.runtime, {}, path, problems)
    if common.stack not in stacks:
        problems.append((f"{path}.stack", f"no stack named {safe_text(common.stack)!r}; the addon has: "
                                          f"{', '.join(stacks)}"))
    per_net: dict[str, RuntimeConfig] = {}
    for net, settings in common.networks.items():
        npath = f"{path}.networks.{safe_text(net)}"
        if net not in networks:
            problems.append((npath, f"no network named {safe_text(net)!r}; the addon has: {', '.join(networks)}"))
            continue
        if "runtime" in settings and not isinstance(settings["runtime"], str):
            problems.append((f"{npath}.runtime", f"got {json_repr(settings['runtime'])}, expected a runtime name"))
            continue
        runtime = settings.get("runtime", common.runtime)
        inherited = raw if runtime == common.runtime else {}
        per_net[net] = _runtime_config(settings, runtime, inherited, npath, problems)
    buckets = _sizes(common.buckets, f"{path}.buckets", problems, minimum=MIN_BUCKET,
                     why=f"shorter than one word: a bucket must hold at least {MIN_BUCKET} ids")
    window = _sizes(common.window, f"{path}.window", problems, minimum=2, why="too small")
    context = common.context
    if window and context is not None:
        for w in window:
            if w <= 2 * context:
                problems.append((f"{path}.window", f"window {w} is smaller than twice the context ({context}) plus "
                                 f"one frame; a window holds the context on both sides and the frames it decodes"))
    for old, new in common.components.items():
        if new not in REGISTRY:
            problems.append((f"{path}.components.{safe_text(old)}",
                             f"unknown type {safe_text(new)!r}; expected one of {', '.join(REGISTRY.names())}"))
    if common.batch > 1 and common.shapes == "static":
        why = "batching needs dynamic shapes: a static network is compiled for a batch of one"
        problems.append((f"{path}.batch", why))
    if problems:
        raise SpecError(problems)
    if common.batch > 1:
        batching = {"batch": common.batch, "batch_wait": common.batch_wait_ms / 1000}
        base = dataclasses.replace(base, **batching)
        per_net = {net: dataclasses.replace(cfg, **batching) for net, cfg in per_net.items()}
    return Profile(name, base, per_net, common.shapes, common.stack, raw, buckets, window, context,
                   dict(common.components), path)


def _sizes(value: int | tuple[int, ...] | None, path: str, problems: list[tuple[str, str]], minimum: int,
           why: str) -> tuple[int, ...] | None:
    """A size or a list of sizes (sorted, unique), each >= minimum; None when absent."""
    if value is None:
        return None
    items = (value,) if isinstance(value, int) else tuple(value)
    if not items:
        problems.append((path, "got an empty list, expected a whole number or a non-empty list of them"))
        return None
    small = [v for v in items if v < minimum]
    large = [v for v in items if v > MAX_SIZE]
    if small or large:
        problems.append((path, f"{small[0]} is {why} (minimum {minimum})" if small
                         else f"{large[0]} is larger than {MAX_SIZE}"))
        return None
    return tuple(sorted(set(items)))


def resolve_profile(profile: str | Mapping[str, Any] | None, declared: Mapping[str, Any], stacks: Mapping[str, Any],
                    networks: Mapping[str, Any]) -> Profile:
    """A profile by name (the addon's, else a built-in), or an explicit object."""
    if profile is None:
        profile = "default"
    if isinstance(profile, Mapping):
        return parse_profile("custom", profile, "profile", stacks, networks)
    if not isinstance(profile, str):
        raise SpecError.at("profile", f"expected a profile name or object, got {json_repr(profile)}")
    if profile in declared:
        own = declared[profile]
        if not isinstance(own, Mapping):
            raise SpecError.at(f"profiles.{safe_text(profile)}", f"expected an object of profile fields, got "
                                                                 f"{json_repr(own)}")
        merged = {**BUILTIN_PROFILES.get(profile, {}), **own}
        if own.get("runtime", merged.get("runtime")) != BUILTIN_PROFILES.get(profile, {}).get("runtime"):
            # a refined built-in that changes runtime keeps none of the old runtime's fields
            merged = {k: v for k, v in merged.items() if k in COMMON_FIELDS or k in own}
        return parse_profile(profile, merged, f"profiles.{safe_text(profile)}", stacks, networks)
    if profile in BUILTIN_PROFILES:
        return parse_profile(profile, BUILTIN_PROFILES[profile], f"profile '{profile}'", stacks, networks)
    names = sorted(set(BUILTIN_PROFILES) | set(declared))
    raise SpecError.at("profile", f"unknown profile {safe_text(profile)!r}; expected one of {', '.join(names)}")


def check_declared(declared: Mapping[str, Any], stacks: Mapping[str, Any], networks: Mapping[str, Any]
                   ) -> list[tuple[str, str]]:
    """Every problem of an addon's own profiles (for ``addon validate``)."""
    problems: list[tuple[str, str]] = []
    for name in declared:
        try:
            resolve_profile(str(name), declared, stacks, networks)
        except SpecError as err:
            problems.extend(err.problems)
    return problems
