"""A loaded voice: text front-end + validated stack + profile -> a lazy audio stream."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
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
        self.timed, self.frame_ratio = frame_ratio(root)  # whether word timings are known, samples per frame

    @classmethod
    def load(cls, addon_dir: Path, profile: str | Mapping[str, Any] | None = None,
             sessions: SessionFactory | None = None) -> Voice:
        return cls.from_assembled(assembly.load(Path(addon_dir), profile, sessions=sessions))

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
        emitted = 0  # samples of the utterance so far
        late: tuple[tuple[Timing, ...], tuple[Timing, ...]] = ((), ())  # timings for the next chunk
        for number, piece in enumerate(self.frontend.pieces(text)):
            pieces += 1
            req.piece = number
            req.events.extend(piece.events)
            clock = None
            if self.timed and (piece.words or piece.phones):
                req.alignment = Alignment()
                clock = PieceClock(piece.words, piece.phones, req.alignment, self.frame_ratio, emitted, self.sample_rate)
            for chunk in self.root.stream(None, dict(piece.tensors), req):
                audio = np.asarray(chunk["audio"], dtype=np.float32).reshape(-1)
                if audio.size:
                    emitted += audio.size
                    words, phones = clock.due(emitted) if clock is not None else ((), ())
                    yield AudioChunk(np.clip(audio, -1.0, 1.0), self.sample_rate, late[0] + words, late[1] + phones)
                    late = ((), ())
            if clock is not None:
                words, phones = clock.due(emitted, final=True)
                late = (late[0] + words, late[1] + phones)
            req.alignment = None
        if pieces == 0:
            raise RequestError("text", "nothing to speak: the text has no words this voice can read")
        if late[0] or late[1]:  # timings of the last piece's end that no audio followed
            yield AudioChunk(np.zeros(0, np.float32), self.sample_rate, *late)

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
