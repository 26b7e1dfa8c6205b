"""An addon's networks as its manifest declares them: each network's file, role, tensor
contracts and feeds, checked against the graph itself (its real inputs and outputs,
external data kept inside the addon) without loading a weight."""

from __future__ import annotations

import math
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicestack.assets import AssetDecl, SpeakerDecl, confined
from voicestack.onnxtools import external_data_files, graph_io
from voicestack.params import json_repr
from voicestack.tensors import TensorDecl, parse_decl

SUPPORTED_FORMATS = ("onnx",)
ROLES = ("encoder", "decoder", "vocoder", "other")
MAX_TIME_RATIO = 65536


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
