"""The addon format: a directory holding ``addon.json`` and the network files.

``addon.json`` (format_version 1)::

    {"format_version": 1, "name": "joe", "version": "1.0.0", "language": "en-us",
     "sample_rate": 22050, "architecture": "vits",
     "frontend": {"type": "espeak", "voice": "en-us", "phoneme_id_map": {...}},
     "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
     "networks": {"encoder": {"file": "encoder.onnx", "format": "onnx", "role": "encoder",
                              "inputs": {"input": {"dtype": "int64", "shape": [1, "T"]}, ...},
                              "outputs": {...}}, ...},
     "stack": [...], "stacks": {"name": [...]}, "profiles": {"name": {...}}}

A network input may carry a ``feed``: the framework fills it instead of a neighbour
(``{"params": ["noise_scale", ...]}``, ``{"param": "length_scale"}``,
``{"noise": "normal"}`` seeded per request, ``{"fill": 1.0}``).
"""

from __future__ import annotations

import json
import math
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from voicestack.assets import AssetDecl, SpeakerDecl, confined, parse_assets, parse_speakers
from voicestack.errors import SpecError
from voicestack.onnxtools import external_data_files, graph_io
from voicestack.params import json_repr, limits, parse_into, safe_text
from voicestack.paths import write_atomic
from voicestack.tensors import TensorDecl, parse_decl

MANIFEST = "addon.json"
FORMAT_VERSION = 1
SUPPORTED_FORMATS = ("onnx",)
ROLES = ("encoder", "decoder", "vocoder", "other")
KINDS = ("voice", "vocoder")
MAX_TIME_RATIO = 65536
# the inference parameters every voice understands, and their ranges
PARAM_LIMITS = {
    "length_scale": (0.05, 20.0),
    "noise_scale": (0.0, 5.0),
    "noise_w": (0.0, 5.0),
}  # a vocoder addon is used by other addons' stacks, never spoken to directly


@dataclass(frozen=True)
class Feed:
    kind: str  # params | param | noise | fill
    value: Any


@dataclass(frozen=True)
class InputDecl:
    decl: TensorDecl
    feed: Feed | None = None


@dataclass(frozen=True)
class NetworkDecl:
    name: str
    path: Path
    format: str
    role: str
    inputs: Mapping[str, InputDecl]
    outputs: Mapping[str, TensorDecl]
    depends: tuple[str, ...] = ()  # encoder networks whose outputs it reads
    time_ratio: int = 1  # output steps per input step along time (a vocoder's hop length)

    @property
    def needed_inputs(self) -> dict[str, TensorDecl]:
        """Inputs a neighbour must provide (everything without a feed)."""
        return {n: i.decl for n, i in self.inputs.items() if i.feed is None}


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    language: str
    sample_rate: int
    architecture: str
    root: Path
    frontend: Mapping[str, Any]
    inference: Mapping[str, float]
    networks: Mapping[str, NetworkDecl]
    stacks: Mapping[str, Any]  # raw JSON per stack name; "default" always present
    profiles: Mapping[str, Any]
    description: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    assets: Mapping[str, AssetDecl] = field(default_factory=dict)
    speakers: Mapping[str, SpeakerDecl] = field(default_factory=dict)
    default_speaker: str | None = None
    fallback: Fallback | None = None

    @property
    def kind(self) -> str:
        return str(self.raw.get("kind", "voice"))

    @property
    def mel(self) -> Mapping[str, Any] | None:
        """Mel-spectrogram settings of a mel model or a mel vocoder (None otherwise)."""
        return self.raw.get("mel")

    @property
    def source(self) -> str:
        return f"addon '{self.name}'"


