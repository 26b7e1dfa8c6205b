"""A loaded voice: text front-end + validated stack + profile -> a lazy audio stream."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from voicestack import assembly
from voicestack.addon import PARAM_LIMITS, Manifest
from voicestack.assets import SpeakerDecl
from voicestack.blocks import Alignment, Request, StreamableBlock, frame_ratio
from voicestack.errors import RequestError, SpecError
from voicestack.frontends import FrontEnd
from voicestack.params import safe_text
from voicestack.profiles import Profile
from voicestack.runtime import SessionFactory
from voicestack.tensors import TensorDecl
from voicestack.text.ssml import looks_like_ssml, parse_ssml
from voicestack.timing import PieceClock, Timing

MAX_TEXT_CHARS = 1_000_000
VoiceSource = Callable[[str], "Voice"]  # a voice by name (an SSML <voice> switch)


@dataclass(frozen=True)
class AudioChunk:
    """Mono float32 samples in [-1, 1] and their rate; the words and phonemes that start
    in it, timed from the start of the utterance (:class:`voicestack.timing.Timing`)."""

    audio: np.ndarray
    sample_rate: int
    words: tuple[Timing, ...] = ()
    phonemes: tuple[Timing, ...] = ()

    @property
    def duration(self) -> float:
        return self.audio.size / self.sample_rate


def _ids_of(frontend: Any) -> Any:
    """What decides a front-end's ids (its JSON without the piece limits), to compare two."""
    if isinstance(frontend, Mapping):
        return {k: _ids_of(v) for k, v in frontend.items() if k not in ("max_piece", "max_encode", "normalize")}
    return frontend


@dataclass
class _Said:
    """How far an utterance got: samples so far, and timings waiting for the next chunk."""

    emitted: int = 0
    late: tuple[tuple[Any, ...], tuple[Any, ...]] = ((), ())


def _shifted(spans: Any, at: int, shift: int) -> tuple[Any, ...]:
    """The spans from symbol ``at`` on, re-indexed into a piece that starts there."""
    return tuple(replace(s, start=s.start + shift, end=s.end + shift) for s in spans if s.start >= at)


