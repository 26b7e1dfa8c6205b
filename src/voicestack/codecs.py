"""Streaming audio encoders: float32 mono chunks in, encoded bytes out as they are produced.

One small class per format, registered by name in :data:`ENCODERS`::

    enc = encoder("opus", sample_rate=22050)
    for chunk in voice.stream(text):
        send(enc.write(chunk.audio))   # bytes as soon as the codec has a packet
    send(enc.close())                  # the rest: flushed packets, the stream's trailer

Compressed formats (flac, ogg/opus, mp3, aac) and wav go through PyAV (FFmpeg's
muxers and codecs, bundled in the ``av`` wheel); ``pcm`` is bare 16-bit little-endian
samples. Where a codec cannot take the voice's rate (Opus: 8/12/16/24/48 kHz) the audio
is resampled by FFmpeg's resampler.

A muxer that would go back and rewrite its header once the length is known (WAV's RIFF
sizes, FLAC's STREAMINFO sample count, MP3's Xing frame count) cannot do that on a
stream; those rewrites are kept as :attr:`Encoder.patches` (offset, bytes). A file
writer applies them after :meth:`Encoder.close` (:func:`encode_to` does), so a file is
exact; a non-seekable stream (a pipe, an HTTP body) simply goes without them:

- WAV on a stream declares the RIFF and data sizes as 0xFFFFFFFF ("until the end"), as
  FFmpeg and SoX do on a pipe. FFmpeg/ffprobe, PyAV and soundfile (libsndfile) read
  exactly the samples present; Python's ``wave`` module believes the header for
  ``getnframes()`` but ``readframes()`` returns the samples present (read until it
  returns ``b""``). Saved to a file with the patches applied, every reader agrees.
- FLAC on a stream has a total sample count of 0 ("unknown", allowed by the format):
  FFmpeg/PyAV decode it; libsndfile needs the file version.
- MP3 made with ``stream=True`` has no Xing header (decoders compute the length from the
  bit rate of the constant-bit-rate stream; an unpatched Xing frame would claim a wrong
  frame count); the file version has it, for gapless length.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from typing import Any, BinaryIO, ClassVar

import numpy as np

from voicestack.errors import RequestError

__all__ = ["ENCODERS", "EXTENSIONS", "Encoder", "encode_to", "encoder", "format_for_path", "to_pcm16"]


def to_pcm16(audio: np.ndarray) -> bytes:
    """Float samples in [-1, 1] (clipped) -> 16-bit little-endian PCM."""
    clipped = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
    return (clipped * 32767.0).round().astype("<i2").tobytes()


class Encoder:
    """One encoded stream. ``write`` takes float32 mono samples at ``sample_rate`` and
    returns whatever bytes are ready (possibly none); ``close`` returns the rest."""

    name: ClassVar[str]
    media_type: ClassVar[str]
    extension: ClassVar[str]

    def __init__(self, sample_rate: int, stream: bool = False) -> None:
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not 1000 <= sample_rate <= 384000:
            raise RequestError("sample_rate", f"got {sample_rate!r}, expected an integer from 1000 to 384000")
        self.sample_rate = sample_rate
        self.rate = sample_rate  # the rate of the encoded audio (resampled for some codecs)
        self.samples = 0  # samples written so far, at sample_rate
        self.patches: list[tuple[int, bytes]] = []  # rewrites for a seekable file, after close()
        self.stream = stream  # bytes for a non-seekable consumer: no header that only a patch makes right
        self.closed = False

    def write(self, audio: np.ndarray) -> bytes:
        if self.closed:
            raise ValueError(f"{self.name} encoder: write after close")
        samples = np.asarray(audio, dtype=np.float32).reshape(-1)
        self.samples += samples.size
        return self._write(samples) if samples.size else b""

    def close(self) -> bytes:
        if self.closed:
            return b""
        self.closed = True
        return self._close()

    def _write(self, audio: np.ndarray) -> bytes:
        raise NotImplementedError

    def _close(self) -> bytes:
        raise NotImplementedError


class PcmEncoder(Encoder):
    """Bare samples, 16-bit little-endian, mono, no header."""

    name, media_type, extension = "pcm", "audio/L16", "pcm"

    def _write(self, audio: np.ndarray) -> bytes:
        return to_pcm16(audio)

    def _close(self) -> bytes:
        return b""


class _Sink:
    """The file object PyAV writes into. It reports itself seekable so that muxers write
    their end-of-stream header rewrites; bytes at the end are handed out by ``take()``
    as produced, and writes behind what was already handed out become patches."""

    def __init__(self) -> None:
        self.pending = bytearray()
        self.handed = 0  # bytes already returned by take()
        self.pos = 0
        self.patches: list[tuple[int, bytes]] = []

    def write(self, data: Any) -> int:
        data = bytes(data)
        size = len(data)
        if self.pos < self.handed:  # behind what is already out: a patch
            behind = data[: self.handed - self.pos]
            self.patches.append((self.pos, behind))
            self.pos += len(behind)
            data = data[len(behind) :]
        if data:
            start = self.pos - self.handed
            if start > len(self.pending):  # a seek past the end: the gap reads as zeros
                self.pending += bytes(start - len(self.pending))
            self.pending[start : start + len(data)] = data
            self.pos += len(data)
        return size

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        end = self.handed + len(self.pending)
        self.pos = {os.SEEK_SET: offset, os.SEEK_CUR: self.pos + offset, os.SEEK_END: end + offset}[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def take(self) -> bytes:
        out = bytes(self.pending)
        self.handed += len(out)
        self.pending.clear()
        return out


class AvEncoder(Encoder):
    """A PyAV (FFmpeg) muxer + codec; subclasses name them and the rates the codec takes."""

    container: ClassVar[str]
    codec: ClassVar[str]
    rates: ClassVar[tuple[int, ...] | None] = None  # None: any rate
    formats: ClassVar[tuple[str, ...]] = ("flt", "fltp", "s16")  # sample formats, preferred first
    bit_rate: ClassVar[int | None] = None
    options: ClassVar[dict[str, str]] = {}
    stream_options: ClassVar[dict[str, str]] = {}  # on top of ``options`` when nothing will be patched

    def __init__(self, sample_rate: int, stream: bool = False) -> None:
        super().__init__(sample_rate, stream)
        try:
            import av
        except ImportError as err:  # pragma: no cover - a core dependency
            raise RuntimeError("audio encoding needs PyAV: pip install av") from err
        self._av = av
        self.rate = sample_rate if self.rates is None or sample_rate in self.rates else \
            min((r for r in self.rates if r >= sample_rate), default=max(self.rates))
        self._sink = _Sink()
        # flush_packets: hand each packet out at once (FFmpeg only does so by itself on
        # outputs it knows are not seekable); bitexact: no encoder-version tags
        self._out = av.open(self._sink, "w", format=self.container,
                            container_options={"flush_packets": "1", "fflags": "+bitexact", **self.options,
                                               **(self.stream_options if stream else {})})
        self._stream: Any = self._out.add_stream(self.codec, rate=self.rate, layout="mono")
        ctx: Any = self._stream.codec_context
        supported = [f.name for f in (ctx.codec.audio_formats or [])]
        ctx.format = next((f for f in self.formats if f in supported), supported[0] if supported else "s16")
        if self.bit_rate:
            ctx.bit_rate = self.bit_rate
        self._resampler = av.AudioResampler(format=ctx.format.name, layout="mono", rate=self.rate)
        self._pts = 0

    def _encode(self, frames: list[Any]) -> None:
        for frame in frames:
            frame.pts = self._pts
            frame.time_base = Fraction(1, self.rate)
            self._pts += frame.samples
            for packet in self._stream.encode(frame):
                self._out.mux(packet)

    def _write(self, audio: np.ndarray) -> bytes:
        if self._resampler.format.name == "s16":  # the same 16-bit samples as ``pcm``
            frame = self._av.AudioFrame.from_ndarray(
                np.frombuffer(to_pcm16(audio), "<i2")[None, :], format="s16", layout="mono")
        else:
            frame = self._av.AudioFrame.from_ndarray(audio[None, :], format="flt", layout="mono")
        frame.sample_rate = self.sample_rate
        self._encode(self._resampler.resample(frame))
        return self._sink.take()

    def _close(self) -> bytes:
        self._encode(self._resampler.resample(None))
        for packet in self._stream.encode(None):
            self._out.mux(packet)
        self._out.close()
        self.patches = self._sink.patches
        return self._sink.take()


class WavEncoder(AvEncoder):
    """RIFF WAVE, 16-bit PCM. On a stream the sizes say 0xFFFFFFFF (see the module doc);
    a file gets its real sizes from the patches."""

    name, media_type, extension = "wav", "audio/wav", "wav"
    container, codec = "wav", "pcm_s16le"
    formats = ("s16",)


class FlacEncoder(AvEncoder):
    name, media_type, extension = "flac", "audio/flac", "flac"
    container, codec = "flac", "flac"
    formats = ("s16",)


class OpusEncoder(AvEncoder):
    """Opus in Ogg (what OpenAI's ``opus`` format is), resampled to 48 kHz."""

    name, media_type, extension = "opus", "audio/ogg", "opus"
    container, codec = "ogg", "libopus"
    rates = (48000,)  # Opus also takes 8-24 kHz, but players expect 48 kHz streams
    bit_rate = 48000
    options: ClassVar[dict[str, str]] = {"page_duration": "100000"}  # an Ogg page every 100 ms (default 1 s) for streaming


class Mp3Encoder(AvEncoder):
    name, media_type, extension = "mp3", "audio/mpeg", "mp3"
    container, codec = "mp3", "libmp3lame"
    rates = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
    bit_rate = 64000
    # a Xing frame is only right once patched: a stream without patches goes without it
    stream_options: ClassVar[dict[str, str]] = {"write_xing": "0"}


class AacEncoder(AvEncoder):
    """AAC-LC in ADTS frames (streamable; what OpenAI's ``aac`` format is)."""

    name, media_type, extension = "aac", "audio/aac", "aac"
    container, codec = "adts", "aac"
    rates = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
    bit_rate = 64000


ENCODERS: dict[str, type[Encoder]] = {
    cls.name: cls for cls in (WavEncoder, PcmEncoder, FlacEncoder, OpusEncoder, Mp3Encoder, AacEncoder)
}
# file name extension -> format
EXTENSIONS = {".wav": "wav", ".wave": "wav", ".flac": "flac", ".ogg": "opus", ".opus": "opus", ".oga": "opus",
              ".mp3": "mp3", ".aac": "aac", ".pcm": "pcm", ".raw": "pcm"}


def encoder(fmt: str, sample_rate: int, field: str = "format", *, stream: bool = False) -> Encoder:
    """A new encoder for ``fmt``; an unknown name is a :class:`RequestError` on ``field``.
    ``stream``: the bytes go where no patch can follow (a pipe, an HTTP body)."""
    cls = ENCODERS.get(fmt) if isinstance(fmt, str) else None
    if cls is None:
        raise RequestError(field, f"unknown audio format {fmt!r}; expected one of {', '.join(ENCODERS)}")
    return cls(sample_rate, stream=stream)


def format_for_path(path: str | os.PathLike[str]) -> str | None:
    """The format a file name's extension asks for (``.ogg`` and ``.opus`` -> opus), or None."""
    return EXTENSIONS.get(os.path.splitext(os.fspath(path))[1].lower())


def encode_to(out: BinaryIO, chunks: Iterable[np.ndarray], enc: Encoder, *, flush: bool = False) -> int:
    """Encode ``chunks`` into ``out`` as they come; returns the samples written. If ``out``
    is seekable the encoder's patches (exact header sizes) are applied at the end.
    ``flush`` flushes ``out`` after every chunk (a pipe someone listens to)."""
    for audio in chunks:
        data = enc.write(audio)
        if data:
            out.write(data)
            if flush:
                out.flush()
    out.write(enc.close())
    if enc.patches and _seekable(out):
        end = out.tell()
        for offset, data in enc.patches:
            out.seek(offset)
            out.write(data)
        out.seek(end)
    out.flush()
    return enc.samples


def _seekable(out: BinaryIO) -> bool:
    try:
        return bool(out.seekable())
    except (AttributeError, OSError, ValueError):
        return False
