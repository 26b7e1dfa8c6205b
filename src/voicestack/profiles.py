"""Profiles: how an addon's networks run (runtime, device, threads, shapes), by name.

Every voice understands the built-in names; an addon may declare more (or refine the
built-ins) under ``profiles``; a deployment may pass a profile object of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voicestack.errors import SpecError
from voicestack.runtime import RUNTIMES, RuntimeConfig

BUILTIN_PROFILES: dict[str, dict[str, Any]] = {
    "default": {"runtime": "onnxruntime", "shapes": "dynamic"},
}

PROFILE_KEYS = {"runtime", "providers", "device", "threads", "precision", "shapes", "stack", "networks",
                "description", "cache_dir"}
NETWORK_KEYS = {"runtime", "providers", "device", "threads", "precision"}


@dataclass(frozen=True)
class Profile:
    name: str
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    networks: Mapping[str, RuntimeConfig] = field(default_factory=dict)
    shapes: str = "dynamic"
    stack: str = "default"
    raw: Mapping[str, Any] = field(default_factory=dict)

    def runtime_for(self, network: str) -> RuntimeConfig:
        return self.networks.get(network, self.runtime)


def _runtime(raw: Mapping[str, Any], base: RuntimeConfig, path: str, problems: list[tuple[str, str]]) -> RuntimeConfig:
    changes: dict[str, Any] = {}
    if "runtime" in raw:
        if raw["runtime"] not in RUNTIMES:
            problems.append((f"{path}.runtime", f"unknown runtime {raw['runtime']!r}; expected one of {', '.join(RUNTIMES)}"))
        else:
            changes["runtime"] = raw["runtime"]
    if "providers" in raw:
        prov = raw["providers"]
        if not isinstance(prov, list) or not prov or not all(isinstance(p, str) for p in prov):
            problems.append((f"{path}.providers", f"got {prov!r}, expected a list of onnxruntime execution providers"))
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
    return dataclasses.replace(base, **changes)


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
    if problems:
        raise SpecError(problems)
    return Profile(name, base, per_net, shapes, stack, raw)


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
