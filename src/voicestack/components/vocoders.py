"""Mel vocoders: StreamableBlocks that turn a ``mel`` stream [1, n_mels, F] into ``audio``.

* ``GriffinLim`` needs no weights. It inverts the log-mel with the filterbank's
  pseudo-inverse and runs fast Griffin-Lim (momentum) in windows at fixed absolute frame
  positions (``window`` frames each, ``context`` frames of extra spectrum on both sides,
  the start phase taken from the previous window where they overlap, raised-cosine
  crossfades of ``overlap`` frames at the seams). Because the windows never depend on
  how the mel arrives, streaming it chunk by chunk gives the same samples as handing it
  over whole: the whole-utterance reference *is* this windowed algorithm (plain
  whole-signal Griffin-Lim is an iterative global method and cannot be streamed exactly).
* ``Vocoder`` runs another addon — a vocoder addon with its own networks and stack, or
  the built-in ``griffin-lim`` — on this addon's mel stream. It compares the two addons'
  mel settings in ``check``, before any weights load, and refuses any mismatch naming
  both sides: ``mel model 'x' has hop_length 256, vocoder 'y' has 160``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from voicestack.addon import Manifest
from voicestack.blocks import Request, Stream, StreamableBlock, frame_ratio
from voicestack.components.base import BuildContext, CheckEnv
from voicestack.components.decoders import FrameBuffer
from voicestack.dsp.mel import MelSettings, frame_padding, mel_filterbank
from voicestack.dsp.mel import window as stft_window
from voicestack.errors import SpecError
from voicestack.components.base import register
from voicestack.spec import BlockSpec
from voicestack.tensors import TensorDecl, Tensors

GRIFFIN_LIM = "griffin-lim"


def manifest_mel(manifest: Manifest, env: CheckEnv | None = None, who: str = "") -> MelSettings | None:
    """The addon's mel settings, or None (reported to ``env`` when given)."""
    raw = manifest.mel
    if raw is None:
        if env is not None:
            env.error(f"{who or manifest.source} needs mel settings, but addon '{manifest.name}' declares no 'mel'")
        return None
    try:
        return MelSettings.from_json(dict(raw))
    except ValueError as err:
        if env is not None:
            env.error(f"addon '{manifest.name}' has bad mel settings: {err}")
        return None


# ------------------------------------------------------------------ Griffin-Lim (numpy)


