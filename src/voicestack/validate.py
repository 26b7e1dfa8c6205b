"""``voicestack addon validate``: every problem of an addon at once, and proof that it speaks.

An addon is valid when its manifest, assets, speakers, front-end, every stack and every
profile it declares check (each problem listed with its JSON path, not just the first),
and when its default voice then builds (sessions open: a network op the runtime lacks
shows here) and speaks a short text (or, for a vocoder addon, vocodes a short mel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voicestack import assembly
from voicestack.addon import Manifest, read_manifest
from voicestack.errors import SpecError, VoicestackError
from voicestack.profiles import BUILTIN_PROFILES, check_declared
from voicestack.tensors import TensorDecl

PROBE_TEXT = "Hello there."


@dataclass
class Report:
    root: Path
    manifest: Manifest | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)
    spoke: float | None = None  # seconds of audio the probe produced

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        source = self.manifest.source if self.manifest else f"addon at {self.root}"
        return "\n".join(f"{source} {p}: {m}" if p else f"{source}: {m}" for p, m in self.problems)


def mel_stream(manifest: Manifest) -> dict[str, TensorDecl] | None:
    if manifest.kind != "vocoder":
        return None
    mel = manifest.mel or {}
    return {"mel": TensorDecl("float32", (1, int(mel.get("n_mels", 80)), "F"))}


def validate_addon(root: Path) -> Report:
    report = Report(Path(root))
    try:
        manifest = read_manifest(Path(root))
    except SpecError as err:
        report.problems.extend(err.problems)
        return report
    report.manifest = manifest
    stream = mel_stream(manifest)
    for name in manifest.stacks:
        try:
            assembly.plan(manifest, stack=name, stream=stream)
        except SpecError as err:
            report.problems.extend(p for p in err.problems if p not in report.problems)
    report.problems.extend(check_declared(manifest.profiles, manifest.stacks, manifest.networks))
    for name in manifest.profiles:
        if not any(p.startswith(f"profiles.{name}") for p, _ in report.problems):
            try:
                assembly.plan(manifest, name, stream=stream)
            except SpecError as err:
                report.problems.extend(p for p in err.problems if p not in report.problems)
    if report.problems:
        return report
    try:
        report.spoke = _speak(manifest, stream)
    except (VoicestackError, ValueError, RuntimeError, KeyError, OSError) as err:
        report.problems.append(("", f"checks, but fails to {'vocode' if stream else 'speak'}: "
                                    f"{type(err).__name__}: {err}"))
    return report


def _speak(manifest: Manifest, stream: dict[str, TensorDecl] | None) -> float:
    """Build the default voice and run a short probe through it; seconds of audio made."""
    if stream is not None:
        from voicestack.blocks import Request
        from voicestack.dsp import MelSettings, log_mel

        settings = MelSettings.from_json(dict(manifest.mel or {}))
        block = assembly.load(manifest, stream=stream).block
        t = np.arange(settings.sample_rate // 2) / settings.sample_rate
        mel = log_mel((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), settings)[None]
        request = Request(params=dict(manifest.inference))
        audio = np.concatenate([c["audio"].reshape(-1) for c in block.stream(iter([{"mel": mel}]), {}, request)])
        return audio.size / manifest.sample_rate
    from voicestack.voice import Voice

    voice = Voice.from_assembled(assembly.load(manifest))
    text = PROBE_TEXT if voice.frontend.type_name != "ids" else "1 2 3"
    audio = voice.synthesize(text, seed=0).audio
    if not np.isfinite(audio).all():
        raise ValueError("the audio holds NaN or infinite samples")
    return audio.size / voice.sample_rate


def profile_names(manifest: Manifest) -> list[str]:
    return sorted(set(BUILTIN_PROFILES) | set(manifest.profiles))


def inspect_networks(root: Path, profile: Any) -> list[dict[str, Any]]:
    """How each network of the tree runs under ``profile`` (loads it)."""
    manifest = read_manifest(Path(root))
    built = assembly.load(manifest, profile, stream=mel_stream(manifest))
    return assembly.describe_networks(built.block)
