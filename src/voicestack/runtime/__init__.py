"""Runtimes: a registry of them (onnxruntime and OpenVINO built in; more by entry point),
and the factory that opens sessions, sharing them by content.

Two addons whose manifests reference byte-identical network files under the same
runtime settings get the same session object (and the memory once).
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from pathlib import Path
from typing import Any

from voicestack.paths import content_key, file_digest
from voicestack.runtime.base import RUNTIMES, NoOptions, Runtime, RuntimeConfig, Session
from voicestack.runtime.batching import BatchingSession, batch_copy
from voicestack.runtime.ort import OnnxRuntime
from voicestack.runtime.ov import OpenVino

__all__ = ["RUNTIMES", "NoOptions", "Runtime", "RuntimeConfig", "Session", "SessionFactory", "content_key",
           "file_digest"]

RUNTIMES.register(OnnxRuntime)
RUNTIMES.register(OpenVino)


class SessionFactory:
    """Opens sessions through the chosen runtime, sharing them by content + config."""

    _shared: weakref.WeakValueDictionary[tuple[Any, ...], Any] = weakref.WeakValueDictionary()
    _lock = threading.Lock()
    opened = 0  # sessions actually created (not shared), for tests and metrics

    def __init__(self, threads: int = 0) -> None:
        # intra-op threads for every network whose runtime is left at its own default
        # (``threads: 0``); 0 keeps the runtime's default. A service with one worker per
        # core sets 1: its workers already keep the cores busy.
        self.threads = threads

    def open(self, path: Path, config: RuntimeConfig) -> Session:
        options = config.resolved_options
        if self.threads and getattr(options, "threads", None) == 0:
            config = dataclasses.replace(config, options=dataclasses.replace(options, threads=self.threads))
        key = (content_key(path), config.key())
        with self._lock:
            session = self._shared.get(key)
            if session is None:
                session = self._open(Path(path), config)
                self._shared[key] = session
                type(self).opened += 1
            return session

    @staticmethod
    def _open(path: Path, config: RuntimeConfig) -> Session:
        runtime = RUNTIMES.get(config.runtime, "runtime")
        if config.batch > 1 and not config.static_shapes:
            copy = batch_copy(path)
            if copy is not None:
                inner = runtime.open(copy, config.resolved_options, None)
                return BatchingSession(inner, config.batch, config.batch_wait, path.stem)
        return runtime.open(path, config.resolved_options, config.static_shapes)
