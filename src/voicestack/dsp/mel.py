"""The mel-spectrogram every mel model and mel vocoder of voicestack agrees on.

One definition, parameterised by :class:`MelSettings` (which an addon manifest carries
under ``"mel"``)::

    STFT: Hann window of ``win_length`` zero-padded to ``n_fft``, hop ``hop_length``,
          magnitude (not power)
    mel:  ``n_mels`` triangular filters between ``fmin`` and ``fmax`` on the Slaney mel
          scale, Slaney area normalisation (each filter divided by its bandwidth in Hz/2)
    log:  natural log of max(mel, ``clamp``)

Frames are aligned to the acoustic model's frames: frame ``i`` is centred on sample
``i * hop + hop / 2``, the middle of the ``i``-th hop-sized block of samples, and a
signal of ``n`` samples gives exactly ``n // hop`` frames. For Piper's joe (hop 256)
frame ``i`` is the mel of joe's decoder frame ``i``, so joe's durations index mel frames.
Padding at both ends is reflection (constant zeros when the signal is too short).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np

MEL_SCALES = ("slaney",)
NORMS = ("slaney",)


@dataclass(frozen=True)
class MelSettings:
    sample_rate: int = 22050
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 256
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    mel_scale: str = "slaney"
    norm: str = "slaney"
    magnitude: str = "magnitude"  # "magnitude" (|X|) — power is not used
    log: str = "ln"
    clamp: float = 1e-5

    def __post_init__(self) -> None:
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length {self.win_length} is longer than n_fft {self.n_fft}")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= fmin < fmax <= sample_rate/2, got {self.fmin}, {self.fmax}, {self.sample_rate}")
        if self.mel_scale not in MEL_SCALES or self.norm not in NORMS:
            raise ValueError(f"mel_scale/norm must be one of {MEL_SCALES}/{NORMS}")
        if self.magnitude != "magnitude" or self.log != "ln":
            raise ValueError("only magnitude spectra with a natural log are defined")
        if self.hop_length < 1 or self.n_mels < 1 or self.clamp <= 0:
            raise ValueError("hop_length, n_mels and clamp must be positive")

    # --- JSON (the manifest's "mel" object) ---------------------------------------
    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> MelSettings:
        """Parse a manifest's ``mel`` object; unknown keys and bad values raise ValueError."""
        if isinstance(data, str):
            data = json.loads(data)
        if not isinstance(data, dict):
            raise ValueError(f"mel settings must be an object, got {type(data).__name__}")  # noqa: TRY004 (one error type for every bad setting)
        names = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown mel setting(s) {', '.join(unknown)}; valid: {', '.join(names)}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            kind = type(names[key].default)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"mel setting '{key}': got {value!r}, expected {kind.__name__}")  # noqa: TRY004 (as above)
            values[key] = value
        return cls(**values)

    # --- compatibility ------------------------------------------------------------
    # what a vocoder must agree on with the model that makes its mels
    COMPARED = ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "fmin", "fmax", "mel_scale", "norm",
                "magnitude", "log")

    def differences(self, other: MelSettings) -> list[tuple[str, Any, Any]]:
        """(setting, this value, other value) for every setting that differs."""
        return [(k, getattr(self, k), getattr(other, k)) for k in self.COMPARED if getattr(self, k) != getattr(other, k)]


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, hz / f_sp)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


_fb_cache: dict[MelSettings, np.ndarray] = {}


def mel_filterbank(settings: MelSettings) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] float32 triangular filters (Slaney scale and norm)."""
    cached = _fb_cache.get(settings)
    if cached is not None:
        return cached
    s = settings
    freqs = np.linspace(0.0, s.sample_rate / 2, s.n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(s.fmin), hz_to_mel(s.fmax), s.n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    fb = np.maximum(0.0, np.minimum(lower, upper))
    fb *= (2.0 / (edges[2:] - edges[:-2]))[:, None]  # Slaney norm: equal area
    out = fb.astype(np.float32)
    _fb_cache[settings] = out
    return out


def window(settings: MelSettings) -> np.ndarray:
    """Periodic Hann of ``win_length`` centred in ``n_fft`` (float64)."""
    s = settings
    n = np.arange(s.win_length)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / s.win_length)
    out = np.zeros(s.n_fft)
    start = (s.n_fft - s.win_length) // 2
    out[start : start + s.win_length] = hann
    return out


def frame_padding(settings: MelSettings) -> tuple[int, int]:
    """Samples padded (left, right) so frame i is centred on sample i*hop + hop/2."""
    s = settings
    left = s.n_fft // 2 - s.hop_length // 2
    right = s.n_fft - s.hop_length - left
    return left, right


def stft_magnitude(audio: np.ndarray, settings: MelSettings) -> np.ndarray:
    """[n_fft // 2 + 1, len // hop] magnitudes of the aligned frames (float32)."""
    s = settings
    x = np.asarray(audio, np.float64).reshape(-1)
    frames = x.size // s.hop_length
    if frames == 0:
        return np.zeros((s.n_fft // 2 + 1, 0), np.float32)
    x = x[: frames * s.hop_length]
    left, right = frame_padding(s)
    mode: Literal["reflect", "constant"] = "reflect" if x.size > max(left, right) else "constant"
    padded = np.pad(x, (left, right), mode=mode)
    idx = np.arange(s.n_fft)[None, :] + s.hop_length * np.arange(frames)[:, None]
    spec = np.fft.rfft(padded[idx] * window(s)[None, :], axis=1)
    return np.abs(spec).T.astype(np.float32)


def log_mel(audio: np.ndarray, settings: MelSettings | None = None) -> np.ndarray:
    """[n_mels, len(audio) // hop_length] float32 natural-log mel magnitudes."""
    s = settings or MelSettings()
    mag = stft_magnitude(audio, s)
    mel = mel_filterbank(s) @ mag
    return np.log(np.maximum(mel, s.clamp)).astype(np.float32)
