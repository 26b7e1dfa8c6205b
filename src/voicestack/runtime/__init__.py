"""Runtimes: one module each, imported only when a profile chooses it.

A :class:`Session` runs one network. Sessions are shared by content: two addons whose
manifests reference byte-identical network files under the same runtime settings get
the same session object (and the memory once).
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from voicestack.errors import RuntimeUnavailable

RUNTIMES = ("onnxruntime", "openvino")


@dataclass(frozen=True)
class RuntimeConfig:
    """How one network runs. Parsed once from a profile."""

    runtime: str = "onnxruntime"
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    device: str = "CPU"
    threads: int = 0  # 0: the runtime's default for this machine
    precision: str = "f32"
    static_shapes: Mapping[str, tuple[int, ...]] | None = None  # input name -> compiled shape
    cache_dir: str | None = None
    spinning: bool = False  # onnxruntime threads spin-wait between ops: faster alone, starves neighbours

    def key(self) -> tuple[Any, ...]:
        static = tuple(sorted((k, tuple(v)) for k, v in (self.static_shapes or {}).items()))
        return (self.runtime, self.providers, self.device, self.threads, self.precision, static, self.spinning)


class Session(Protocol):
    path: Path
    nbytes: int

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_digests: dict[tuple[str, float, int], str] = {}


def content_key(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime, st.st_size)
    if key not in _digests:
        _digests[key] = file_digest(path)
    return _digests[key]


class SessionFactory:
    """Opens sessions through the chosen runtime, sharing them by content + config."""

    _shared: weakref.WeakValueDictionary[tuple[Any, ...], Any] = weakref.WeakValueDictionary()
    _lock = threading.Lock()
    opened = 0  # sessions actually created (not shared), for tests and metrics

    def open(self, path: Path, config: RuntimeConfig) -> Session:
        key = (content_key(path), config.key())
        with self._lock:
            session = self._shared.get(key)
            if session is None:
                session = _open(path, config)
                self._shared[key] = session
                type(self).opened += 1
            return session


def _open(path: Path, config: RuntimeConfig) -> Session:
    if config.runtime == "onnxruntime":
        from voicestack.runtime import ort

        return ort.OrtSession(path, config)
    if config.runtime == "openvino":
        try:
            from voicestack.runtime import ov
        except ImportError as err:  # pragma: no cover - depends on the install
            raise RuntimeUnavailable(
                "runtime 'openvino' is not installed; install it with: pip install 'voicestack[openvino]'"
            ) from err
        return ov.OvSession(path, config)
    raise RuntimeUnavailable(f"unknown runtime '{config.runtime}'; expected one of {', '.join(RUNTIMES)}")
