"""The service configuration: a JSON file, parsed once into a frozen dataclass.

Every key is optional::

    {
      "voices_dirs": ["/srv/voices"],      # addon directories to host (each child with addon.json)
      "builtins": true,                    # also offer the built-in voices (joe)
      "default_voice": "joe",              # used when a request names no voice
      "memory_budget_bytes": 2000000000,   # distinct network bytes kept loaded (LRU beyond)
      "workers": 2,                        # synthesis threads (default: CPU count)
      "max_active_streams": 16,            # streams sharing the workers at once
      "max_queue": 32,                     # streams waiting for a slot; beyond: 503 + Retry-After
      "retry_after_seconds": 1,
      "max_input_chars": 4096,             # POST /v1/audio/speech 'input' limit
      "max_stream_chars": 100000,          # total text over one WebSocket
      "voices": {"joe": {"profile": "static"}}   # per-voice load options
    }
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicestack.errors import VoicestackError


class ConfigError(VoicestackError):
    """A bad service configuration; the message names the key."""


@dataclass(frozen=True)
class ServiceConfig:
    voices_dirs: tuple[Path, ...] = ()
    builtins: bool = True
    default_voice: str = "joe"
    memory_budget_bytes: int = 2_000_000_000
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    max_active_streams: int = 16
    max_queue: int = 32
    retry_after_seconds: int = 1
    max_input_chars: int = 4096
    max_stream_chars: int = 100_000
    voices: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "config") -> ServiceConfig:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
        known = {f for f in cls.__dataclass_fields__} | {"voices_dir"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r}; expected one of {', '.join(sorted(known))}")
        values: dict[str, Any] = {}
        dirs = data.get("voices_dirs", [])
        if "voices_dir" in data:
            dirs = [data["voices_dir"], *dirs]
        if isinstance(dirs, str) or not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
            raise ConfigError(f"{source}: voices_dirs: expected a list of directory paths, got {dirs!r}")
        values["voices_dirs"] = tuple(Path(d).expanduser() for d in dirs)
        ints = {"memory_budget_bytes": 0, "workers": 1, "max_active_streams": 1, "max_queue": 0,
                "retry_after_seconds": 0, "max_input_chars": 1, "max_stream_chars": 1}
        for key, low in ints.items():
            if key in data:
                value = data[key]
                if isinstance(value, bool) or not isinstance(value, int) or value < low:
                    raise ConfigError(f"{source}: {key}: expected an integer >= {low}, got {value!r}")
                values[key] = value
        if "builtins" in data:
            if not isinstance(data["builtins"], bool):
                raise ConfigError(f"{source}: builtins: expected true or false, got {data['builtins']!r}")
            values["builtins"] = data["builtins"]
        if "default_voice" in data:
            if not isinstance(data["default_voice"], str) or not data["default_voice"]:
                raise ConfigError(f"{source}: default_voice: expected a voice name, got {data['default_voice']!r}")
            values["default_voice"] = data["default_voice"]
        voices = data.get("voices", {})
        if not isinstance(voices, Mapping) or not all(isinstance(v, Mapping) for v in voices.values()):
            raise ConfigError(f"{source}: voices: expected an object of voice name -> {{\"profile\": ...}}")
        for name, options in voices.items():
            extra = sorted(set(options) - {"profile"})
            if extra:
                raise ConfigError(f"{source}: voices.{name}: unknown key {extra[0]!r}; expected 'profile'")
        values["voices"] = {k: dict(v) for k, v in voices.items()}
        return cls(**values)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None) -> ServiceConfig:
        if path is None:
            return cls()
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise ConfigError(f"{path}: cannot read the service configuration: {err.strerror}") from None
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}: not valid JSON: {err}") from None
        return cls.from_mapping(data, str(path))
