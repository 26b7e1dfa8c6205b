"""Cross-request batching: calls of one network from different streams run as one.

A profile with ``batch: N`` (N > 1) opens every network that can take a batch through a
:class:`BatchingSession`. Each stream still calls its network with a batch of one, as
always; the session holds a call for at most ``batch_wait_ms`` while other threads bring
calls of *the same shapes*, stacks up to N of them along the leading axis, runs them in
one call and hands each caller its own row. Nothing is padded: windows of different
sizes never share a call, so each stream's audio is what it would be alone (up to the
float rounding of a different batch size). The blocks stay the same.

* :func:`batch_copy` makes the network's leading axis dynamic (a copy in
  ``catalog.cache_dir() / "batch"``, keyed by content). A network qualifies when every
  input and output has a leading axis of exactly 1 and rank >= 2 (the windowed decoders:
  VITS flow, HiFi-GAN, mel decoders, vocoders); others (an encoder with a length input,
  a scalar speaker id) run as they are.
* A copy whose graph hard-codes the batch of one somewhere inside (a Reshape to 1, say)
  fails or returns the wrong rows on its first real batch: the session then runs every
  call alone from that moment on and says so once in the log.

Hand-written because no library batches calls of an in-process onnxruntime/OpenVINO
session (Triton's dynamic batcher does this inside its own server).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from voicestack.paths import cache_dir, content_key
from voicestack.runtime.base import Session
from voicestack.runtime.static import cached_copy

log = logging.getLogger("voicestack.runtime")

def batch_copy(path: Path, cache: Path | None = None) -> Path | None:
    """A copy of the network at ``path`` with a dynamic leading (batch) axis, or None if
    the network has no batch axis of one on every input and output. Made once, cached."""
    path = Path(path)
    out_dir = Path(cache) if cache is not None else cache_dir() / "batch"
    target = out_dir / f"{path.stem}-{content_key(path)[:16]}-batch.onnx"
    return cached_copy(target, lambda: _batched(path))


def _batched(path: Path) -> Any:
    import onnx

    model = onnx.load(str(path))
    inits = {i.name for i in model.graph.initializer}
    values = [v for v in model.graph.input if v.name not in inits] + list(model.graph.output)
    for value in values:
        dims = value.type.tensor_type.shape.dim
        if len(dims) < 2 or not (dims[0].HasField("dim_value") and dims[0].dim_value == 1):
            return None
    for value in values:
        dim = value.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_param = "batch"
    del model.graph.value_info[:]  # inferred shapes of the batch of one
    return model


class _Batch:
    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key
        self.items: list[Mapping[str, np.ndarray]] = []
        self.closed = False
        self.full = threading.Event()
        self.done = threading.Event()
        self.outputs: dict[str, np.ndarray] | None = None
        self.error: BaseException | None = None


class BatchingSession:
    """A session on a batch copy that gathers same-shaped calls of concurrent threads."""

    def __init__(self, session: Session, max_batch: int, wait: float, network: str) -> None:
        self.session = session
        self.max_batch = max_batch
        self.wait = wait
        self.network = network
        self.path = session.path
        self.nbytes = session.nbytes
        self.input_names = list(getattr(session, "input_names", []))
        self.output_names = list(getattr(session, "output_names", []))
        self.providers = getattr(session, "providers", None)
        self.batched = True  # False once a batch failed: every call alone from then on
        self.calls = 0  # callers served
        self.runs = 0  # network runs made for them
        self.largest = 0  # most callers in one run
        self._lock = threading.Lock()
        self._open: dict[tuple[Any, ...], _Batch] = {}

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not self.batched or self.max_batch < 2:
            return self._alone(inputs)
        key = tuple(sorted((name, np.shape(v), np.asarray(v).dtype.str) for name, v in inputs.items()))
        with self._lock:
            batch = self._open.get(key)
            leader = batch is None
            if batch is None:
                batch = self._open[key] = _Batch(key)
            row = len(batch.items)
            batch.items.append(inputs)
            if len(batch.items) >= self.max_batch:
                self._close(batch)
        if not leader:
            batch.done.wait()
            if batch.error is not None:
                raise batch.error
            assert batch.outputs is not None
            return {name: value[row : row + 1] for name, value in batch.outputs.items()}
        batch.full.wait(self.wait)  # the others have until then to join
        with self._lock:
            self._close(batch)
        try:
            outputs = batch.outputs = self._stacked(batch.items)
        except BaseException as err:
            batch.error = err
            raise
        finally:
            batch.done.set()
        return {name: value[:1] for name, value in outputs.items()}

    def _close(self, batch: _Batch) -> None:  # under the lock
        if not batch.closed:
            batch.closed = True
            if self._open.get(batch.key) is batch:
                del self._open[batch.key]
            batch.full.set()

    def _stacked(self, items: list[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
        if len(items) == 1:
            out = self._alone(items[0])
        else:
            feed = {name: np.concatenate([np.asarray(it[name]) for it in items]) for name in items[0]}
            try:
                out = self._count(self.session.run(feed), len(items))
                if any(np.shape(v)[0] != len(items) for v in out.values()):
                    raise ValueError(f"outputs {[np.shape(v) for v in out.values()]} for a batch of {len(items)}")
            except Exception as err:  # noqa: BLE001 - the graph can't batch after all: run each alone
                log.warning("network %r can't run batched (%s); it runs every call alone", self.network, err)
                self.batched = False
                parts = [self._alone(it) for it in items]
                out = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        return out  # row i is the i-th caller's: the leader's first

    def _alone(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._count(self.session.run(inputs), 1)

    def _count(self, outputs: dict[str, np.ndarray], callers: int) -> dict[str, np.ndarray]:
        with self._lock:
            self.calls += callers
            self.runs += 1
            self.largest = max(self.largest, callers)
        return outputs

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"calls": self.calls, "runs": self.runs, "largest": self.largest, "batched": self.batched}

    def __repr__(self) -> str:
        return f"BatchingSession({self.network}, max {self.max_batch}, {self.calls} calls in {self.runs} runs)"