def read_manifest(root: Path) -> Manifest:
    """Parse and validate ``root/addon.json`` (schema, files, graph I/O). Loads no weights."""
    root = Path(root)
    path = root / MANIFEST
    source = f"addon at {root}"
    if not root.is_dir():
        raise SpecError.at("", f"'{root}' is not a directory holding {MANIFEST}", source=source)
    if not path.is_file():
        raise SpecError.at("", f"no {MANIFEST} in {root}", source=source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise SpecError.at("", f"{MANIFEST} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}", source=source) from None
    except UnicodeDecodeError as err:
        raise SpecError.at("", f"{MANIFEST} is not UTF-8 text: {err}", source=source) from None
    except RecursionError:
        raise SpecError.at("", f"{MANIFEST} is nested too deeply to be an addon manifest", source=source) from None
    if not isinstance(data, dict):
        raise SpecError.at("", f"{MANIFEST} must hold a JSON object", source=source)
    if isinstance(data.get("name"), str):
        source = f"addon '{data['name']}'"
    manifest, problems = parse_manifest(data, root)
    if problems or manifest is None:
        raise SpecError(problems, source=source)
    return manifest


@dataclass(frozen=True)
class ManifestFields:
    """The top level of ``addon.json`` (parsed by ``voicestack.params``; the sections with
    files, contracts and feeds are parsed by their own functions below)."""

    format_version: int
    name: str = field(metadata=limits(nonempty=True, max_len=200))
    version: str = field(metadata=limits(nonempty=True, max_len=100))
    language: str = field(metadata=limits(nonempty=True, max_len=50, doc="a language tag such as 'en-us'"))
    sample_rate: int = field(metadata=limits(lo=1000, hi=384000))
    frontend: Mapping[str, Any] = field(metadata=limits(doc="an object with a 'type'"))
    stack: Any = field(metadata=limits(doc="the list of blocks that make this voice"))
    networks: Any = field(metadata=limits(doc="an object naming at least one network"))
    architecture: str = ""
    description: str = ""
    kind: Literal["voice", "vocoder"] = "voice"
    inference: Any = None
    stacks: Mapping[str, Any] = field(default_factory=dict)
    profiles: Mapping[str, Any] = field(default_factory=dict)
    license: str = ""
    source: str = ""
    mel: Mapping[str, Any] | None = None
    assets: Any = None
    speakers: Any = None
    default_speaker: str | None = None
    fallback: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Fallback:
    """Who finishes an utterance when this voice fails inside it (an attention guard fired):
    another ``stack`` of the addon, or another ``voice`` reading the same ids."""

    voice: str | None = field(default=None, metadata=limits(nonempty=True, max_len=200))
    stack: str | None = field(default=None, metadata=limits(nonempty=True, max_len=200))

    def __post_init__(self) -> None:
        if (self.voice is None) == (self.stack is None):
            raise ValueError("expected exactly one of 'voice' (another voice) or 'stack' (a stack of this addon)")


def parse_manifest(data: Mapping[str, Any], root: Path) -> tuple[Manifest | None, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        problems.append(("format_version", f"got {json_repr(version)}, expected {FORMAT_VERSION} (this voicestack "
                                           f"reads addon format {FORMAT_VERSION})"))
        return None, problems
    top = parse_into(ManifestFields, data, "", "addon.json", problems)
    name = top.name if top else None
    ver = top.version if top else None
    language = top.language if top else None
    rate = top.sample_rate if top else None
    architecture = top.architecture if top else ""
    frontend = data.get("frontend")
    if isinstance(frontend, Mapping) and not isinstance(frontend.get("type"), str):
        problems.append(("frontend.type", "missing; expected the name of a registered front-end"))
    inference = _parse_inference(data.get("inference", {}), problems)
    assets = parse_assets(data.get("assets"), Path(root), problems)
    speakers, default_speaker = parse_speakers(data.get("speakers"), data.get("default_speaker"), assets, problems)
    networks = _parse_networks(data.get("networks"), Path(root), problems)
    _check_feeds(networks, inference, assets, speakers, problems)
    stacks: dict[str, Any] = {}
    if "stack" in data:
        stacks["default"] = data["stack"]
    extra = data.get("stacks", {})
    for key, value in extra.items() if isinstance(extra, Mapping) else ():
        if key == "default":
            problems.append(("stacks.default", "duplicate name: 'default' is the top-level 'stack'"))
        else:
            stacks[key] = value
    profiles = data.get("profiles", {})
    if not isinstance(profiles, Mapping):
        profiles = {}
    fallback = parse_into(Fallback, top.fallback, "fallback", "fallback", problems) \
        if top is not None and top.fallback is not None else None
    if fallback is not None and fallback.stack is not None and fallback.stack not in stacks:
        problems.append(("fallback.stack", f"no stack {fallback.stack!r} (stacks: {', '.join(stacks) or 'none'})"))
    if problems:
        return None, problems
    manifest = Manifest(
        name=name, version=ver, language=language, sample_rate=rate, architecture=str(architecture),
        root=Path(root), frontend=frontend, inference={k: float(v) for k, v in inference.items()},
        networks=networks, stacks=stacks, profiles=profiles, description=str(data.get("description", "")),
        raw=data, assets=assets, speakers=speakers, default_speaker=default_speaker, fallback=fallback,
    )
    return manifest, problems


def _parse_networks(value: Any, root: Path, problems: list[tuple[str, str]]) -> dict[str, NetworkDecl]:
    if not isinstance(value, dict) or not value:
        problems.append(("networks", "expected an object naming at least one network"))
        return {}
    out: dict[str, NetworkDecl] = {}
    seen_files: dict[str, str] = {}
    for name, spec in value.items():
        path = f"networks.{name}"
        if not isinstance(spec, dict):
            problems.append((path, "expected an object with 'file', 'format', 'inputs' and 'outputs'"))
            continue
        n_before = len(problems)
        fmt = spec.get("format", "onnx")
        if fmt not in SUPPORTED_FORMATS:
            problems.append((f"{path}.format", f"got {fmt!r}, expected one of {', '.join(SUPPORTED_FORMATS)}"))
        role = spec.get("role", "other")
        if role not in ROLES:
            problems.append((f"{path}.role", f"got {role!r}, expected one of {', '.join(ROLES)}"))
        file = spec.get("file")
        file_path = None
        if not isinstance(file, str) or not file:
            problems.append((f"{path}.file", "missing; expected the network file's path relative to the addon"))
        else:
            # the path may not climb out of the addon (a symlink inside it may point anywhere)
            file_path = Path(os.path.normpath(root.absolute() / file))
            if not file_path.is_relative_to(Path(os.path.normpath(root.absolute()))):
                problems.append((f"{path}.file", f"'{file}' points outside the addon directory"))
            elif not file_path.is_file():
                problems.append((f"{path}.file", f"file '{file}' not found in {root}"))
            elif file in seen_files:
                problems.append((f"{path}.file", f"'{file}' is already network '{seen_files[file]}'"))
            else:
                seen_files[file] = name
        inputs: dict[str, InputDecl] = {}
        raw_inputs = spec.get("inputs")
        if not isinstance(raw_inputs, dict) or not raw_inputs:
            problems.append((f"{path}.inputs", "expected an object of input declarations"))
        else:
            for iname, idecl in raw_inputs.items():
                decl = parse_decl(idecl, f"{path}.inputs.{iname}", problems)
                feed = _parse_feed(idecl.get("feed") if isinstance(idecl, dict) else None, f"{path}.inputs.{iname}.feed", problems)
                if decl is not None:
                    inputs[iname] = InputDecl(decl, feed)
        outputs: dict[str, TensorDecl] = {}
        raw_outputs = spec.get("outputs")
        if not isinstance(raw_outputs, dict) or not raw_outputs:
            problems.append((f"{path}.outputs", "expected an object of output declarations"))
        else:
            for oname, odecl in raw_outputs.items():
                decl = parse_decl(odecl, f"{path}.outputs.{oname}", problems)
                if decl is not None:
                    outputs[oname] = decl
        depends = spec.get("depends", [])
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            problems.append((f"{path}.depends", "expected a list of network names"))
            depends = []
        ratio = spec.get("time_ratio", 1)
        if not isinstance(ratio, int) or isinstance(ratio, bool) or not 1 <= ratio <= MAX_TIME_RATIO:
            problems.append((f"{path}.time_ratio", f"got {json_repr(ratio)}, expected a whole number from 1 to "
                             f"{MAX_TIME_RATIO} (output steps per input step)"))
        if len(problems) == n_before and file_path is not None:
            _check_graph(file_path, inputs, outputs, path, problems)
        if len(problems) == n_before and file_path is not None:
            _check_external_data(file_path, root, path, problems)
        if len(problems) == n_before and file_path is not None:
            out[name] = NetworkDecl(name, file_path, fmt, role, inputs, outputs, tuple(depends), ratio)
    for name, net in out.items():
        for dep in net.depends:
            if dep not in value:
                problems.append((f"networks.{name}.depends", f"network '{dep}' is not declared"))
    cycle = _depends_cycle(out)
    if cycle:
        problems.append((f"networks.{cycle[0]}.depends", f"dependency cycle: {' -> '.join(cycle)}"))
    return out


FEED_KINDS = ("params", "param", "noise", "fill", "speaker_id", "asset_row")


def _parse_feed(value: Any, path: str, problems: list[tuple[str, str]]) -> Feed | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in FEED_KINDS:
        problems.append((path, f"expected an object with exactly one of {', '.join(FEED_KINDS)}"))
        return None
    kind, arg = next(iter(value.items()))
    if kind == "asset_row":
        ok = (isinstance(arg, dict) and isinstance(arg.get("asset"), str) and isinstance(arg.get("row"), str)
              and set(arg) <= {"asset", "row", "offset"}
              and isinstance(arg.get("offset", 0), int) and not isinstance(arg.get("offset", 0), bool))
        if not ok:
            problems.append((f"{path}.{kind}", f"got {json_repr(arg)}, expected {{\"asset\": NAME, \"row\": "
                             "TENSOR, \"offset\": INT}: the request speaker's table, row chosen by a tensor's value"))
            return None
        return Feed(kind, types.MappingProxyType(dict(arg)))
    valid = {
        "params": isinstance(arg, list) and bool(arg) and all(isinstance(a, str) for a in arg),
        "param": isinstance(arg, str),
        "noise": arg == "normal",
        "fill": isinstance(arg, (int, float)) and not isinstance(arg, bool) and math.isfinite(arg),
        "speaker_id": arg is True,
    }[kind]
    if not valid:
        problems.append((f"{path}.{kind}", f"bad value {json_repr(arg)}"))
        return None
    return Feed(kind, tuple(arg) if isinstance(arg, list) else arg)


def _check_feeds(networks: Mapping[str, NetworkDecl], inference: Mapping[str, float], assets: Mapping[str, AssetDecl],
                 speakers: Mapping[str, SpeakerDecl], problems: list[tuple[str, str]]) -> None:
    """Feeds name things that exist: inference parameters with defaults, assets, speakers."""
    for net in networks.values():
        for iname, inp in net.inputs.items():
            if inp.feed is None:
                continue
            path = f"networks.{net.name}.inputs.{iname}.feed.{inp.feed.kind}"
            if inp.feed.kind in ("params", "param"):
                names = inp.feed.value if inp.feed.kind == "params" else (inp.feed.value,)
                for n in names:
                    if n not in inference:
                        problems.append((path, f"inference parameter {n!r} has no default in 'inference' "
                                               f"(it has: {', '.join(inference) or 'none'})"))
            elif inp.feed.kind == "speaker_id":
                if not speakers or any(s.id is None for s in speakers.values()):
                    problems.append((path, "a speaker_id feed needs 'speakers' that each have an 'id'"))
            elif inp.feed.kind == "asset_row":
                asset = inp.feed.value["asset"]
                if asset not in assets:
                    problems.append((path, f"no asset named {asset!r}; the addon has: {', '.join(assets) or 'none'}"))
                elif not any(s.asset == asset for s in speakers.values()):
                    problems.append((path, f"asset_row reads the request speaker's array of '{asset}', but no "
                                           "speaker uses that asset"))


def _parse_inference(value: Any, problems: list[tuple[str, str]]) -> dict[str, float]:
    if not isinstance(value, dict):
        problems.append(("inference", "expected an object of numbers (noise_scale, length_scale, ...)"))
        return {}
    out = {}
    for key, v in value.items():
        lo, hi = PARAM_LIMITS.get(key, (-1e6, 1e6))
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
            problems.append((f"inference.{safe_text(key)}", f"got {json_repr(v)}, expected a number from {lo} to {hi}"))
            continue
        out[str(key)] = float(v)
    return out


def _depends_cycle(networks: Mapping[str, NetworkDecl]) -> list[str]:
    """A cycle in the networks' ``depends`` (as a path a -> b -> a), or []."""
    state: dict[str, int] = {}
    trail: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        trail.append(name)
        for dep in networks[name].depends if name in networks else ():
            if state.get(dep) == 1:
                return [*trail[trail.index(dep):], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        state[name] = 2
        trail.pop()
        return []

    for name in networks:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return []


def _check_external_data(file_path: Path, root: Path, path: str, problems: list[tuple[str, str]]) -> None:
    """Weights stored beside an ONNX file must lie inside the addon too."""
    try:
        locations = external_data_files(file_path)
    except Exception as err:  # onnx raises several types on a broken file; _check_graph reported it
        problems.append((f"{path}.file", f"'{file_path.name}' cannot be read: {type(err).__name__}"))
        return
    for location in locations:
        target = confined(root, os.path.join(os.path.relpath(file_path.parent, Path(root).absolute()), location))
        if target is None or not target.is_file():
            problems.append((f"{path}.file", f"'{file_path.name}' keeps weights in {location!r}, which is "
                             + ("outside the addon directory" if target is None else "missing")))


def _check_graph(
    file_path: Path, inputs: Mapping[str, InputDecl], outputs: Mapping[str, TensorDecl], path: str,
    problems: list[tuple[str, str]],
) -> None:
    try:
        real_in, real_out = graph_io(file_path)
    except ValueError as err:
        problems.append((f"{path}.file", f"'{file_path.name}' is {err}"))
        return
    for kind, declared, real in (("inputs", {k: v.decl for k, v in inputs.items()}, real_in), ("outputs", outputs, real_out)):
        for n in real:
            if n not in declared:
                problems.append((f"{path}.{kind}", f"the graph has {kind[:-1]} '{n}' {list(real[n].shape)} that is not declared"))
        for n, d in declared.items():
            if n not in real:
                problems.append((f"{path}.{kind}.{n}", f"declared but the graph has no such {kind[:-1]} (graph has: {', '.join(real)})"))
                continue
            r = real[n]
            if r.dtype != d.dtype or r.rank != d.rank or any(
                isinstance(a, int) and isinstance(b, int) and b > 0 and a != b for a, b in zip(d.shape, r.shape, strict=True)
            ):
                problems.append((f"{path}.{kind}.{n}", f"declared {d.dtype} {list(d.shape)}, the graph says {r.dtype} {list(r.shape)}"))


def write_manifest(root: Path, data: Mapping[str, Any]) -> Path:
    """Write ``addon.json`` atomically (never a half-written manifest)."""
    return write_atomic(Path(root) / MANIFEST, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
