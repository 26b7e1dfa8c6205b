"""Request bodies -> validated, typed parameters (through :mod:`voicestack.params`).

Hostile JSON never gets past :func:`parse_json` as anything but a :class:`ServiceError`
naming the field: nesting too deep for the decoder, integers of thousands of digits,
non-finite numbers, lone surrogates. Empty strings are errors, never defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from voicestack.errors import SpecError
from voicestack.params import limits, parse, safe_text
from voicestack.service.core.errors import ServiceError, bad

SPEED_RANGE = (0.25, 4.0)
MAX_DEPTH = 32  # nothing we take is nested deeper than 2; the decoder's own limit is ~1000 frames
_HUGE = 10**20  # an integer literal too long to mean anything becomes this (refused by its field)


def _int(text: str) -> int:
    # int() of 5,000 digits raises (Python's digit limit) and is quadratic below it: refuse early
    return int(text) if len(text.lstrip("-")) <= 20 else _HUGE


def _constant(name: str) -> float:
    return float("nan")  # NaN / Infinity literals: refused by every number field


def _deep_key(text: str, limit: int) -> str | None:
    """The top-level key under which ``text`` nests deeper than ``limit`` (linear scan)."""
    depth, in_string, escaped, key, start = 0, False, False, None, 0
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                if depth == 1:
                    key = text[start + 1 : i]
        elif ch == '"':
            in_string, start = True, i
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return key
        elif ch in "]}":
            depth -= 1
    return None


def parse_json(text: str | bytes, what: str = "the request body") -> Any:
    """Decode JSON; anything wrong (syntax, encoding, depth, size of numbers) -> 400."""
    try:
        raw = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError as err:
        raise bad(None, f"{what} is not UTF-8: {err.reason} at byte {err.start}") from None
    key = _deep_key(raw, MAX_DEPTH) if raw.count("[") + raw.count("{") > MAX_DEPTH else None
    if key is not None:
        raise bad(key, f"{key}: nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(raw, parse_int=_int, parse_constant=_constant)
    except (ValueError, RecursionError) as err:
        raise bad(None, f"{what} is not valid JSON: {err}") from None


def validated(cls: type[Any], raw: Any, what: str) -> Any:
    """``params.parse`` with its problems as one 400 naming the first field."""
    if not isinstance(raw, dict):
        kind = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
            type(raw), "null" if raw is None else type(raw).__name__)
        raise bad(None, f"{what} must be a JSON object, got {kind}")
    try:
        return parse(cls, raw)
    except SpecError as err:
        path, message = err.problems[0]
        top = path.split(".", 1)[0].split("[", 1)[0] or None
        text = "; ".join(f"{p}: {m}" if p else m for p, m in err.problems[:5])
        raise bad(top, text) from None


@dataclass(frozen=True)
class SynthesisParams:
    """What a client may set per synthesis, validated for type and range."""

    voice: str
    speed: float | None = None
    seed: int | None = None
    noise_scale: float | None = None
    noise_w: float | None = None
    speaker: str | None = None  # a speaker of ``voice`` (None: as ``voice`` names it, else its default)
    ssml: bool | None = None  # the input is SSML (None: when it starts with <speak)
    words: bool = False  # work out word timings (the captioned endpoint, WebSocket word events)

    def overrides(self, default_length_scale: float | None) -> dict[str, Any]:
        length_scale = None
        if self.speed is not None:
            length_scale = (default_length_scale or 1.0) / self.speed
        return {"length_scale": length_scale, "noise_scale": self.noise_scale, "noise_w": self.noise_w,
                "seed": self.seed}

    def with_seed_offset(self, offset: int) -> SynthesisParams:
        if self.seed is None:
            return self
        return replace(self, seed=(self.seed + offset) % 2**32)


_TEXT = limits(nonempty=True, max_len=256)
_SPEED = limits(lo=SPEED_RANGE[0], hi=SPEED_RANGE[1])
_SEED = limits(lo=0, hi=2**32 - 1)
_NOISE = limits(lo=0.0, hi=5.0)


@dataclass(frozen=True)
class SpeechBody:
    """``POST /v1/audio/speech`` (OpenAI's fields, plus seed and the noise overrides)."""

    input: str = field(metadata=limits(nonempty=True))
    model: str | None = field(default=None, metadata=_TEXT)
    voice: str | None = field(default=None, metadata=_TEXT)
    response_format: str | None = field(default=None, metadata=_TEXT)
    speed: float | None = field(default=None, metadata=_SPEED)
    seed: int | None = field(default=None, metadata=_SEED)
    noise_scale: float | None = field(default=None, metadata=_NOISE)
    noise_w: float | None = field(default=None, metadata=_NOISE)
    instructions: str | None = None  # accepted like OpenAI's tts-1 does; these voices take no instructions
    stream_format: Literal["audio", "sse"] | None = None
    input_type: Literal["text", "ssml"] | None = None  # None: SSML when the input starts with <speak


@dataclass(frozen=True)
class CaptionedBody(SpeechBody):
    """``POST /v1/audio/speech/captioned``: the speech fields, plus whether phoneme timings go too."""

    phonemes: bool = False


@dataclass(frozen=True)
class StreamStart:
    """The WebSocket's start parameters (query string and/or a ``start`` message)."""

    voice: str | None = field(default=None, metadata=_TEXT)
    model: str | None = field(default=None, metadata=_TEXT)
    speed: float | None = field(default=None, metadata=_SPEED)
    seed: int | None = field(default=None, metadata=_SEED)
    noise_scale: float | None = field(default=None, metadata=_NOISE)
    noise_w: float | None = field(default=None, metadata=_NOISE)
    words: bool | None = None  # send word timing events


@dataclass(frozen=True)
class SpeechRequest:
    input: str
    params: SynthesisParams
    response_format: str
    model: str | None
    stream_format: str = "audio"


def speech_request(raw: Any, default_voice: str, max_chars: int, formats: tuple[str, ...],
                   known_formats: tuple[str, ...] = (), body_type: type[SpeechBody] | None = None,
                   default_format: str = "mp3") -> SpeechRequest:
    if isinstance(raw, dict) and isinstance(raw.get("voice"), dict):
        raw = {**raw, "voice": voice_object(raw["voice"])}
    body: SpeechBody = validated(body_type or SpeechBody, raw, "the request body")
    if not body.input.strip():
        raise bad("input", "input: got only white space, expected the text to speak")
    if len(body.input) > max_chars:
        raise ServiceError(413, f"input: {len(body.input)} characters; the limit is {max_chars} (max_input_chars)",
                           "input", "request_too_large")
    fmt = body.response_format or default_format
    if fmt not in formats:
        hint = "no encoder for it is installed here" if fmt in known_formats else "unknown format"
        raise bad("response_format", f"response_format: {fmt!r} is not supported ({hint}); "
                                     f"supported: {', '.join(formats)}")
    return SpeechRequest(body.input, start_params(body, default_voice), fmt, body.model, body.stream_format or "audio")


def voice_object(value: dict[str, Any]) -> str:
    """OpenAI's custom-voice form ``{"id": "..."}`` -> the id (a voice id here)."""
    if set(value) != {"id"} or not isinstance(value["id"], str):
        keys = ", ".join(sorted(safe_text(k) for k in value)[:5]) or "none"
        raise bad("voice", f"voice: an object must be {{\"id\": \"VOICE\"}}, got one with keys: {keys}")
    return value["id"]


def start_params(body: SpeechBody | StreamStart, default_voice: str) -> SynthesisParams:
    kind = getattr(body, "input_type", None)
    return SynthesisParams(body.voice or default_voice, body.speed, body.seed, body.noise_scale, body.noise_w,
                           ssml=None if kind is None else kind == "ssml")


def stream_start(raw: dict[str, Any]) -> StreamStart:
    start: StreamStart = validated(StreamStart, raw, "the start message")
    return start


def query_values(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Query-string values are text: numbers for the numeric fields (a bad one stays text
    so the field's check names it)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in ("speed", "noise_scale", "noise_w"):
            try:
                out[key] = float(value) if len(value) <= 40 else value
            except ValueError:
                out[key] = value
        elif key == "seed":
            out[key] = _int(value) if value.lstrip("-").isdigit() else value
        elif key == "words":
            out[key] = {"true": True, "1": True, "false": False, "0": False}.get(value.lower(), value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class ClientMessage:
    """One WebSocket message: ``start`` (the StreamStart fields), ``text``, ``ssml`` (a whole
    SSML document in ``text``), ``flush`` or ``end``."""

    type: Literal["start", "text", "ssml", "flush", "end"]
    text: str | None = None
    voice: str | None = field(default=None, metadata=_TEXT)
    model: str | None = field(default=None, metadata=_TEXT)
    speed: float | None = field(default=None, metadata=_SPEED)
    seed: int | None = field(default=None, metadata=_SEED)
    noise_scale: float | None = field(default=None, metadata=_NOISE)
    noise_w: float | None = field(default=None, metadata=_NOISE)
    words: bool | None = None

    def start(self) -> StreamStart:
        return StreamStart(self.voice, self.model, self.speed, self.seed, self.noise_scale, self.noise_w, self.words)


START_FIELDS = ("voice", "model", "speed", "seed", "noise_scale", "noise_w", "words")


def client_message(raw: Any) -> ClientMessage:
    if isinstance(raw, dict) and raw.get("type") not in ("start", "text", "ssml", "flush", "end"):
        kind = raw.get("type")
        shown = repr(kind)[:40] if isinstance(kind, str) else "missing" if kind is None else "not a string"
        raise bad("type", f"type: {shown}; expected one of start, text, ssml, flush, end")
    msg: ClientMessage = validated(ClientMessage, raw, "each message")
    if msg.type in ("text", "ssml") and msg.text is None:
        raise bad("text", "text: missing; a text message carries the text to speak")
    if msg.type != "start" and any(getattr(msg, k) is not None for k in START_FIELDS):
        key = next(k for k in START_FIELDS if getattr(msg, k) is not None)
        raise bad(key, f"{key}: only a start message sets it")
    return msg
