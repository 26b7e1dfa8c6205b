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
from typing import TYPE_CHECKING, Any

from voicestack.errors import SpecError
from voicestack.registry import REGISTRY
from voicestack.runtime import RUNTIMES, RuntimeConfig

if TYPE_CHECKING:
    from voicestack.spec import BlockSpec

INSTALL_HINT = {"openvino": "pip install 'voicestack[openvino]'", "onnxruntime": "pip install onnxruntime"}


def runtime_installed(name: str) -> bool:
    import importlib

    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True

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

PROFILE_KEYS = {"runtime", "providers", "device", "threads", "precision", "shapes", "stack", "networks",
                "description", "cache_dir", "spinning", "buckets", "window", "context", "components"}
NETWORK_KEYS = {"runtime", "providers", "device", "threads", "precision", "spinning"}


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


def _runtime(raw: Mapping[str, Any], base: RuntimeConfig, path: str, problems: list[tuple[str, str]]) -> RuntimeConfig:
    changes: dict[str, Any] = {}
    if "runtime" in raw:
        if raw["runtime"] not in RUNTIMES:
            problems.append((f"{path}.runtime", f"unknown runtime {raw['runtime']!r}; expected one of {', '.join(RUNTIMES)}"))
        elif not runtime_installed(raw["runtime"]):
            problems.append((f"{path}.runtime", f"runtime {raw['runtime']!r} is not installed; install it with: "
                             f"{INSTALL_HINT[raw['runtime']]}"))
        else:
            changes["runtime"] = raw["runtime"]
    if "providers" in raw:
        prov = raw["providers"]
        if not isinstance(prov, list) or not prov or not all(isinstance(p, str) for p in prov):
            problems.append((f"{path}.providers", f"got {prov!r}, expected a list of onnxruntime execution providers"))
        else:
            import onnxruntime

            available = onnxruntime.get_available_providers()
            missing = [p for p in prov if p not in available]
            if missing:
                problems.append((f"{path}.providers", f"execution provider(s) {', '.join(missing)} not available "
                                 f"in this onnxruntime (available: {', '.join(available)})"))
            else:
                changes["providers"] = tuple(prov)
    if "device" in raw:
        if not isinstance(raw["device"], str):
            problems.append((f"{path}.device", f"got {raw['device']!r}, expected a device name such as 'CPU'"))
        else:
            changes["device"] = raw["device"]
    if "threads" in raw:
        t = raw["threads"]
        if not isinstance(t, int) or isinstance(t, bool) or t < 0:
            problems.append((f"{path}.threads", f"got {t!r}, expected a whole number >= 0 (0: runtime default)"))
        else:
            changes["threads"] = t
    if "precision" in raw:
        if raw["precision"] not in ("f32", "f16", "bf16"):
            problems.append((f"{path}.precision", f"got {raw['precision']!r}, expected f32, f16 or bf16"))
        else:
            changes["precision"] = raw["precision"]
    if "cache_dir" in raw:
        changes["cache_dir"] = str(raw["cache_dir"])
    if "spinning" in raw:
        if not isinstance(raw["spinning"], bool):
            problems.append((f"{path}.spinning", f"got {raw['spinning']!r}, expected true or false"))
        else:
            changes["spinning"] = raw["spinning"]
    config = dataclasses.replace(base, **changes)
    if config.runtime == "openvino" and ("device" in raw or "runtime" in raw) and not any(
            p[0] in (f"{path}.runtime", f"{path}.device") for p in problems):
        from voicestack.runtime.ov import _device_ok, available_devices

        if not _device_ok(config.device):
            problems.append((f"{path}.device", f"OpenVINO device {config.device!r} is not available here "
                             f"(available: {', '.join(available_devices())})"))
    return config


