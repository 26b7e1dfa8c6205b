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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from voicestack.assets import AssetDecl, SpeakerDecl, parse_assets, parse_speakers
from voicestack.errors import SpecError
from voicestack.networks import (  # re-exported: the manifest's types
    NetworkDecl,
    _check_feeds,
    _parse_networks,
)
from voicestack.params import json_repr, limits, parse_into, safe_text
from voicestack.paths import write_atomic

MANIFEST = "addon.json"
FORMAT_VERSION = 1
KINDS = ("voice", "vocoder")
# the inference parameters every voice understands, and their ranges
PARAM_LIMITS = {
    "length_scale": (0.05, 20.0),
    "noise_scale": (0.0, 5.0),
    "noise_w": (0.0, 5.0),
}  # a vocoder addon is used by other addons' stacks, never spoken to directly


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


def write_manifest(root: Path, data: Mapping[str, Any]) -> Path:
    """Write ``addon.json`` atomically (never a half-written manifest)."""
    return write_atomic(Path(root) / MANIFEST, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
