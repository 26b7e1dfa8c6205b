"""Request bodies -> validated parameters, and the JSON error every 4xx/5xx carries:
``{"error": {"message": ..., "type": ..., "param": field}}`` (OpenAI's shape)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# formats whose encoder ships with voicestack; others need an installed encoder (none yet)
STREAMING_FORMATS = ("wav", "pcm")
OPENAI_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
SPEED_RANGE = (0.25, 4.0)


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, kind: str = "invalid_request_error",
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.kind = kind
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param}}


def bad(param: str | None, message: str) -> ApiError:
    return ApiError(400, message, param)


@dataclass(frozen=True)
class SynthesisParams:
    """What a client may set per request, validated for type and range."""

    voice: str
    speed: float | None = None
    seed: int | None = None
    noise_scale: float | None = None
    noise_w: float | None = None

    def overrides(self, default_length_scale: float | None) -> dict[str, Any]:
        length_scale = None
        if self.speed is not None:
            length_scale = (default_length_scale or 1.0) / self.speed
        return {"length_scale": length_scale, "noise_scale": self.noise_scale, "noise_w": self.noise_w,
                "seed": self.seed}


@dataclass(frozen=True)
class SpeechRequest:
    input: str
    params: SynthesisParams
    response_format: str
    model: str | None


def _number(body: Mapping[str, Any], key: str, lo: float, hi: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad(key, f"'{key}' must be a number, got {value!r}")
    if not lo <= value <= hi:
        raise bad(key, f"'{key}' must be between {lo} and {hi}, got {value}")
    return float(value)


def _string(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad(key, f"'{key}' must be a string, got {type(value).__name__}")
    return value


def parse_params(body: Mapping[str, Any], default_voice: str) -> SynthesisParams:
    voice = _string(body, "voice") or default_voice
    speed = _number(body, "speed", *SPEED_RANGE)
    noise_scale = _number(body, "noise_scale", 0.0, 5.0)
    noise_w = _number(body, "noise_w", 0.0, 5.0)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32):
        raise bad("seed", f"'seed' must be an integer from 0 to {2**32 - 1}, got {seed!r}")
    return SynthesisParams(voice, speed, seed, noise_scale, noise_w)


SPEECH_FIELDS = ("model", "input", "voice", "response_format", "speed", "seed", "noise_scale", "noise_w",
                 "instructions", "stream_format")


def parse_speech(body: Any, default_voice: str, max_chars: int, formats: tuple[str, ...]) -> SpeechRequest:
    if not isinstance(body, dict):
        raise bad(None, f"the request body must be a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - set(SPEECH_FIELDS))
    if unknown:
        raise bad(unknown[0], f"unknown field '{unknown[0]}'; expected one of {', '.join(SPEECH_FIELDS)}")
    model = _string(body, "model")
    if "input" not in body:
        raise bad("input", "'input' is required: the text to speak")
    text = _string(body, "input") or ""
    if not text.strip():
        raise bad("input", "'input' is empty; give the text to speak")
    if len(text) > max_chars:
        raise bad("input", f"'input' has {len(text)} characters; the limit is {max_chars}")
    fmt = _string(body, "response_format") or "wav"
    if fmt not in formats:
        hint = "no encoder for it is installed here" if fmt in OPENAI_FORMATS else "unknown format"
        raise bad("response_format", f"'response_format' {fmt!r} is not supported ({hint}); "
                                     f"supported: {', '.join(formats)}")
    stream_format = _string(body, "stream_format")
    if stream_format not in (None, "audio"):
        raise bad("stream_format", "'stream_format' must be 'audio' (the audio bytes, streamed)")
    _string(body, "instructions")  # accepted for compatibility; these voices take no instructions
    return SpeechRequest(text, parse_params(body, default_voice), fmt, model)
