"""``voicestack addon``: import a Piper voice, validate an addon, inspect one. ``validate``
and ``inspect`` take an addon directory or the name of a voice (``joe``, ``joe-mel``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from voicestack.errors import SpecError


def add_parser(sub: Any) -> None:
    addon = sub.add_parser("addon", help="make, check and inspect addons")
    asub = addon.add_subparsers(dest="addon_command", required=True, metavar="COMMAND",
                                parser_class=type(addon))
    imp = asub.add_parser("import-piper", help="turn a Piper voice (.onnx + .onnx.json) into a streaming addon")
    imp.add_argument("model", type=Path, help="the Piper voice's .onnx file")
    imp.add_argument("-c", "--config", type=Path, help="the voice's .onnx.json (default: MODEL.json)")
    imp.add_argument("-o", "--output", type=Path, required=True, help="addon directory to create")
    imp.add_argument("--name", help="voice name (default: from the model file name)")
    imp.set_defaults(func=cmd_import)
    val = asub.add_parser("validate", help="check an addon: exit 0, or every error with its JSON path")
    val.add_argument("addon", metavar="ADDON", help="an addon directory or a voice name")
    val.set_defaults(func=cmd_validate)
    ins = asub.add_parser("inspect", help="show an addon's networks, tensor contracts and stack tree")
    ins.add_argument("addon", metavar="ADDON", help="an addon directory or a voice name")
    ins.add_argument("--json", action="store_true", help="machine-readable output")
    ins.set_defaults(func=cmd_inspect)


def addon_path(arg: str) -> Path:
    """A path if it looks like one or exists; otherwise a voice name, resolved."""
    path = Path(arg).expanduser()
    if os.sep in arg or arg.startswith(".") or path.exists():
        if not path.is_dir():
            from voicestack.cli import CliError

            raise CliError(f"addon: {arg} is not an addon directory ({'not a directory' if path.exists() else 'no such directory'})")
        return path
    from voicestack.catalog import resolve

    return resolve(arg)


def cmd_import(args: argparse.Namespace) -> int:
    from voicestack.importers.piper import import_piper

    out = import_piper(args.model, args.config, args.output, name=args.name)
    print(f"wrote addon {out}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from voicestack.addon import read_manifest
    from voicestack.profiles import resolve_profile
    from voicestack.voice import validate_stack

    root = addon_path(args.addon)
    try:
        manifest = read_manifest(root)
    except SpecError as err:
        return _report(err)
    problems: list[tuple[str, str]] = []
    for stack in manifest.stacks:
        try:
            validate_stack(manifest, stack)
        except SpecError as err:
            problems.extend(err.problems)
    for profile in manifest.profiles:
        try:
            resolve_profile(profile, manifest.profiles, manifest.stacks, manifest.networks)
        except SpecError as err:
            problems.extend(err.problems)
    if problems:
        return _report(SpecError(problems, source=manifest.source))
    print(f"{root}: addon '{manifest.name}' {manifest.version} is valid "
          f"({len(manifest.networks)} networks, stacks: {', '.join(manifest.stacks)})")
    return 0


def _report(err: SpecError) -> int:
    """validate's finding: every problem on its own line, exit status 1."""
    print(f"voicestack: {len(err.problems)} problem{'s' * (len(err.problems) != 1)}:", file=sys.stderr)
    for line in str(err).splitlines():
        print(f"  {line}", file=sys.stderr)
    return 1


def cmd_inspect(args: argparse.Namespace) -> int:
    from voicestack.addon import read_manifest
    from voicestack.voice import validate_stack

    manifest = read_manifest(addon_path(args.addon))
    spec, _ = validate_stack(manifest)
    info = {
        "name": manifest.name, "version": manifest.version, "language": manifest.language,
        "sample_rate": manifest.sample_rate, "architecture": manifest.architecture,
        "description": manifest.description,
        "networks": {
            n.name: {"file": n.path.name, "role": n.role, "bytes": n.path.stat().st_size,
                     "inputs": {k: {**v.decl.to_json(), **({"feed": {v.feed.kind: v.feed.value}} if v.feed else {})}
                                for k, v in n.inputs.items()},
                     "outputs": {k: v.to_json() for k, v in n.outputs.items()}}
            for n in manifest.networks.values()
        },
        "stacks": list(manifest.stacks), "profiles": list(manifest.profiles),
        "stack": spec.to_json(),
    }
    if args.json:
        print(json.dumps(info, indent=2, default=list, ensure_ascii=False))
        return 0
    print(f"{manifest.name} {manifest.version}  {manifest.language}  {manifest.sample_rate} Hz  {manifest.architecture}")
    if manifest.description:
        print(" ".join(manifest.description.split()))
    print("networks:")
    for name, n in info["networks"].items():
        print(f"  {name} ({n['role']}, {n['file']}, {n['bytes'] / 1e6:.2f} MB)")
        for k, v in n["inputs"].items():
            feed = f"  <- {v['feed']}" if "feed" in v else ""
            print(f"    in  {k}: {v['dtype']} {v['shape']}{feed}")
        for k, v in n["outputs"].items():
            print(f"    out {k}: {v['dtype']} {v['shape']}")
    print("stack:")
    _print_tree(spec.to_json(), "  ")
    return 0


def _print_tree(node: dict[str, Any], indent: str) -> None:
    params = {k: v for k, v in node.items() if not isinstance(v, (dict, list)) or k in ("inputs", "outputs")}
    params = {k: v for k, v in params.items() if k != "type" and v not in ({}, None)}
    extra = " ".join(f"{k}={v}" for k, v in params.items())
    print(f"{indent}{node['type']} {extra}".rstrip())
    for key, value in node.items():
        if isinstance(value, dict) and "type" in value:
            print(f"{indent}  {key}:")
            _print_tree(value, indent + "    ")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            print(f"{indent}  {key}:")
            for child in value:
                _print_tree(child, indent + "    ")
