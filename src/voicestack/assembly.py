"""The one assembly path: manifest -> profile -> parse -> check -> build.

Every voice, the test harness, ``eval`` and nested addons (a mel model's vocoder) go
through :func:`plan` (everything that can be checked without loading a weight) and
:func:`build` (sessions open here, and only here). A nested addon is planned by the same
function with the same profile request, so a profile reaches every network in the tree:
with ``static`` a mel model's vocoder runs on compiled shapes too, with ``openvino``
every network runs on OpenVINO.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import voicestack.components  # noqa: F401  (registers the built-in blocks)
import voicestack.frontends  # noqa: F401  (registers the built-in front-ends)
from voicestack.addon import Manifest, read_manifest
from voicestack.blocks import StreamableBlock
from voicestack.components.base import BuildContext, CheckEnv, build_block, check_block
from voicestack.errors import AddonNotFound, SpecError
from voicestack.frontends import FrontEnd, FrontEndSpec, build_frontend, frontend_contracts, parse_frontend
from voicestack.profiles import BUILTIN_PROFILES, Profile, resolve_profile
from voicestack.runtime import SessionFactory
from voicestack.spec import BlockSpec, parse_stack
from voicestack.tensors import TensorDecl

ProfileRequest = str | Mapping[str, Any] | None
Transform = Callable[[Any], Any]


@dataclass
class Plan:
    """A checked voice (or vocoder) tree: nothing loaded yet."""

    manifest: Manifest
    profile: Profile
    spec: BlockSpec  # the stack as the profile runs it
    emitted: dict[str, TensorDecl]
    frontend: FrontEndSpec | None  # None for an addon fed a stream (a vocoder)
    request: ProfileRequest = None  # what the caller asked for, passed on to nested addons
    nested: dict[str, Plan] = field(default_factory=dict)  # JSON path -> a nested addon's plan
    transform: Transform | None = None

    def walk(self) -> list[Plan]:
        """This plan and every nested one, outermost first."""
        out = [self]
        for child in self.nested.values():
            out.extend(child.walk())
        return out


@dataclass
class Assembled:
    plan: Plan
    block: StreamableBlock
    frontend: FrontEnd | None


def stack_path(name: str) -> str:
    return "stack" if name == "default" else f"stacks.{name}"


def nested_request(request: ProfileRequest, outer: Profile, manifest: Manifest) -> ProfileRequest:
    """The profile a nested addon runs: the same name where it knows it, else the outer
    profile's fields (less those that name the outer addon's own stacks and networks)."""
    if isinstance(request, Mapping):
        return {k: v for k, v in request.items() if k not in ("stack", "networks")}
    name = request or "default"
    if name in manifest.profiles or name in BUILTIN_PROFILES:
        return name
    return {k: v for k, v in outer.raw.items() if k not in ("stack", "networks", "components")}


def plan(manifest: Manifest, profile: ProfileRequest = None, *, stack: str | Any = None,
         inputs: Mapping[str, TensorDecl] | None = None, stream: Mapping[str, TensorDecl] | None = None,
         resolve: Callable[[str], Path] | None = None, transform: Transform | None = None,
         require_audio: bool = True) -> Plan:
    """Parse and check ``manifest``'s stack under ``profile``; raise one SpecError listing every problem.

    ``stack``: a stack name (default: the profile's), or stack JSON of one's own.
    ``inputs``: the sequence tensors fed in (default: the front-end's contracts).
    ``stream``: tensors streamed in (a vocoder: ``{"mel": ...}``); then no front-end.
    ``transform``: applied to every stack JSON in the tree before parsing (tools, eval).
    """
    if resolve is None:
        from voicestack.catalog import resolve as catalog_resolve

        resolve = catalog_resolve
    source = manifest.source
    try:
        prof = resolve_profile(profile, manifest.profiles, manifest.stacks, manifest.networks)
    except SpecError as err:
        raise SpecError(err.problems, source=source) from None
    problems: list[tuple[str, str]] = []
    if stack is None or isinstance(stack, str):
        name = stack or prof.stack
        if name not in manifest.stacks:
            raise SpecError.at("stack", f"no stack named {name!r}; the addon has: {', '.join(manifest.stacks)}",
                               source=source)
        raw, path = manifest.stacks[name], stack_path(name)
    else:
        raw, path = stack, "stack"
    if transform is not None:
        raw = transform(raw)
    fe_spec: FrontEndSpec | None = None
    tensors: dict[str, TensorDecl] = dict(inputs or {})
    if stream is None:
        fe_spec = parse_frontend(manifest.frontend, manifest, problems=problems)
        if fe_spec is not None and inputs is None:
            tensors = frontend_contracts(fe_spec, manifest)
    try:
        spec = prof.apply(parse_stack(raw, path))
    except SpecError as err:
        raise SpecError([*problems, *err.problems], source=source) from None
    nested: dict[str, Plan] = {}

    def check_nested(addon: str, stack_name: str, streamed: dict[str, TensorDecl], at: str) -> Plan:
        try:
            inner = read_manifest(resolve(addon))
        except AddonNotFound as err:
            raise SpecError.at(f"{at}.addon", f"vocoder addon: {err}") from None
        except SpecError as err:
            raise SpecError.at(f"{at}.addon", f"vocoder addon '{addon}' is invalid: {err}") from None
        child = plan(inner, nested_request(profile, prof, inner), stack=stack_name, stream=streamed,
                     resolve=resolve, transform=transform)
        nested[at] = child
        return child

    env = CheckEnv(manifest, tensors, dict(stream) if stream is not None else None, path, problems, check_nested)
    emitted = check_block(spec, env)
    if not problems and require_audio:
        audio = emitted.get("audio")
        if audio is None or not audio.dtype.startswith("float"):
            problems.append((path, f"the stack must emit a float 'audio' stream; it emits "
                                   f"{', '.join(emitted) or 'nothing'}"))
    if problems:
        raise SpecError(problems, source=source)
    return Plan(manifest, prof, spec, emitted, fe_spec, profile, nested, transform)


def build(p: Plan, sessions: SessionFactory | None = None) -> Assembled:
    """Open every session of a checked plan and instantiate its blocks (one pass)."""
    sessions = sessions or SessionFactory()
    frontend = build_frontend(p.frontend, p.manifest) if p.frontend is not None else None
    assert frontend is None or isinstance(frontend, FrontEnd)

    def build_nested(addon: str, stack_name: str, at: str) -> StreamableBlock:
        return build(p.nested[at], sessions).block

    ctx = BuildContext(p.manifest, sessions, p.profile, frontend, nested=build_nested)
    block = build_block(p.spec, ctx)
    assert isinstance(block, StreamableBlock)
    return Assembled(p, block, frontend)


def load(source: Path | Manifest, profile: ProfileRequest = None, **kwargs: Any) -> Assembled:
    """plan + build in one call."""
    sessions = kwargs.pop("sessions", None)
    manifest = source if isinstance(source, Manifest) else read_manifest(Path(source))
    return build(plan(manifest, profile, **kwargs), sessions)


def describe_networks(block: Any) -> list[dict[str, Any]]:
    """Per network call in a built tree (nested addons included): addon, network, runtime,
    device and shapes, as they really run — for ``voicestack addon inspect --profile``."""
    rows: list[dict[str, Any]] = []
    seen: set[int] = set()

    def walk(b: Any) -> None:
        if b is None or id(b) in seen:
            return
        seen.add(id(b))
        call = getattr(b, "call", None)
        if call is not None and hasattr(call, "describe"):
            rows.append({"block": b.name, **call.describe()})
        for attr in ("blocks", "sequence_block", "streamable_block", "inner"):
            child = getattr(b, attr, None)
            for c in child if isinstance(child, list) else [child]:
                walk(c)

    walk(block)
    return rows


def mel_host(settings: Any, stack: Any) -> Manifest:
    """A manifest with no networks whose only content is mel settings and ``stack``: what a
    vocoder is checked against when mels come from outside a mel model (resynthesis, eval)."""
    return Manifest(name="mel input", version="0", language="", sample_rate=settings.sample_rate,
                    architecture="mel", root=Path("."), frontend={"type": "ids"}, inference={}, networks={},
                    stacks={"default": stack}, profiles={}, raw={"mel": settings.to_json()})


def vocoder(addon: str | Manifest, settings: Any, profile: ProfileRequest = None, **params: Any) -> StreamableBlock:
    """A built ``Vocoder`` block for a mel stream with ``settings`` (a MelSettings)."""
    name = addon if isinstance(addon, str) else str(addon.root)
    host = mel_host(settings, {"type": "Vocoder", "addon": name, **params})
    p = plan(host, profile, stream={"mel": TensorDecl("float32", (1, settings.n_mels, "F"))})
    return build(p).block


def replace_stacks(manifest: Manifest, transform: Transform) -> Manifest:
    """The manifest with ``transform`` applied to each of its stacks."""
    stacks = {k: transform(v) for k, v in manifest.stacks.items()}
    return dataclasses.replace(manifest, stacks=stacks)