def _failure(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The end event of a guard that failed with a place to resume from, if any."""
    for event in events:
        if event.get("event") == "end" and event.get("status") not in (None, "stop_token") and "resume" in event:
            return event
    return None


def validate_stack(manifest: Manifest, stack_name: str = "default",
                   profile: str | Mapping[str, Any] | None = None) -> tuple[Any, dict[str, TensorDecl]]:
    """Parse + check one of the manifest's stacks (under ``profile``): (spec, emitted tensors)."""
    p = assembly.plan(manifest, profile, stack=stack_name)
    return p.spec, p.emitted


class Voice:
    """A loaded voice: ``stream`` text as audio chunks, lazily."""

    def __init__(self, manifest: Manifest, profile: Profile, root: StreamableBlock, frontend: FrontEnd) -> None:
        self.manifest = manifest
        self.profile = profile
        self.root = root
        self.frontend = frontend
        self.name = manifest.name
        self.sample_rate = manifest.sample_rate
        self.language = manifest.language
        self.architecture = manifest.architecture
        self.defaults = dict(manifest.inference)
        self.fallback: Voice | None = None  # finishes an utterance this voice fails inside
        self.timed, self.frame_ratio = frame_ratio(root)  # whether word timings are known, samples per frame

    @classmethod
    def load(cls, addon_dir: Path, profile: str | Mapping[str, Any] | None = None,
             sessions: SessionFactory | None = None, *, fallback: bool = True) -> Voice:
        voice = cls.from_assembled(assembly.load(Path(addon_dir), profile, sessions=sessions))
        decl = voice.manifest.fallback
        if fallback and decl is not None:
            # loaded now, not on failure: the hand-over must not wait for a load
            voice.fallback = cls._load_fallback(voice, decl, profile, sessions)
        return voice

    @classmethod
    def _load_fallback(cls, voice: Voice, decl: Any, profile: Any, sessions: SessionFactory | None) -> Voice:
        if decl.stack is not None:
            return cls.from_assembled(assembly.load(voice.manifest, profile, stack=decl.stack, sessions=sessions))
        from voicestack.catalog import resolve
        from voicestack.profiles import BUILTIN_PROFILES

        # the same runtime settings; a stack choice or a profile of this addon's own is this addon's
        if isinstance(profile, Mapping):
            profile = {k: v for k, v in profile.items() if k != "stack"}
        elif isinstance(profile, str) and profile not in BUILTIN_PROFILES:
            profile = None
        try:
            other = cls.load(resolve(decl.voice), profile, sessions, fallback=False)
        except SpecError as err:
            raise SpecError.at("fallback.voice", f"fallback voice {decl.voice!r} does not load: {err}",
                               source=voice.manifest.source) from None
        if other.sample_rate != voice.sample_rate:
            raise SpecError.at("fallback.voice", f"fallback voice {decl.voice!r} speaks at {other.sample_rate} Hz, "
                               f"this voice at {voice.sample_rate} Hz", source=voice.manifest.source)
        if _ids_of(other.manifest.frontend) != _ids_of(voice.manifest.frontend):
            raise SpecError.at("fallback.voice", f"fallback voice {decl.voice!r} reads other ids than this voice "
                               "(its front-end differs): it could not go on where this voice stopped",
                               source=voice.manifest.source)
        return other

    @classmethod
    def from_assembled(cls, built: assembly.Assembled) -> Voice:
        if built.frontend is None:
            raise SpecError.at("", "not a voice: this addon's stack takes a stream, not text", source=built.plan.manifest.source)
        return cls(built.plan.manifest, built.plan.profile, built.block, built.frontend)

    @property
    def speakers(self) -> list[str]:
        return list(self.manifest.speakers)

    def speaker(self, name: str | None) -> SpeakerDecl | None:
        """The speaker called ``name`` (None: the addon's default); RequestError if unknown."""
        if name is None:
            default = self.manifest.default_speaker
            return self.manifest.speakers[default] if default else None
        if not isinstance(name, str):
            raise RequestError("speaker", f"expected a speaker name, got {type(name).__name__}")
        found = self.manifest.speakers.get(name)
        if found is None:
            known = ", ".join(self.manifest.speakers) or "none (a single-speaker voice)"
            raise RequestError("speaker", f"voice '{self.name}' has no speaker {name!r}; its speakers: {known}")
        return found

    def request(self, *, seed: int | None = None, cancel: threading.Event | None = None,
                speaker: str | None = None, **overrides: float | None) -> Request:
        params = dict(self.defaults)
        for key, value in overrides.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise RequestError(key, f"expected a number, got {value!r}")
            lo, hi = PARAM_LIMITS.get(key, (-np.inf, np.inf))
            if not lo <= value <= hi:
                raise RequestError(key, f"{value} is out of range; expected {lo} to {hi}")
            params[key] = float(value)
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little")
        elif isinstance(seed, bool) or not isinstance(seed, int) or not -(1 << 63) <= seed < (1 << 64):
            raise RequestError("seed", f"expected a whole number that fits 64 bits, got {safe_text(seed)}")
        req = Request(params=params, seed=seed, speaker=self.speaker(speaker))
        if cancel is not None:
            req.cancel = cancel
        return req

    def stream(self, text: str, *, length_scale: float | None = None, noise_scale: float | None = None,
               noise_w: float | None = None, seed: int | None = None, cancel: threading.Event | None = None,
               request: Request | None = None, speaker: str | None = None, ssml: bool | None = False,
               voices: VoiceSource | None = None) -> Iterator[AudioChunk]:
        """Audio chunks as they are produced; nothing is computed until the first pull.

        ``ssml=True`` reads ``text`` as an SSML document (:mod:`voicestack.text.ssml`;
        ``None``: when it starts with ``<speak``); its ``<voice name>`` switches are
        loaded by ``voices`` (default: by name, as ``voicestack.load_voice``), in the
        background while the voice before them speaks."""
        if not isinstance(text, str):
            raise RequestError("text", f"expected a string, got {type(text).__name__}")
        if len(text) > MAX_TEXT_CHARS:
            raise RequestError("text", f"{len(text)} characters is more than the {MAX_TEXT_CHARS} allowed")
        req = request or self.request(seed=seed, cancel=cancel, speaker=speaker, length_scale=length_scale,
                                      noise_scale=noise_scale, noise_w=noise_w)
        if ssml or (ssml is None and looks_like_ssml(text)):
            from voicestack.speech import stream_document

            return stream_document(self, parse_ssml(text), req, voices or self._by_name, AudioChunk)
        return self._stream(text, req)

    def _by_name(self, name: str) -> Voice:
        from voicestack.catalog import resolve

        return Voice.load(resolve(name), profile=self.profile.name)

    def _stream(self, text: str, req: Request) -> Iterator[AudioChunk]:
        pieces = 0
        speaker: Voice = self  # the fallback once this voice failed inside the utterance
        sub: Request | None = None
        said = _Said()
        for number, piece in enumerate(self.frontend.pieces(text)):
            pieces += 1
            req.piece = number
            req.events.extend(piece.events)
            if sub is not None:
                yield from self._pulled(speaker, dict(piece.tensors), piece.spans, req, sub, number, said)
                continue
            mark = len(req.events)
            failed: dict[str, Any] | None = None

            def failure_at(mark: int = mark) -> int | None:
                nonlocal failed
                failed = _failure(req.events[mark:]) if self.fallback is not None else None
                return None if failed is None else int(failed["resume"])

            yield from self._pulled(self, dict(piece.tensors), piece.spans, req, req, number, said,
                                    failure_at)
            if failed is None:
                continue
            speaker, sub = self.fallback, self._fallback_request(req)  # type: ignore[assignment]
            ids = np.asarray(piece.tensors[self.frontend.ids_tensor]).reshape(-1)
            n = int(np.asarray(piece.tensors.get(self.frontend.lengths_tensor, [ids.size])).reshape(-1)[0])
            at = int(failed["resume"])
            req.events.append({"event": "fallback", "voice": self.name, "to": speaker.name,
                               "status": failed["status"], "piece": number, "resume": at,
                               "message": f"{self.name}: {failed['status']} at symbol {at} of {n}; "
                                          f"{speaker.name} speaks the rest"})
            if at < n:
                rest = self.frontend.resume(ids[:n].tolist(), at)
                shift = len(rest) - (n - at) - at  # a span's index in `rest`
                tensors = {self.frontend.ids_tensor: np.asarray([rest], np.int64),
                           self.frontend.lengths_tensor: np.asarray([len(rest)], np.int64)}
                def rest_spans(spans: Any = piece.spans, at: int = at, shift: int = shift) -> Any:
                    words, phones = spans()
                    return _shifted(words, at, shift), _shifted(phones, at, shift)

                yield from self._pulled(speaker, tensors, rest_spans, req, sub, number, said)
        if pieces == 0:
            raise RequestError("text", "nothing to speak: the text has no words this voice can read")
        if said.late[0] or said.late[1]:  # timings of the last piece's end that no audio followed
            yield AudioChunk(np.zeros(0, np.float32), self.sample_rate, *said.late)

    def _pulled(self, voice: Voice, tensors: dict[str, np.ndarray], spans: Any, req: Request,
                sub: Request, number: int, said: _Said, failure_at: Any = None) -> Iterator[AudioChunk]:
        """``voice`` speaks one piece under ``sub``, which follows ``req``'s pacing; the
        words and phonemes that start in each chunk ride with it. ``failure_at()``, asked
        at the end, says where the voice stopped if it failed (its words from there on are
        the fallback's to say)."""
        sub.piece = number
        clock = None
        words, phones = spans() if voice.timed and req.word_timings else ((), ())
        if words or phones:
            sub.alignment = Alignment()
            clock = PieceClock(words, phones, sub.alignment, voice.frame_ratio, said.emitted, self.sample_rate)
        stream = voice.root.stream(None, tensors, sub)
        while True:
            sub.window_limit = req.window_limit  # set between pulls by whoever pulls (the service)
            chunk = next(stream, None)
            if chunk is None:
                break
            audio = np.asarray(chunk["audio"], dtype=np.float32).reshape(-1)
            if audio.size:
                said.emitted += audio.size
                due = clock.due(said.emitted) if clock is not None else ((), ())
                yield AudioChunk(np.clip(audio, -1.0, 1.0), self.sample_rate, said.late[0] + due[0],
                                 said.late[1] + due[1])
                said.late = ((), ())
        stopped = failure_at() if failure_at is not None else None
        if clock is not None:
            if stopped is not None:
                clock.pending = [[s for s in spans if s.start < stopped] for spans in clock.pending]
            due = clock.due(said.emitted, final=True)
            said.late = (said.late[0] + due[0], said.late[1] + due[1])
        sub.alignment = None

    def _fallback_request(self, req: Request) -> Request:
        """The fallback's request: its own defaults, the caller's overrides, one seed, one
        cancel flag, one record of events and timings."""
        assert self.fallback is not None
        overrides = {k: v for k, v in req.params.items() if self.defaults.get(k) != v and k in self.fallback.defaults}
        sub = Request(params={**self.fallback.defaults, **overrides}, seed=req.seed, cancel=req.cancel,
                      word_timings=req.word_timings,
                      timings=req.timings, calls=req.calls, events=req.events, observer=req.observer)
        return sub

    def synthesize(self, text: str, **kwargs: Any) -> AudioChunk:
        """The whole utterance at once (same audio, words and phonemes as joining ``stream``)."""
        chunks = list(self.stream(text, **kwargs))
        audio = np.concatenate([c.audio for c in chunks]) if chunks else np.zeros(0, np.float32)
        return AudioChunk(audio, self.sample_rate, tuple(w for c in chunks for w in c.words),
                          tuple(p for c in chunks for p in c.phonemes))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "language": self.language, "sample_rate": self.sample_rate,
                "architecture": self.architecture, "profile": self.profile.name, "speakers": self.speakers,
                "frontend": self.frontend.describe(), "stack": self.root.describe()}