def parse_profile(name: str, raw: Mapping[str, Any], path: str, stacks: Mapping[str, Any], networks: Mapping[str, Any]) -> Profile:
    problems: list[tuple[str, str]] = []
    if not isinstance(raw, Mapping):
        raise SpecError.at(path, f"expected an object, got {type(raw).__name__}")
    for key in raw:
        if key not in PROFILE_KEYS:
            problems.append((f"{path}.{key}", f"unknown profile field; valid fields: {', '.join(sorted(PROFILE_KEYS))}"))
    base = _runtime(raw, RuntimeConfig(), path, problems)
    shapes = raw.get("shapes", "dynamic")
    if shapes not in ("dynamic", "static"):
        problems.append((f"{path}.shapes", f"got {shapes!r}, expected 'dynamic' or 'static'"))
    stack = raw.get("stack", "default")
    if stack not in stacks:
        problems.append((f"{path}.stack", f"no stack named {stack!r}; the addon has: {', '.join(stacks)}"))
    per_net: dict[str, RuntimeConfig] = {}
    raw_nets = raw.get("networks", {})
    if not isinstance(raw_nets, Mapping):
        problems.append((f"{path}.networks", "expected an object: network name -> runtime settings"))
        raw_nets = {}
    for net, settings in raw_nets.items():
        npath = f"{path}.networks.{net}"
        if net not in networks:
            problems.append((npath, f"no network named {net!r}; the addon has: {', '.join(networks)}"))
            continue
        if not isinstance(settings, Mapping):
            problems.append((npath, "expected an object of runtime settings"))
            continue
        for key in settings:
            if key not in NETWORK_KEYS:
                problems.append((f"{npath}.{key}", f"unknown field; valid fields: {', '.join(sorted(NETWORK_KEYS))}"))
        per_net[net] = _runtime(settings, base, npath, problems)
    buckets = _sizes(raw, "buckets", path, problems, minimum=MIN_BUCKET,
                     why=f"shorter than one word: a bucket must hold at least {MIN_BUCKET} ids")
    window = _sizes(raw, "window", path, problems, minimum=2, why="too small")
    context = raw.get("context")
    if context is not None and (not isinstance(context, int) or isinstance(context, bool) or context < 0):
        problems.append((f"{path}.context", f"got {context!r}, expected a whole number of frames >= 0"))
        context = None
    if window and context is not None:
        for w in window:
            if w <= 2 * context:
                problems.append((f"{path}.window", f"window {w} is smaller than twice the context ({context}) plus "
                                 f"one frame; a window holds the context on both sides and the frames it decodes"))
    components = raw.get("components", {})
    if not isinstance(components, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in components.items()):
        problems.append((f"{path}.components", "expected an object: stack type name -> replacement type name"))
        components = {}
    for old, new in components.items():
        if new not in REGISTRY:
            problems.append((f"{path}.components.{old}",
                             f"unknown type '{new}'; expected one of {', '.join(REGISTRY.names())}"))
    if problems:
        raise SpecError(problems)
    return Profile(name, base, per_net, shapes, stack, raw, buckets, window, context, dict(components), path)


def _sizes(raw: Mapping[str, Any], key: str, path: str, problems: list[tuple[str, str]], minimum: int,
           why: str) -> tuple[int, ...] | None:
    """A size or a list of sizes (sorted, unique), each >= minimum; None when absent."""
    if key not in raw:
        return None
    value = raw[key]
    items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(items, (list, tuple)) or not items or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in items):
        problems.append((f"{path}.{key}", f"got {value!r}, expected a whole number or a non-empty list of them"))
        return None
    small = [v for v in items if v < minimum]
    if small:
        problems.append((f"{path}.{key}", f"{small[0]} is {why} (minimum {minimum})"))
        return None
    return tuple(sorted(set(items)))


def resolve_profile(profile: str | Mapping[str, Any] | None, declared: Mapping[str, Any], stacks: Mapping[str, Any],
                    networks: Mapping[str, Any]) -> Profile:
    """A profile by name (the addon's, else a built-in), or an explicit object."""
    if profile is None:
        profile = "default"
    if isinstance(profile, Mapping):
        return parse_profile("custom", profile, "profile", stacks, networks)
    if profile in declared:
        merged = {**BUILTIN_PROFILES.get(profile, {}), **declared[profile]}
        return parse_profile(profile, merged, f"profiles.{profile}", stacks, networks)
    if profile in BUILTIN_PROFILES:
        return parse_profile(profile, BUILTIN_PROFILES[profile], f"profile '{profile}'", stacks, networks)
    names = sorted(set(BUILTIN_PROFILES) | set(declared))
    raise SpecError.at("profile", f"unknown profile {profile!r}; expected one of {', '.join(names)}")
