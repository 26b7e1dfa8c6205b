"""OpenVINO: compile a network for a device (CPU by default; GPU/NPU where present).

* Static shapes when the profile says so (the model is reshaped before compiling, one
  compile per shape), dynamic otherwise.
* ``precision`` (``INFERENCE_PRECISION_HINT``) defaults to ``f32``: on CPUs reporting
  BF16 OpenVINO would otherwise run in bfloat16, which costs the decoder most of its
  accuracy and changes rounded durations (FACTS.md).
* Compiled blobs are cached under ``<cache>/openvino`` so restarts compile faster.

Noise never runs inside the graphs (the framework feeds it), so both runtimes agree.
``openvino`` is imported only when a profile chooses this runtime.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from voicestack.errors import NetworkLoadError, RuntimeUnavailable
from voicestack.onnxtools import graph_io
from voicestack.params import limits
from voicestack.paths import cache_dir
from voicestack.runtime.base import Runtime, Session


@dataclass(frozen=True)
class OvOptions:
    device: str = field(default="CPU", metadata=limits(nonempty=True))
    threads: int = field(default=0, metadata=limits(lo=0, hi=1024))
    precision: Literal["f32", "f16", "bf16"] = "f32"
    performance_hint: Literal["LATENCY", "THROUGHPUT"] = "LATENCY"


_core: Any = None
_core_lock = threading.Lock()


def core() -> Any:
    global _core
    with _core_lock:
        if _core is None:
            import openvino as ov

            _core = ov.Core()
        return _core


def available_devices() -> list[str]:
    return list(core().available_devices)


def device_ok(device: str) -> bool:
    base = device.split(".")[0]
    if base in ("AUTO", "MULTI", "HETERO"):
        return True
    return device in available_devices() or base in {d.split(".")[0] for d in available_devices()}


class OpenVino(Runtime):
    """OpenVINO compiled models, static or dynamic shapes, on any OpenVINO device."""

    name = "openvino"
    Options = OvOptions
    install_hint = "pip install 'voicestack[openvino]'"

    @classmethod
    def missing(cls) -> str | None:
        if importlib.util.find_spec("openvino") is None:
            return f"runtime 'openvino' is not installed; install it with: {cls.install_hint}"
        return None

    @classmethod
    def check(cls, options: Any, path: str, problems: list[tuple[str, str]]) -> None:
        if not device_ok(options.device):
            problems.append((f"{path}.device", f"OpenVINO device {options.device!r} is not available here "
                             f"(available: {', '.join(available_devices())})"))

    @classmethod
    def open(cls, path: Path, options: Any, static_shapes: Mapping[str, tuple[int, ...]] | None) -> Session:
        return OvSession(path, options, static_shapes)


class OvSession:
    def __init__(self, path: Path, options: OvOptions, static_shapes: Mapping[str, tuple[int, ...]] | None) -> None:
        import openvino as ov

        if not device_ok(options.device):
            raise RuntimeUnavailable(f"OpenVINO device {options.device!r} is not available here "
                                     f"(available: {', '.join(available_devices())})")
        self.path = Path(path)
        self.nbytes = self.path.stat().st_size
        try:
            model = core().read_model(str(path))
            if static_shapes:
                model.reshape({name: ov.PartialShape(list(dims)) for name, dims in static_shapes.items()})
        except Exception as err:  # OpenVINO raises RuntimeError and its own types
            raise NetworkLoadError(f"OpenVINO cannot load network '{self.path.name}': {err}") from err
        props: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": options.precision,
            "CACHE_DIR": str(cache_dir() / "openvino"),
            "PERFORMANCE_HINT": options.performance_hint,
        }
        if options.threads:
            props["INFERENCE_NUM_THREADS"] = int(options.threads)
        self._compiled = core().compile_model(model, options.device, props)
        ins, outs = graph_io(self.path)
        self.input_names = [_graph_name(p, set(ins)) for p in self._compiled.inputs]
        self.output_names = [_graph_name(p, set(outs)) for p in self._compiled.outputs]
        self._local = threading.local()  # one infer request per thread

    def _request(self) -> Any:
        req = getattr(self._local, "request", None)
        if req is None:
            req = self._local.request = self._compiled.create_infer_request()
        return req

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        feeds = {name: np.ascontiguousarray(inputs[name]) for name in self.input_names}
        request = self._request()
        request.infer(feeds)
        # copy: the request reuses its output buffers on the next call
        return {name: np.array(request.get_output_tensor(i).data, copy=True)
                for i, name in enumerate(self.output_names)}


def _graph_name(port: object, wanted: set[str]) -> str:
    """The ONNX graph's own name for a port: OpenVINO may attach several names to one
    tensor (an output that is also an internal tensor) and any one of them first."""
    names = port.get_names()  # type: ignore[attr-defined]
    for name in names:
        if name in wanted:
            return str(name)
    return str(port.get_any_name())  # type: ignore[attr-defined]
