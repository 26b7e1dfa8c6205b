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
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicestack.errors import SpecError
from voicestack.tensors import TensorDecl, parse_decl

MANIFEST = "addon.json"
FORMAT_VERSION = 1
SUPPORTED_FORMATS = ("onnx",)
FRONTENDS = ("espeak", "characters", "ids")
ROLES = ("encoder", "decoder", "vocoder", "other")
KINDS = ("voice", "vocoder")  # a vocoder addon is used by other addons' stacks, never spoken to directly


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
    if not isinstance(data, dict):
        raise SpecError.at("", f"{MANIFEST} must hold a JSON object", source=source)
    if isinstance(data.get("name"), str):
        source = f"addon '{data['name']}'"
    manifest, problems = parse_manifest(data, root)
    if problems or manifest is None:
        raise SpecError(problems, source=source)
    return manifest


def parse_manifest(data: Mapping[str, Any], root: Path) -> tuple[Manifest | None, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []

    def need(key: str, kind: type | tuple[type, ...], what: str) -> Any:
        if key not in data:
            problems.append((key, f"missing; expected {what}"))
            return None
        value = data[key]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            problems.append((key, f"got {value!r}, expected {what}"))
            return None
        return value

    version = data.get("format_version")
    if version != FORMAT_VERSION:
        problems.append(("format_version", f"got {version!r}, expected {FORMAT_VERSION} (this voicestack reads addon format {FORMAT_VERSION})"))
        return None, problems
    known = {"format_version", "name", "version", "language", "sample_rate", "architecture", "description",
             "frontend", "inference", "networks", "stack", "stacks", "profiles", "license", "source", "mel", "kind"}
    for key in data:
        if key not in known:
            problems.append((key, f"unknown key; valid keys: {', '.join(sorted(known))}"))
    name = need("name", str, "the addon's name (a string)")
    ver = need("version", str, "a version string")
    language = need("language", str, "a language tag such as 'en-us'")
    rate = need("sample_rate", int, "the output sample rate in Hz (an integer)")
    if isinstance(rate, int) and not 1000 <= rate <= 384000:
        problems.append(("sample_rate", f"got {rate}, expected a rate between 1000 and 384000 Hz"))
    architecture = data.get("architecture", "")
    frontend = need("frontend", dict, "an object with a 'type'")
    if isinstance(frontend, dict) and frontend.get("type") not in FRONTENDS:
        problems.append(("frontend.type", f"got {frontend.get('type')!r}, expected one of {', '.join(FRONTENDS)}"))
    inference = data.get("inference", {})
    if not isinstance(inference, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in inference.values()
    ):
        problems.append(("inference", "expected an object of numbers (noise_scale, length_scale, ...)"))
        inference = {}
    networks = _parse_networks(data.get("networks"), Path(root), problems)
    stacks: dict[str, Any] = {}
    if "stack" not in data:
        problems.append(("stack", "missing; expected the list of blocks that make this voice"))
    else:
        stacks["default"] = data["stack"]
    extra = data.get("stacks", {})
    if not isinstance(extra, dict):
        problems.append(("stacks", "expected an object of named stacks"))
    else:
        for key, value in extra.items():
            if key == "default":
                problems.append(("stacks.default", "duplicate name: 'default' is the top-level 'stack'"))
            else:
                stacks[key] = value
    if data.get("kind", "voice") not in KINDS:
        problems.append(("kind", f"got {data.get('kind')!r}, expected one of {', '.join(KINDS)}"))
    mel = data.get("mel")
    if mel is not None and not isinstance(mel, dict):
        problems.append(("mel", "expected an object of mel-spectrogram settings (sample_rate, n_fft, hop_length, ...)"))
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        problems.append(("profiles", "expected an object of named profiles"))
        profiles = {}
    if problems:
        return None, problems
    manifest = Manifest(
        name=name, version=ver, language=language, sample_rate=rate, architecture=str(architecture),
        root=Path(root), frontend=frontend, inference={k: float(v) for k, v in inference.items()},
        networks=networks, stacks=stacks, profiles=profiles, description=str(data.get("description", "")),
        raw=data,
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
        if not isinstance(ratio, int) or isinstance(ratio, bool) or ratio < 1:
            problems.append((f"{path}.time_ratio", f"got {ratio!r}, expected a positive integer"))
        if len(problems) == n_before and file_path is not None:
            _check_graph(file_path, inputs, outputs, path, problems)
        if len(problems) == n_before and file_path is not None:
            out[name] = NetworkDecl(name, file_path, fmt, role, inputs, outputs, tuple(depends), ratio)
    for name, net in out.items():
        for dep in net.depends:
            if dep not in value:
                problems.append((f"networks.{name}.depends", f"network '{dep}' is not declared"))
    return out


def _parse_feed(value: Any, path: str, problems: list[tuple[str, str]]) -> Feed | None:
    if value is None:
        return None
    kinds = ("params", "param", "noise", "fill")
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in kinds:
        problems.append((path, f"expected an object with exactly one of {', '.join(kinds)}"))
        return None
    kind, arg = next(iter(value.items()))
    valid = {
        "params": isinstance(arg, list) and all(isinstance(a, str) for a in arg),
        "param": isinstance(arg, str),
        "noise": arg == "normal",
        "fill": isinstance(arg, (int, float)) and not isinstance(arg, bool),
    }[kind]
    if not valid:
        problems.append((f"{path}.{kind}", f"bad value {arg!r}"))
        return None
    return Feed(kind, tuple(arg) if isinstance(arg, list) else arg)


_graph_io_cache: dict[str, tuple[dict[str, TensorDecl], dict[str, TensorDecl]]] = {}


def graph_io(path: Path) -> tuple[dict[str, TensorDecl], dict[str, TensorDecl]]:
    """The real inputs/outputs of an ONNX file (cached by content). Raises ValueError."""
    from voicestack.runtime import content_key

    key = content_key(path)
    if key not in _graph_io_cache:
        import onnx
        from google.protobuf.message import DecodeError

        try:
            model = onnx.load(str(path), load_external_data=False)
        except (DecodeError, RuntimeError, ValueError, OSError) as err:
            raise ValueError(f"not an ONNX model ({type(err).__name__}: {err})") from None
        if not model.graph.node and not model.graph.output:
            raise ValueError("not an ONNX model (no graph in the file)")
        inits = {i.name for i in model.graph.initializer}

        def decl(v: Any) -> TensorDecl:
            t = v.type.tensor_type
            dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name if t.elem_type else "float32"
            dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim)
            return TensorDecl(dtype, dims)

        ins = {v.name: decl(v) for v in model.graph.input if v.name not in inits}
        outs = {v.name: decl(v) for v in model.graph.output}
        _graph_io_cache[key] = (ins, outs)
    return _graph_io_cache[key]


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
    root.mkdir(parents=True, exist_ok=True)
    target = root / MANIFEST
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target
