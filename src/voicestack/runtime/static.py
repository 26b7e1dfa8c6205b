"""Static-shape copies of a network, and the guard that keeps every call on its shape.

Accelerators compiled with static profiles (OpenVINO reshaped models, Inferentia, NPUs,
TensorRT engines) need each tensor's size fixed at compile time. The framework makes
those networks from the addon's dynamic ones, once, and caches them:

* :func:`static_copy` fixes every input dimension (``dim_value``), clears intermediate
  and output shapes and re-infers them with ``onnx.shape_inference.infer_shapes(...,
  strict_mode=True, data_prop=True)``: same nodes, identical outputs. Copies live in
  ``catalog.cache_dir() / "static"``, keyed by the source's content hash and the shape.
* :class:`GuardedSession` wraps a session opened on such a copy: every call must feed
  exactly the compiled shape (a wrong one fails loudly, naming network, input, shape
  got and expected) and is counted, so tests can prove nothing ran off-shape.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from voicestack.errors import VoicestackError
from voicestack.onnxtools import save as onnx_save
from voicestack.paths import cache_dir, content_key
from voicestack.runtime.base import Session

Shapes = Mapping[str, tuple[int, ...]]


class StaticShapeError(VoicestackError, ValueError):
    """A static network was called with a shape it was not compiled for."""


def shape_tag(shapes: Shapes) -> str:
    """A short, stable text for a set of input shapes: ``input=1x64,scales=3``."""
    return ",".join(f"{name}={'x'.join(str(d) for d in dims)}" for name, dims in sorted(shapes.items()))


def static_dir() -> Path:
    return cache_dir() / "static"


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def static_copy(path: Path, shapes: Shapes, cache: Path | None = None) -> Path:
    """A copy of the ONNX network at ``path`` whose inputs have exactly ``shapes``.

    Made once and cached (content hash + shape in the file name); later calls return
    the cached file. Raises ValueError if the graph can't take those shapes.
    """
    path = Path(path)
    tag = shape_tag(shapes)
    digest = content_key(path)[:16]
    short = hashlib.sha256(tag.encode()).hexdigest()[:12]
    out_dir = Path(cache) if cache is not None else static_dir()
    target = out_dir / f"{path.stem}-{digest}-{short}.onnx"
    made = cached_copy(target, lambda: _fixed(path, shapes))
    assert made is not None
    return made


def cached_copy(target: Path, make: Callable[[], Any]) -> Path | None:
    """``target``, made once by saving ``make()`` there (one maker at a time per file;
    the save is atomic, so a half-written copy never appears). ``make`` may return None
    (the network doesn't allow the copy): that is remembered beside it, and None returned."""
    refused = target.with_suffix(".none")
    if target.is_file():
        return target
    if refused.is_file():
        return None
    with _locks_guard:
        lock = _locks.setdefault(str(target), threading.Lock())
    with lock:
        if target.is_file():
            return target
        model = make()
        if model is None:
            target.parent.mkdir(parents=True, exist_ok=True)
            refused.write_text("this network can't take the copy's change\n")
            return None
        onnx_save(model, target)
    return target


def _fixed(path: Path, shapes: Shapes) -> Any:
    import onnx

    model = onnx.load(str(path))
    inits = {i.name for i in model.graph.initializer}
    inputs = {v.name: v for v in model.graph.input if v.name not in inits}
    unknown = sorted(set(shapes) - set(inputs))
    missing = sorted(set(inputs) - set(shapes))
    if unknown or missing:
        raise ValueError(
            f"{path.name}: static shapes must name every input exactly "
            f"(unknown: {', '.join(unknown) or 'none'}; missing: {', '.join(missing) or 'none'})"
        )
    for name, value in inputs.items():
        dims = value.type.tensor_type.shape.dim
        want = shapes[name]
        if len(dims) != len(want):
            raise ValueError(f"{path.name}: input '{name}' has rank {len(dims)}, static shape {list(want)} has {len(want)}")
        for dim, size in zip(dims, want, strict=True):
            if dim.HasField("dim_value") and dim.dim_value not in (0, size):
                raise ValueError(f"{path.name}: input '{name}' is fixed at {dim.dim_value}, cannot make it {size}")
            dim.Clear()
            dim.dim_value = int(size)
    del model.graph.value_info[:]
    for out in model.graph.output:
        out.type.tensor_type.ClearField("shape")
    if any(node.domain not in ("", "ai.onnx") for node in model.graph.node):
        # contrib ops (com.microsoft: quantised LSTMs, fused matmuls) have no onnx shape
        # inference: fixed input dims only; the runtime propagates them itself
        return model
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as err:  # onnx raises InferenceError and plain RuntimeErrors
        raise ValueError(f"{path.name}: shapes {shape_tag(shapes)} do not fit the graph: {err}") from err


class GuardedSession:
    """A session on a static network: checks every input shape, counts the calls."""

    def __init__(self, session: Session, shapes: Shapes, network: str) -> None:
        self.session = session
        self.shapes = {k: tuple(int(d) for d in v) for k, v in shapes.items()}
        self.network = network
        self.path = session.path
        self.nbytes = session.nbytes
        self.calls = 0
        self._lock = threading.Lock()

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name, want in self.shapes.items():
            if name not in inputs:
                raise StaticShapeError(f"static network '{self.network}' needs input '{name}' {list(want)}; it was not given")
            got = tuple(np.shape(inputs[name]))
            if got != want:
                raise StaticShapeError(
                    f"static network '{self.network}' is compiled for input '{name}' of shape {list(want)}; "
                    f"got {list(got)} (every call must have exactly the compiled shape)"
                )
        with self._lock:
            self.calls += 1
        return self.session.run(inputs)

    def __repr__(self) -> str:
        return f"GuardedSession({self.network}, {shape_tag(self.shapes)}, calls={self.calls})"
