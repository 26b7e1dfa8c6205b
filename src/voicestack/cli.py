"""The ``voicestack`` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voicestack.errors import SpecError, VoicestackError


def _add_inference_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--length-scale", type=float, help="speaking time factor (>1 slower); default from the voice")
    p.add_argument("--noise-scale", type=float, help="voice variability (VITS noise); default from the voice")
    p.add_argument("--noise-w", type=float, help="duration variability; default from the voice")
    p.add_argument("--seed", type=int, help="random seed: the same seed gives the same audio")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voicestack", description="Streaming text-to-speech with swappable model stacks.")
    sub = parser.add_subparsers(dest="command", required=True)

    say = sub.add_parser("say", help="speak text into a WAV file (or raw PCM on stdout)")
    say.add_argument("text", help="the text, or - to read it from standard input")
    out = say.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", type=Path, help="WAV file to write")
    out.add_argument("--raw", action="store_true", help="16-bit little-endian mono PCM on stdout, as produced")
    say.add_argument("-v", "--voice", default="joe", help="voice name or addon directory (default: joe)")
    say.add_argument("--profile", help="profile name (default, static, openvino, or the addon's own)")
    say.add_argument("--speaker", help="a speaker of a multi-speaker voice (see `voicestack voices`)")
    _add_inference_args(say)

    sub.add_parser("voices", help="list the voices this machine can load")

    addon = sub.add_parser("addon", help="make, check and inspect addons")
    asub = addon.add_subparsers(dest="addon_command", required=True)
    imp = asub.add_parser("import-piper", help="turn a Piper voice (.onnx + .onnx.json) into a streaming addon")
    imp.add_argument("model", type=Path)
    imp.add_argument("-c", "--config", type=Path, help="the voice's .onnx.json (default: MODEL.json)")
    imp.add_argument("-o", "--output", type=Path, required=True, help="addon directory to create")
    imp.add_argument("--name", help="voice name (default: from the model file name)")
    val = asub.add_parser("validate", help="check an addon: exit 0, or every error with its JSON path")
    val.add_argument("dir", help="a voice name or an addon directory")
    ins = asub.add_parser("inspect", help="show an addon's networks, tensor contracts and stack tree")
    ins.add_argument("dir", help="a voice name or an addon directory")
    ins.add_argument("--json", action="store_true", help="machine-readable output")
    ins.add_argument("--profile", help="also show how each network runs (runtime, device, shapes) under "
                                       "this profile; loads the networks")

    from voicestack import evaluate

    evaluate.add_parser(sub)

    serve = sub.add_parser("serve", help="run the HTTP voice service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--config", type=Path, help="service configuration (JSON)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(COMMANDS[args.command](args) or 0)
    except SpecError as err:
        print(f"voicestack: {err}", file=sys.stderr)
        return 1
    except VoicestackError as err:
        print(f"voicestack: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def cmd_say(args: argparse.Namespace) -> int:
    import voicestack
    from voicestack.audio import to_pcm16, write_wav

    text = sys.stdin.read() if args.text == "-" else args.text
    voice = voicestack.load_voice(args.voice, profile=args.profile)
    chunks = voice.stream(text, length_scale=args.length_scale, noise_scale=args.noise_scale,
                          noise_w=args.noise_w, seed=args.seed, speaker=args.speaker)
    if args.raw:
        out = sys.stdout.buffer
        for chunk in chunks:
            out.write(to_pcm16(chunk.audio))
            out.flush()
        return 0
    audio = (c.audio for c in chunks)
    if len(text) > 400 and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(text), unit="char", desc="speaking", file=sys.stderr, leave=False)
        audio = _with_progress(voice, chunks, bar)
    samples = write_wav(args.output, audio, voice.sample_rate)
    print(f"{args.output}: {samples / voice.sample_rate:.2f} s at {voice.sample_rate} Hz", file=sys.stderr)
    return 0


def _with_progress(voice: Any, chunks: Any, bar: Any) -> Any:
    """Advance the bar by the characters each finished sentence covered (estimated from
    the audio produced so far, corrected at the end)."""
    produced = 0.0
    rate = 14.0  # characters per second of speech, corrected as we go
    with bar:
        for chunk in chunks:
            produced += chunk.duration
            bar.n = min(bar.total, int(produced * rate))
            bar.refresh()
            yield chunk.audio
        bar.n = bar.total
        bar.refresh()


def cmd_voices(args: argparse.Namespace) -> int:
    from voicestack.catalog import voice_names

    for name in voice_names():
        print(name)
    return 0


def cmd_addon(args: argparse.Namespace) -> int:
    if args.addon_command == "import-piper":
        from voicestack.importers.piper import import_piper

        out = import_piper(args.model, args.config, args.output, name=args.name)
        print(f"wrote addon {out}")
        return 0
    if args.addon_command == "validate":
        from voicestack.catalog import resolve
        from voicestack.validate import validate_addon

        report = validate_addon(resolve(args.dir))
        if not report.ok:
            print(report.text(), file=sys.stderr)
            return 1
        m = report.manifest
        assert m is not None
        print(f"{args.dir}: addon '{m.name}' {m.version} is valid ({len(m.networks)} networks, stacks: "
              f"{', '.join(m.stacks)}; speaks: {report.spoke:.2f} s of audio from a probe)")
        return 0
    if args.addon_command == "inspect":
        from voicestack.catalog import resolve

        return _inspect(resolve(args.dir), args.json, args.profile)
    raise AssertionError(args.addon_command)


def _inspect(path: Path, as_json: bool, profile: str | None = None) -> int:
    from voicestack import assembly
    from voicestack.addon import read_manifest
    from voicestack.validate import mel_stream, inspect_networks

    manifest = read_manifest(path)
    spec = assembly.plan(manifest, profile, stream=mel_stream(manifest)).spec
    running = inspect_networks(path, profile) if profile else []
    info = {
        "name": manifest.name, "version": manifest.version, "language": manifest.language,
        "sample_rate": manifest.sample_rate, "architecture": manifest.architecture,
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
        **({"profile": profile, "running": running} if profile else {}),
    }
    if as_json:
        print(json.dumps(info, indent=2, default=list))
        return 0
    print(f"{manifest.name} {manifest.version}  {manifest.language}  {manifest.sample_rate} Hz  {manifest.architecture}")
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
        print(f"under profile '{profile}':")
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


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from voicestack.service.app import run
    except ImportError as err:
        raise VoicestackError(f"the service needs its extra: pip install 'voicestack[serve]' ({err})") from None
    run(args.host, args.port, args.config)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from voicestack import evaluate

    return int(evaluate.run(args) or 0)


COMMANDS = {"say": cmd_say, "voices": cmd_voices, "addon": cmd_addon, "serve": cmd_serve, "eval": cmd_eval}

if __name__ == "__main__":
    sys.exit(main())
