"""Talk to the espeak-ng worker process (``espeak_worker.py``) over pipes.

espeak-ng (GPL-3.0-or-later) is never loaded into this process: one worker process
per Python process is started lazily, requests to it are serialised with a lock
(espeak keeps global state), every answer is awaited with a timeout, and a worker
that died or hung is replaced by a fresh one.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Optional

__all__ = ["EspeakClient", "EspeakError", "get_client", "espeak_data_dir"]

WORKER_PATH = Path(__file__).with_name("espeak_worker.py")
DATA_OVERRIDES = Path(__file__).with_name("espeak_data")
# Files in espeak_data/ that replace the library's own data; the rest is the source
# of the change (see scripts/build_espeak_dict.py).
OVERRIDE_FILES = ("en_dict",)
START_TIMEOUT = 20.0
# Per request: a base plus time proportional to the text (espeak does ~0.1 ms/char
# at worst here, so this is generous), so that a hang never blocks forever.
BASE_TIMEOUT = 10.0
SECONDS_PER_CHAR = 0.002
_LOGGER = logging.getLogger(__name__)
SEPARATOR = "\u2016"  # between phonemes in the worker's output; never a phoneme


class EspeakError(RuntimeError):
    """The espeak-ng worker could not be started or did not answer."""


def cache_dir() -> Path:
    """voicestack's cache (``VOICESTACK_CACHE``), where the espeak data dir is assembled."""
    from voicestack.paths import cache_dir as voicestack_cache

    return voicestack_cache()


def _loader() -> tuple[str, Path]:
    try:
        import espeakng_loader
    except ImportError as exc:
        raise EspeakError(
            "voicestack.text needs the 'espeakng-loader' package (pip install espeakng-loader)"
        ) from exc
    return espeakng_loader.get_library_path(), Path(espeakng_loader.get_data_path())


def espeak_data_dir() -> Path:
    """The espeak-ng data dir to use: the library's own with voicestack's en_dict.

    It is assembled once in the cache dir (symbolic links to the library's files,
    copies where links are not possible) under a name that hashes its inputs.
    """
    library, stock = _loader()
    digest = hashlib.sha256(str(stock).encode())
    for name in OVERRIDE_FILES:
        digest.update(name.encode() + b"\0" + (DATA_OVERRIDES / name).read_bytes())
    target = cache_dir() / f"espeak-ng-data-{digest.hexdigest()[:16]}"
    if (target / "phontab").exists():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(target.parent, os.W_OK):
            raise PermissionError(f"{target.parent} is not writable")
    except OSError as err:
        # a read-only home: assemble it where this process may write, once per process
        fallback = Path(tempfile.gettempdir()) / f"voicestack-{os.getuid()}"
        _LOGGER.warning("cache %s is not writable (%s); using %s", target.parent, err, fallback)
        target = fallback / target.name
        if (target / "phontab").exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=".espeak-ng-data-", dir=target.parent))
    try:
        for entry in stock.iterdir():
            if entry.name in OVERRIDE_FILES:
                continue
            try:
                os.symlink(entry, build / entry.name, target_is_directory=entry.is_dir())
            except OSError:
                if entry.is_dir():
                    shutil.copytree(entry, build / entry.name)
                else:
                    shutil.copyfile(entry, build / entry.name)
        for name in OVERRIDE_FILES:
            shutil.copyfile(DATA_OVERRIDES / name, build / name)
        try:
            os.rename(build, target)
        except OSError:
            if not (target / "phontab").exists():
                raise
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)
    return target


class _Worker:
    """One running worker process with a thread that reads its answers."""

    def __init__(self, library: str, data_dir: Path) -> None:
        env = dict(os.environ)
        env["PYTHONIOENCODING"] = "utf-8"
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-u", "-s", str(WORKER_PATH), library, str(data_dir)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            raise EspeakError(f"cannot start the espeak-ng worker: {exc}") from exc
        self.answers: queue.Queue[Optional[bytes]] = queue.Queue()
        self.stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True, name="espeak-worker-out").start()
        threading.Thread(target=self._drain, daemon=True, name="espeak-worker-err").start()
        try:
            first = self.receive(START_TIMEOUT)
        except EspeakError as exc:
            self.kill()
            raise EspeakError(f"the espeak-ng worker failed to start: {exc}") from exc
        if not first.get("ok"):
            self.kill()
            raise EspeakError(f"the espeak-ng worker failed to start: {first.get('error')}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.answers.put(line)
        self.answers.put(None)

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr = (self.stderr + [line])[-20:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, request: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request).encode("ascii") + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise _WorkerDied(f"the espeak-ng worker stopped: {exc}") from exc

    def receive(self, timeout: float) -> dict[str, Any]:
        try:
            line = self.answers.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise EspeakError(
                f"the espeak-ng worker did not answer within {timeout:.0f} s; it was stopped"
            ) from None
        if line is None:
            self.proc.wait()
            err = b"".join(self.stderr).decode("utf-8", "replace").strip()
            raise _WorkerDied(
                f"the espeak-ng worker exited with code {self.proc.returncode}"
                + (f": {err}" if err else "")
            )
        answer: dict[str, Any] = json.loads(line)
        return answer

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:  # pragma: no cover
                pass


class _WorkerDied(EspeakError):
    pass


class EspeakClient:
    """Thread-safe access to one lazily started espeak-ng worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._worker: Optional[_Worker] = None
        self.restarts = 0

    def _ensure(self) -> _Worker:
        if self._worker is None or not self._worker.alive():
            if self._worker is not None:
                self._worker.kill()
                self.restarts += 1
            self._worker = None
            library, _ = _loader()
            self._worker = _Worker(library, espeak_data_dir())
        return self._worker

    def clauses(self, voice: str, text: str) -> list[tuple[str, str, str]]:
        """espeak's clauses of text: (IPA, ASCII, consumed text) each.

        IPA and ASCII have SEPARATOR between phonemes.
        """
        request = {"voice": voice, "text": text, "sep": ord(SEPARATOR)}
        timeout = BASE_TIMEOUT + SECONDS_PER_CHAR * len(text)
        with self._lock:
            for attempt in (1, 2):
                worker = self._ensure()
                try:
                    worker.send(request)
                    answer = worker.receive(timeout)
                    break
                except _WorkerDied:
                    worker.kill()
                    if attempt == 2:
                        raise
                except EspeakError:
                    # Timed out: the worker was killed; the next call starts anew.
                    raise
        if not answer.get("ok"):
            raise EspeakError(f"espeak-ng failed: {answer.get('error')}")
        return [(str(i), str(a), str(c)) for i, a, c in answer["clauses"]]

    def close(self) -> None:
        with self._lock:
            if self._worker is not None:
                self._worker.kill()
                self._worker = None


_CLIENT: Optional[EspeakClient] = None
_CLIENT_PID = 0
_CLIENT_LOCK = threading.Lock()


def get_client() -> EspeakClient:
    """The process-wide espeak client (one worker per process, also after fork)."""
    global _CLIENT, _CLIENT_PID
    with _CLIENT_LOCK:
        if _CLIENT is None or _CLIENT_PID != os.getpid():
            _CLIENT = EspeakClient()
            _CLIENT_PID = os.getpid()
            atexit.register(_CLIENT.close)
        return _CLIENT
