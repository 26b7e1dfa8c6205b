"""Leaf helpers every layer may use: the cache directory, content hashes, atomic writes.

Nothing here imports the rest of voicestack, so runtimes, the manifest reader and the
importers can all share one cache location and one way of never leaving half a file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from platformdirs import user_cache_dir

ENV_CACHE = "VOICESTACK_CACHE"


def cache_dir() -> Path:
    """Where voicestack keeps what it builds (voices, static copies, compiled blobs, espeak data)."""
    return Path(os.environ.get(ENV_CACHE) or user_cache_dir("voicestack"))


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_digests: dict[tuple[str, int, int, int], str] = {}
_digests_lock = threading.Lock()


def content_key(path: Path) -> str:
    """The SHA-256 of a file, remembered while its path, size and mtime stay the same."""
    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_mtime_ns, st.st_size, st.st_ino)
    with _digests_lock:
        known = _digests.get(key)
    if known is None:
        known = file_digest(Path(path))
        with _digests_lock:
            _digests[key] = known
    return known


def umask() -> int:
    """The process umask (read without changing it for long)."""
    current = os.umask(0o022)
    os.umask(current)
    return current


@contextmanager
def atomic_path(target: Path, mode: int | None = None) -> Iterator[Path]:
    """A temporary path beside ``target``; renamed onto it when the block completes,
    removed when it fails. The file gets ``mode`` (default: 0o666 less the umask)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, (0o666 & ~umask()) if mode is None else mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(target: Path, data: bytes | str | Callable[[Path], None]) -> Path:
    """Write bytes, text or whatever ``data(tmp_path)`` writes, appearing at once or not at all."""
    with atomic_path(target) as tmp:
        if callable(data):
            data(tmp)
        elif isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
    return Path(target)


def build_dir_atomic(target: Path, build: Callable[[Path], None]) -> Path:
    """Fill a new directory with ``build(tmp)`` and rename it to ``target``: it appears
    complete or not at all. If another process finished first, its result is kept."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        tmp.chmod(0o755)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
