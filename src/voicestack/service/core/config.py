"""The service configuration: a JSON file parsed once (by :mod:`voicestack.params`) into
a frozen dataclass. Every key is optional; docs/service.md lists them with their meaning.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from voicestack.errors import SpecError
from voicestack.params import limits, parse, safe_text


class ConfigError(SpecError):
    """A bad service configuration; each problem names its key and the value."""


@dataclass(frozen=True)
class VoiceOptions:
    """Per-voice load options (``voices.NAME``)."""

    profile: str | Mapping[str, Any] | None = None


# OpenAI's built-in voice names (its API reference, 2026-12): any of them not in
# ``voice_aliases`` speaks with ``default_voice``, so OpenAI clients work unchanged
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
                 "marin", "cedar")


def _cpus() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ServiceConfig:
    voices_dirs: tuple[str | Path, ...] = ()
    builtins: bool = True
    default_voice: str = field(default="joe", metadata=limits(nonempty=True))
    memory_budget_bytes: int = field(default=2_000_000_000, metadata=limits(lo=0))
    workers: int = field(default_factory=_cpus, metadata=limits(lo=1, hi=256))
    # intra-op threads of each network run, for voices whose profile leaves them at the
    # runtime's default; 0: the cores shared out among the workers (1 with a worker per core)
    threads: int = field(default=0, metadata=limits(lo=0, hi=1024))
    max_active_streams: int = field(default=16, metadata=limits(lo=1, hi=100_000))
    max_queue: int = field(default=32, metadata=limits(lo=0, hi=100_000))
    retry_after_seconds: int = field(default=1, metadata=limits(lo=0, hi=3600))
    max_input_chars: int = field(default=4096, metadata=limits(lo=1, hi=10_000_000))
    max_stream_chars: int = field(default=100_000, metadata=limits(lo=1, hi=100_000_000))
    # per-request budget: audio one request (or one WebSocket connection) may produce
    max_audio_seconds: float = field(default=600.0, metadata=limits(lo=0.1))
    # ... and synthesis compute it may use, in seconds of worker time
    max_compute_seconds: float = field(default=120.0, metadata=limits(lo=0.01))
    # a send the client does not take within this many seconds ends its response
    write_stall_seconds: float = field(default=15.0, metadata=limits(lo=0.01, hi=3600))
    # audio computed but not yet taken by the client, at most (then that stream waits)
    max_ahead_seconds: float = field(default=10.0, metadata=limits(lo=0.1, hi=3600))
    # worker time one scheduling step may take at most (bounds every other stream's wait)
    max_job_seconds: float = field(default=0.12, metadata=limits(lo=0.001, hi=60))
    # time allowed for a request's headers, and for its body, to arrive
    header_timeout_seconds: float = field(default=10.0, metadata=limits(lo=0.01, hi=3600))
    body_timeout_seconds: float = field(default=10.0, metadata=limits(lo=0.01, hi=3600))
    voices: Mapping[str, Any] = field(default_factory=dict)
    # voice names clients may use -> a voice id here ("addon" or "addon/speaker")
    voice_aliases: Mapping[str, str] = field(default_factory=dict)
    # the response_format of a request that names none (OpenAI's default: mp3)
    default_response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"

    def __post_init__(self) -> None:
        object.__setattr__(self, "voices_dirs", tuple(Path(d).expanduser() for d in self.voices_dirs))

    @property
    def threads_per_run(self) -> int:
        return self.threads or max(1, _cpus() // self.workers)

    @property
    def dirs(self) -> tuple[Path, ...]:
        return tuple(Path(d) for d in self.voices_dirs)

    def alias(self, name: str) -> str | None:
        """The voice id ``name`` stands for (``voice_aliases``, else an OpenAI name ->
        ``default_voice``), or None if it is no alias."""
        if name in self.voice_aliases:
            return str(self.voice_aliases[name])
        return self.default_voice if name in OPENAI_VOICES else None

    def aliases(self) -> dict[str, str]:
        """Every alias and the voice id it stands for."""
        return {**{n: self.default_voice for n in OPENAI_VOICES}, **self.voice_aliases}

    def voice_options(self, name: str) -> VoiceOptions:
        raw = self.voices.get(name)
        if isinstance(raw, VoiceOptions):
            return raw
        return parse(VoiceOptions, raw or {}, f"voices.{name}")

    @classmethod
    def from_mapping(cls, data: Any, source: str = "config") -> ServiceConfig:
        if isinstance(data, Mapping) and "voices_dir" in data:  # the one legacy spelling
            data = dict(data)
            one = data.pop("voices_dir")
            dirs = data.get("voices_dirs", [])
            data["voices_dirs"] = [one, *dirs] if isinstance(dirs, list) else dirs
        problems: list[tuple[str, str]] = []
        config = parse(cls, data, "", problems=problems)
        if isinstance(data, Mapping) and isinstance(data.get("voices"), Mapping):
            for name, options in data["voices"].items():
                parse(VoiceOptions, options, f"voices.{name}", problems=problems)
        if isinstance(data, Mapping) and isinstance(data.get("voice_aliases"), Mapping):
            for alias, target in data["voice_aliases"].items():
                problems.extend(_alias_problems(alias, target))
        if problems or config is None:
            raise ConfigError(problems or [("", "invalid configuration")], source=source)
        return config

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None) -> ServiceConfig:
        if path is None:
            return cls()
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise ConfigError([("", f"cannot read the service configuration: {err.strerror}")],
                              source=str(path)) from None
        except (ValueError, RecursionError) as err:
            raise ConfigError([("", f"not valid JSON: {err}")], source=str(path)) from None
        return cls.from_mapping(data, str(path))


def _alias_problems(alias: Any, target: Any) -> list[tuple[str, str]]:
    path = f"voice_aliases.{safe_text(alias)}"
    if not isinstance(alias, str) or not alias.strip() or "/" in alias:
        return [(path, "an alias must be a non-empty name without '/'")]
    if isinstance(target, str) and (not target.strip() or target.startswith("/") or target.endswith("/")):
        return [(path, f"got {safe_text(target)!r}, expected a voice id: 'VOICE' or 'VOICE/SPEAKER'")]
    return []


KEYS = tuple(f.name for f in fields(ServiceConfig))