class GriffinLimEngine:
    """Fast Griffin-Lim on segments of a log-mel, STFT framing identical to ``log_mel``."""

    def __init__(self, settings: MelSettings, iterations: int, momentum: float) -> None:
        self.s = settings
        self.iterations = iterations
        self.momentum = momentum
        self.inverse = np.linalg.pinv(mel_filterbank(settings).astype(np.float64))
        self.win = stft_window(settings)
        self.left, _ = frame_padding(settings)

    def magnitude(self, log_mel: np.ndarray) -> np.ndarray:
        """[bins, n] linear magnitude from [n_mels, n] log-mel (pseudo-inverse, clipped at 0)."""
        return np.maximum(self.inverse @ np.exp(log_mel.astype(np.float64)), 0.0)

    def _stft(self, x: np.ndarray, n: int) -> np.ndarray:
        hop, n_fft = self.s.hop_length, self.s.n_fft
        idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
        return np.fft.rfft(x[idx] * self.win[None, :], axis=1)

    def _istft(self, spec: np.ndarray) -> np.ndarray:
        hop, n_fft = self.s.hop_length, self.s.n_fft
        n = spec.shape[0]
        frames = np.fft.irfft(spec, n=n_fft, axis=1) * self.win[None, :]
        length = (n - 1) * hop + n_fft
        out = np.zeros(length)
        norm = np.zeros(length)
        w2 = self.win**2
        for i in range(n):  # n is a window's frame count (tens): a loop is cheap here
            out[i * hop : i * hop + n_fft] += frames[i]
            norm[i * hop : i * hop + n_fft] += w2
        return out / np.maximum(norm, 1e-8)

    def run(self, mag: np.ndarray, phase0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Segment of ``n`` frames -> (audio of n*hop samples, final phase [n, bins])."""
        n = mag.shape[1]
        target = mag.T
        angles = phase0.copy()
        prev = np.zeros_like(angles)
        alpha = self.momentum / (1.0 + self.momentum)
        for _ in range(self.iterations):
            rebuilt = self._stft(self._istft(target * angles), n)
            angles = rebuilt - alpha * prev
            prev = rebuilt
            angles = angles / np.maximum(np.abs(angles), 1e-16)
        x = self._istft(target * angles)
        hop = self.s.hop_length
        return x[self.left : self.left + n * hop], angles


@dataclass(frozen=True)
class GriffinLimParams:
    iterations: int = 32
    momentum: float = 0.99
    window: int = 48  # frames of output per window
    context: int = 16  # frames of spectrum beyond the window on each side
    overlap: int = 8  # frames crossfaded at each seam (<= context)
    input: str = "mel"
    output: str = "audio"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.iterations < 0 or not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"need iterations >= 0 and 0 <= momentum < 1, got {self.iterations}, {self.momentum}")
        if self.window < 1 or self.context < 0 or not 0 <= self.overlap <= min(self.context, self.window):
            raise ValueError(f"need window >= 1 and 0 <= overlap <= min(context, window); got window {self.window}, "
                             f"context {self.context}, overlap {self.overlap}")


@register
class GriffinLim(StreamableBlock):
    """Mel -> audio with no weights; settings from the addon's ``mel`` (or given by a Vocoder)."""

    type_name = "GriffinLim"
    Params = GriffinLimParams

    def __init__(self, params: GriffinLimParams, settings: MelSettings, name: str) -> None:
        super().__init__(name)
        self.params = params
        self.settings = settings
        self.engine = GriffinLimEngine(settings, params.iterations, params.momentum)
        self.time_ratio = settings.hop_length

    def _windows(self, buf: FrameBuffer) -> Iterator[tuple[int, int, int, np.ndarray]]:
        """(core start, core end, first frame computed, audio) per window, at fixed positions."""
        p = self.params
        bins = self.settings.n_fft // 2 + 1
        k = 0
        prev: tuple[int, np.ndarray] | None = None  # (first frame, final phase) of the last window
        while True:
            start = k * p.window
            buf.fill_to(start + p.window + p.context + 1)  # +1: know whether more follows
            if start >= buf.end:
                return
            end = min(buf.end, start + p.window)
            lo, hi = max(0, start - p.context), min(buf.end, end + p.context)
            mag = self.engine.magnitude(buf.slice(lo, hi)[0])
            rng = np.random.default_rng([p.seed, k])
            phase = np.exp(2j * np.pi * rng.random((hi - lo, bins)))
            if prev is not None:  # continue the previous window's phase where they overlap
                p_lo, p_phase = prev
                b = min(hi, p_lo + p_phase.shape[0])
                if b > lo:
                    phase[: b - lo] = p_phase[lo - p_lo : b - p_lo]
            audio, final = self.engine.run(mag, phase)
            prev = (lo, final)
            yield start, end, lo, audio
            buf.drop_before(end - p.context)
            k += 1

    def generate(self, source: Stream | None, tensors: Tensors, request: Request) -> Stream:
        assert source is not None
        p, hop = self.params, self.settings.hop_length
        buf = FrameBuffer(source, p.input)
        x = p.overlap * hop  # a seam is crossfaded over [seam - x, seam + x)
        fade = 0.5 - 0.5 * np.cos(np.pi * (np.arange(2 * x) + 0.5) / (2 * x)) if x else np.zeros(0)
        pending = np.zeros(0)  # merged audio for samples [emitted, emitted + pending.size)
        emitted = 0
        for start, end, lo, audio in self._windows(buf):
            first = lo * hop  # absolute sample of audio[0]
            if start == 0:
                pending = audio
            else:
                seam = start * hop
                a = seam - x
                b = min(seam + x, emitted + pending.size, first + audio.size)
                old = pending[a - emitted : b - emitted]
                new = audio[a - first : b - first]
                w = fade[: b - a]
                pending = np.concatenate([pending[: a - emitted], old * (1.0 - w) + new * w, audio[b - first :]])
            cut = end * hop - x - emitted  # the next seam may still change the last x samples
            if cut > 0:
                yield {p.output: pending[:cut].astype(np.float32).reshape(1, 1, -1)}
                emitted += cut
                pending = pending[cut:]
        if pending.size:
            yield {p.output: pending.astype(np.float32).reshape(1, 1, -1)}

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        settings = manifest_mel(env.manifest, env, "GriffinLim")
        return cls.check_with(spec.params, settings, env)

    @classmethod
    def check_with(cls, p: GriffinLimParams, settings: MelSettings | None, env: CheckEnv) -> dict[str, TensorDecl]:
        want = TensorDecl("float32", (1, settings.n_mels if settings else "M", "F"))
        env.require(p.input, want, "GriffinLim", stream=True)
        if settings is not None and p.overlap * 2 > p.context + p.window:
            env.error("overlap too long for the window")
        return {p.output: TensorDecl("float32", (1, 1, "S"))}

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> GriffinLim:
        settings = manifest_mel(ctx.manifest)
        if settings is None:
            raise SpecError.at(spec.path, f"GriffinLim needs mel settings; addon '{ctx.manifest.name}' has none")
        return cls(spec.params, settings, spec.name or cls.type_name)

    def describe(self) -> dict[str, Any]:
        p = self.params
        return {**super().describe(), "iterations": p.iterations, "window": p.window, "context": p.context}


# ------------------------------------------------------------------ Vocoder (another addon)


@dataclass(frozen=True)
class VocoderParams:
    addon: str  # a vocoder addon's name or path, or "griffin-lim"
    stack: str = "default"  # which of the vocoder addon's stacks
    input: str = "mel"  # the stream tensor holding the mel (renamed to 'mel' for the vocoder)
    iterations: int = 32  # griffin-lim only
    window: int = 48  # griffin-lim only
    context: int = 16  # griffin-lim only


def mel_mismatch(model: Manifest, model_mel: MelSettings, vocoder: str, voc_mel: MelSettings) -> list[str]:
    return [f"mel model '{model.name}' has {key} {a}, vocoder '{vocoder}' has {b}"
            for key, a, b in model_mel.differences(voc_mel)]


@register
class Vocoder(StreamableBlock):
    """Runs a vocoder addon (its own networks and stack) on this addon's mel stream."""

    type_name = "Vocoder"
    Params = VocoderParams

    def __init__(self, params: VocoderParams, inner: StreamableBlock, vocoder_name: str, name: str) -> None:
        super().__init__(name)
        self.params = params
        self.inner = inner
        self.vocoder_name = vocoder_name
        self.time_ratio = frame_ratio(inner)[1]

    def generate(self, source: Stream | None, tensors: Tensors, request: Request) -> Stream:
        assert source is not None
        key = self.params.input

        def renamed() -> Stream:
            for chunk in source:
                yield {"mel": chunk[key]}

        stream = renamed() if key != "mel" else source
        yield from self.inner.stream(stream, {}, request)

    @staticmethod
    def _gl_params(p: VocoderParams) -> GriffinLimParams:
        return GriffinLimParams(iterations=p.iterations, window=p.window, context=p.context,
                                overlap=min(8, p.context, p.window))

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        p = spec.params
        model_mel = manifest_mel(env.manifest, env, f"Vocoder '{p.addon}'")
        if p.addon == GRIFFIN_LIM:
            gl_env = env.with_(stream={"mel": env.stream[p.input]} if env.stream and p.input in env.stream else env.stream)
            try:
                gl = cls._gl_params(p)
            except ValueError as err:
                env.error(str(err))
                return {}
            return GriffinLim.check_with(gl, model_mel, gl_env)
        got = env.require(p.input, None, f"Vocoder '{p.addon}'", stream=True)
        if got is None or env.nested is None:
            if env.nested is None:
                env.error("a Vocoder needs the assembly (voicestack.assembly.plan) to check its addon")
            return {}
        try:
            inner = env.nested(p.addon, p.stack, {"mel": got}, env.path)
        except SpecError as err:
            env.problems.extend(err.problems)
            return {}
        voc_mel = manifest_mel(inner.manifest, env, f"vocoder '{inner.manifest.name}'")
        if model_mel is not None and voc_mel is not None:
            for message in mel_mismatch(env.manifest, model_mel, inner.manifest.name, voc_mel):
                env.error(message, "addon")
        emitted: dict[str, TensorDecl] = inner.emitted
        return emitted

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> Vocoder:
        p = spec.params
        name = spec.name or cls.type_name
        if p.addon == GRIFFIN_LIM:
            settings = manifest_mel(ctx.manifest)
            assert settings is not None  # check() refused it otherwise
            gl = GriffinLim(cls._gl_params(p), settings, GRIFFIN_LIM)
            return cls(p, gl, GRIFFIN_LIM, name)
        assert ctx.nested is not None, "a Vocoder is built by voicestack.assembly.build"
        inner = ctx.nested(p.addon, p.stack, spec.path)
        return cls(p, inner, p.addon, name)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "addon": self.vocoder_name, "stack": self.inner.describe()}
