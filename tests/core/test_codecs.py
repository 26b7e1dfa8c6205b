"""Every encoder streams (bytes before the end of the audio) and decodes, with a standard
decoder, to the audio it was given: duration, frequency and energy of a sine."""

from __future__ import annotations

import io
import os
import struct
import wave
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from voicestack import codecs
from voicestack.audio import atomic_output, wav_header, write_audio
from voicestack.errors import RequestError

RATE = 22050
FREQ = 440.0


def sine(seconds: float = 1.5, rate: int = RATE, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * FREQ * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def chunks(audio: np.ndarray, size: int = RATE // 10) -> list[np.ndarray]:
    return [audio[i : i + size] for i in range(0, audio.size, size)]


def decode_av(data: bytes) -> tuple[np.ndarray, int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(stream)]  # mono: planar or not
        rate = stream.rate
    audio = np.concatenate(frames).astype(np.float64)
    if audio.dtype.kind == "i" or np.abs(audio).max() > 2:
        audio = audio / 32768.0
    return audio, rate


def peak_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.fft.rfftfreq(audio.size, 1 / rate)[spectrum.argmax()])


def check_sine(audio: np.ndarray, rate: int, seconds: float, tolerance: float) -> None:
    assert abs(audio.size / rate - seconds) <= tolerance, (audio.size / rate, seconds)
    assert abs(peak_hz(audio, rate) - FREQ) < 5
    middle = audio[audio.size // 4 : 3 * audio.size // 4]
    rms = float(np.sqrt(np.mean(middle**2)))
    assert abs(rms - 0.5 / np.sqrt(2)) < 0.05 * 0.5, rms


# codec delay: AAC in ADTS has no way to say how many priming samples to drop
TOLERANCE = {"wav": 0.0, "pcm": 0.0, "flac": 0.0, "opus": 0.001, "mp3": 0.001, "aac": 0.1}


@pytest.mark.parametrize("fmt", [f for f in codecs.ENCODERS if f != "pcm"])
def test_stream_decodes_to_the_sine_and_starts_early(fmt: str) -> None:
    audio = sine()
    enc = codecs.encoder(fmt, RATE)
    parts = [enc.write(c) for c in chunks(audio)]
    tail = enc.close()
    first = next(i for i, p in enumerate(parts) if p)
    assert first <= 3, f"first bytes only after chunk {first}"  # bytes flow while audio is produced
    assert sum(map(len, parts)) > len(tail)  # most of it before the end
    decoded, rate = decode_av(b"".join(parts) + tail)  # the stream as sent: no header patches
    assert rate == (48000 if fmt == "opus" else RATE)
    check_sine(decoded, rate, 1.5, TOLERANCE[fmt] + 0.05)  # a stream may lack the length header


@pytest.mark.parametrize("fmt", [f for f in codecs.ENCODERS if f != "pcm"])
def test_file_is_exact(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"out.{fmt}"
    assert write_audio(path, chunks(sine()), RATE, fmt) == int(1.5 * RATE)
    decoded, rate = decode_av(path.read_bytes())
    check_sine(decoded, rate, 1.5, TOLERANCE[fmt])
    with av.open(str(path)) as container:  # the duration ffprobe reports
        assert container.duration is not None and abs(container.duration / 1e6 - 1.5) <= TOLERANCE[fmt] + 0.01
    if fmt != "aac":  # libsndfile reads no ADTS
        info = sf.info(str(path))
        assert abs(info.frames / info.samplerate - 1.5) <= TOLERANCE[fmt]
        data, rate = sf.read(str(path))
        check_sine(data, rate, 1.5, TOLERANCE[fmt])


def test_wav_file_header_sizes_are_exact(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    write_audio(path, chunks(sine()), RATE, "wav")
    with wave.open(str(path)) as w:
        assert (w.getnframes(), w.getframerate(), w.getsampwidth(), w.getnchannels()) == (33075, RATE, 2, 1)
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert np.array_equal(pcm, np.frombuffer(codecs.to_pcm16(sine()), "<i2"))
    data = path.read_bytes()
    assert data[:44] == wav_header(RATE, 33075 * 2) and len(data) == 44 + 33075 * 2


def test_streamed_wav_says_until_the_end_and_readers_get_every_sample() -> None:
    enc = codecs.encoder("wav", RATE)
    data = b"".join(enc.write(c) for c in chunks(sine())) + enc.close()
    assert data[:44] == wav_header(RATE)  # RIFF and data sizes 0xFFFFFFFF
    assert struct.unpack("<I", data[40:44])[0] == 0xFFFFFFFF
    assert sf.info(io.BytesIO(data)).frames == 33075
    with wave.open(io.BytesIO(data)) as w:  # wave believes the header, but reads what is there
        assert len(w.readframes(w.getnframes())) == 33075 * 2


def test_pcm_is_the_samples() -> None:
    audio = sine(0.2)
    enc = codecs.encoder("pcm", RATE)
    data = b"".join(enc.write(c) for c in chunks(audio)) + enc.close()
    expected = np.round(audio * 32767).astype("<i2")
    assert np.array_equal(np.frombuffer(data, "<i2"), expected)


@pytest.mark.parametrize("rate", [16000, 24000, 44100])
def test_opus_resamples_any_rate_to_48k(rate: int) -> None:
    enc = codecs.encoder("opus", rate)
    data = b"".join(enc.write(c) for c in chunks(sine(1.0, rate), rate // 10)) + enc.close()
    decoded, out_rate = decode_av(data)
    assert out_rate == 48000
    check_sine(decoded, out_rate, 1.0, 0.001)


def test_unknown_format_and_misuse() -> None:
    with pytest.raises(RequestError, match=r"response_format: unknown audio format 'wma'; expected one of wav, pcm"):
        codecs.encoder("wma", RATE, field="response_format")
    with pytest.raises(RequestError, match="sample_rate: got 0"):
        codecs.encoder("mp3", 0)
    enc = codecs.encoder("mp3", RATE)
    enc.close()
    with pytest.raises(ValueError, match="write after close"):
        enc.write(sine(0.1))
    assert codecs.format_for_path("a/b.OGG") == "opus" and codecs.format_for_path("x.txt") is None


def test_atomic_output_honours_umask_and_leaves_nothing_on_error(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        with atomic_output(tmp_path / "a.bin") as out:
            out.write(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o640
    with pytest.raises(KeyboardInterrupt), atomic_output(tmp_path / "b.bin") as out:
        out.write(b"y")
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]
