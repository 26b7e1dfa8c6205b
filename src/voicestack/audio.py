"""Audio files: encoded as produced into a temporary file beside the target, renamed into
place only when complete (nothing half-written is ever left at the target's name), with
the permissions the user's umask gives a new file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

from voicestack.codecs import encode_to, encoder, to_pcm16

__all__ = ["atomic_output", "close_quietly", "current_umask", "to_pcm16", "wav_header", "write_audio", "write_wav"]


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_output(path: str | os.PathLike[str], mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary file that appears at ``path`` only if the block completes.

    The data goes to a hidden ``.NAME.*.part`` file in the same directory (so the final
    rename is atomic), which is removed on any exception, ``KeyboardInterrupt`` and
    ``SystemExit`` included. The file gets ``mode`` (default ``0o666``) minus the umask,
    like a file made by ``open()``, not ``mkstemp``'s private 0600.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        os.fchmod(fd, (0o666 if mode is None else mode) & ~current_umask())
        out = os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        yield out
        out.close()  # a failed final flush (disk full) is an error like any other
        os.replace(tmp, target)
    except BaseException:
        close_quietly(out)  # the first error is the one to report
        Path(tmp).unlink(missing_ok=True)
        raise


def close_quietly(out: BinaryIO) -> None:
    """Close a file whose writes already failed, without a second error."""
    try:
        out.close()
    except OSError:
        pass


def write_audio(path: str | os.PathLike[str], chunks: Iterable[np.ndarray], sample_rate: int,
                fmt: str = "wav") -> int:
    """Encode chunks into the file at ``path`` as they come (atomically); returns the
    number of samples written. The file's header sizes are exact (see ``codecs``)."""
    enc = encoder(fmt, sample_rate)
    with atomic_output(path) as out:
        return encode_to(out, chunks, enc)


def write_wav(path: str | os.PathLike[str], chunks: Iterable[np.ndarray], sample_rate: int) -> int:
    """A 16-bit mono WAV file (see :func:`write_audio`)."""
    return write_audio(path, chunks, sample_rate, "wav")


def wav_header(sample_rate: int, data_bytes: int | None = None) -> bytes:
    """A 44-byte header of a 16-bit mono WAV. Without ``data_bytes`` (a stream of unknown
    length) the sizes say 0xFFFFFFFF, as FFmpeg writes on a pipe; ``codecs.WavEncoder``
    streams the same header."""
    import struct

    riff, data = (0xFFFFFFFF, 0xFFFFFFFF) if data_bytes is None else (36 + data_bytes, data_bytes)
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data))
