"""Audio output helpers: 16-bit PCM, and WAV files written without ever leaving a
half-written file behind (a temporary file renamed into place at the end)."""

from __future__ import annotations

import os
import tempfile
import wave
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def to_pcm16(audio: np.ndarray) -> bytes:
    clipped = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).round().astype("<i2").tobytes()


@contextmanager
def atomic_wav(path: Path, sample_rate: int) -> Iterator[wave.Wave_write]:
    """A WAV writer whose file appears at ``path`` only if the block completes."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    os.close(fd)
    try:
        with wave.open(tmp, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(sample_rate)
            yield wav
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_wav(path: Path, chunks: Iterable[np.ndarray], sample_rate: int) -> int:
    """Write chunks as they come; returns the number of samples written."""
    n = 0
    with atomic_wav(path, sample_rate) as wav:
        for audio in chunks:
            wav.writeframes(to_pcm16(audio))
            n += audio.size
    return n


def wav_header(sample_rate: int, data_bytes: int = 0xFFFFFFFF - 36) -> bytes:
    """A WAV header for a stream whose length is not known yet (sizes set to the max)."""
    import struct

    return (b"RIFF" + struct.pack("<I", min(36 + data_bytes, 0xFFFFFFFF)) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", min(data_bytes, 0xFFFFFFFF)))
