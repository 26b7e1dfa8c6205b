"""Many voices in one process: found by name, loaded on demand, unloaded least recently
used first when the loaded networks exceed a byte budget.

Memory is counted per *distinct network file* (content hash + size), because
:class:`voicestack.runtime.SessionFactory` shares the sessions of byte-identical files:
two addons built on the same vocoder cost its bytes once. A voice is pinned while a
:class:`Lease` on it is open (a running stream), and pinned voices are never unloaded;
if the pinned voices alone exceed the budget the pool goes over it rather than fail a
request, and comes back under as leases close.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicestack import catalog
from voicestack.runtime import SessionFactory
from voicestack.service.core.metrics import ServiceMetrics
from voicestack.voice import Voice

MANIFEST = "addon.json"

log = logging.getLogger("voicestack.service")


class UnknownVoice(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown voice {name!r}; available: {', '.join(known) or '(none)'}")


class VoiceLoadError(RuntimeError):
    """A voice that exists but could not be loaded (corrupt network, bad stack, ...)."""


class VoiceCatalog:
    """Which voice names the service offers, and where each addon lives.

    Sources, first match wins: the configured ``voices_dirs`` (each child directory
    holding an addon.json is a voice named after the directory; vocoder addons are not
    voices), the addon search path (``VOICESTACK_VOICES``), then the built-ins (made
    into a cached addon on first use).
    """

    def __init__(self, voices_dirs: tuple[Path, ...] = (), builtins: bool = True) -> None:
        self.voices_dirs = voices_dirs
        self.builtins = builtins
        self._lock = threading.Lock()
        self._info: dict[tuple[str, float], dict[str, Any]] = {}

    def addons(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for base in self.voices_dirs:
            if base.is_dir():
                for child in sorted(base.iterdir()):
                    if (child / MANIFEST).is_file() and _kind(child) == "voice":
                        found.setdefault(child.name, child)
        for name, path in catalog.addon_dirs().items():
            found.setdefault(name, path)
        return found

    def names(self) -> list[str]:
        names = set(self.addons())
        if self.builtins:
            names |= set(catalog.voice_names())
        return sorted(names)

    def path(self, name: str) -> Path:
        """The addon directory of ``name`` (a built-in may be built here: call off the event loop)."""
        addons = self.addons()
        if name in addons:
            return addons[name]
        if self.builtins and name in catalog.voice_names():
            return catalog.resolve(name)
        raise UnknownVoice(name, self.names())

    def info(self, name: str) -> dict[str, Any]:
        """What ``GET /v1/voices`` shows, read from the manifest alone (no networks loaded)."""
        try:
            path = self.path(name)
            stamp = (path / MANIFEST).stat().st_mtime
            with self._lock:
                cached = self._info.get((str(path), stamp))
            if cached is None:
                m = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
                profiles = m.get("profiles") or {}
                speakers = list(m.get("speakers") or {})
                cached = {"id": name, "name": m.get("name", name), "language": m.get("language"),
                          "sample_rate": m.get("sample_rate"), "architecture": m.get("architecture"),
                          "version": m.get("version"), "description": m.get("description"),
                          "profiles": ["default", *[p for p in profiles if p != "default"]],
                          "speakers": speakers,
                          # the manifest's default, else its first speaker (as the addon loader says)
                          "default_speaker": (m.get("default_speaker") or speakers[0]) if speakers else None}
                with self._lock:
                    self._info[(str(path), stamp)] = cached
            return dict(cached)
        except UnknownVoice:
            raise
        except Exception as err:  # noqa: BLE001 - a broken addon is listed, marked unavailable
            log.warning("voice %r: cannot read its manifest: %s", name, err)
            return {"id": name, "available": False}


def _kind(path: Path) -> str | None:
    try:
        data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return "voice"  # unreadable: listed as a voice, marked unavailable by info()
    return str(data.get("kind", "voice")) if isinstance(data, dict) else "voice"


@dataclass
class _Entry:
    voice: Voice
    files: dict[str, int]  # content key -> bytes
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)


class Lease:
    """A voice pinned in memory until :meth:`release` (idempotent)."""

    def __init__(self, pool: VoicePool, name: str, voice: Voice) -> None:
        self.pool = pool
        self.name = name
        self.voice = voice
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.pool._release(self.name)

    @property
    def released(self) -> bool:
        return self._released

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_digests: dict[tuple[str, int, int], str] = {}
_digest_lock = threading.Lock()


def file_key(path: Path) -> str:
    """A content key for a file (SHA-256), cached by path, size and modification time."""
    st = path.stat()
    stamp = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _digest_lock:
        known = _digests.get(stamp)
    if known is None:
        with path.open("rb") as f:
            known = hashlib.file_digest(f, "sha256").hexdigest()
        with _digest_lock:
            _digests[stamp] = known
    return known


def network_files(voice: Voice, addon_dir: Path) -> dict[str, int]:
    """The distinct network files a voice holds: content key -> size in bytes.

    Counted from the manifest's networks where the voice exposes them, else every
    network-like file of the addon directory.
    """
    manifest = getattr(voice, "manifest", None)
    decls = getattr(manifest, "networks", None)
    paths = [Path(d.path) for d in decls.values()] if isinstance(decls, Mapping) else \
        [p for p in addon_dir.rglob("*") if p.suffix in (".onnx", ".bin", ".npz", ".npy")]
    return {file_key(p): p.stat().st_size for p in paths if p.is_file()}


class VoicePool:
    def __init__(self, voices: VoiceCatalog, budget_bytes: int, options: Mapping[str, Any] | None = None,
                 metrics: ServiceMetrics | None = None,
                 loader: Callable[[Path, Any], Voice] | None = None, threads: int = 0) -> None:
        self.catalog = voices
        self.budget = budget_bytes
        self.options = dict(options or {})
        self.metrics = metrics or ServiceMetrics()
        sessions = SessionFactory(threads)
        self._load = loader or (lambda path, profile: Voice.load(path, profile=profile, sessions=sessions))
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.unloaded: deque[str] = deque(maxlen=256)  # names, in unload order (tests, debugging)

    # -- public ---------------------------------------------------------------------------
    def acquire(self, name: str) -> Lease:
        """Pin ``name``, loading it first if needed. Blocking: call from a worker thread."""
        lease = self._try_pin(name)
        if lease is not None:
            return lease
        known = self.catalog.names()
        if name not in known:
            raise UnknownVoice(name, known)
        with self._lock:
            gate = self._loading.setdefault(name, threading.Lock())
        with gate:  # one load per name at a time; others wait and then share it
            lease = self._try_pin(name)
            if lease is not None:
                return lease
            started = time.perf_counter()
            try:
                path = self.catalog.path(name)
                opts = self.options.get(name) or {}
                profile = opts.get("profile") if isinstance(opts, Mapping) else getattr(opts, "profile", None)
                voice = self._load(path, profile)
                files = network_files(voice, path)
            except Exception as err:
                log.error("voice %r failed to load: %s", name, err)
                raise VoiceLoadError(f"voice {name!r} could not be loaded; see the server log") from err
            log.info("loaded voice %r (%d network bytes) in %.2f s", name, sum(files.values()),
                     time.perf_counter() - started)
            with self._lock:
                self._entries[name] = _Entry(voice, files, users=1)
                self._evict_locked()
                self._publish_locked()
            self.metrics.loads.labels(name).inc()
            return Lease(self, name, voice)

    def discard(self, name: str) -> bool:
        """Unload ``name`` now unless a stream holds it; True if it was unloaded."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is None or entry.users:
                return False
            del self._entries[name]
            self.unloaded.append(name)
            self._publish_locked()
        log.info("unloaded voice %r on request", name)
        return True

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    def memory_bytes(self) -> int:
        with self._lock:
            return self._bytes_locked()

    def pinned(self) -> dict[str, int]:
        with self._lock:
            return {n: e.users for n, e in self._entries.items() if e.users}

    # -- internals ------------------------------------------------------------------------
    def _try_pin(self, name: str) -> Lease | None:
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                return None
            entry.users += 1
            entry.last_used = time.monotonic()
            self._entries.move_to_end(name)
            self._publish_locked()
            return Lease(self, name, entry.voice)

    def _release(self, name: str) -> None:
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None:
                entry.users -= 1
                entry.last_used = time.monotonic()
                self._evict_locked()
                self._publish_locked()

    def _bytes_locked(self) -> int:
        distinct: dict[str, int] = {}
        for entry in self._entries.values():
            distinct.update(entry.files)
        return sum(distinct.values())

    def _evict_locked(self) -> None:
        while self._bytes_locked() > self.budget:
            victim = next((n for n, e in self._entries.items() if e.users == 0), None)
            if victim is None:
                return  # everything left is in use: over budget until a lease closes
            del self._entries[victim]
            self.unloaded.append(victim)
            self.metrics.unloads.inc()
            log.info("unloaded voice %r to stay within the %d byte budget", victim, self.budget)

    def _publish_locked(self) -> None:
        self.metrics.voices_loaded.set(len(self._entries))
        self.metrics.leases.set(sum(e.users for e in self._entries.values()))
        self.metrics.voice_bytes.set(self._bytes_locked())
