"""OpenVINO sessions: compile a network for a device (CPU by default).

* Static shapes when the profile says so (``RuntimeConfig.static_shapes``: the model is
  reshaped before compiling, one compile per shape), dynamic otherwise.
* ``INFERENCE_PRECISION_HINT`` comes from the profile and defaults to ``f32``: on CPUs
  reporting BF16 OpenVINO would otherwise run in bfloat16, which costs the decoder
  most of its accuracy and changes rounded durations (FACTS.md).
* Compiled blobs are cached under ``catalog.cache_dir() / "openvino"`` (or the
  profile's ``cache_dir``) so restarts compile faster.

Noise never runs inside the graphs (the framework feeds it), so both runtimes agree.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from voicestack.errors import RuntimeUnavailable
from voicestack.runtime import RuntimeConfig

_core: ov.Core | None = None
_core_lock = threading.Lock()


def core() -> ov.Core:
    global _core
    with _core_lock:
        if _core is None:
            _core = ov.Core()
        return _core


def available_devices() -> list[str]:
    return list(core().available_devices)


def _device_ok(device: str) -> bool:
    base = device.split(".")[0]
    if base in ("AUTO", "MULTI", "HETERO"):
        return True
    return device in available_devices() or base in {d.split(".")[0] for d in available_devices()}


class OvSession:
    def __init__(self, path: Path, config: RuntimeConfig) -> None:
        if not _device_ok(config.device):
            raise RuntimeUnavailable(
                f"OpenVINO device {config.device!r} is not available here (available: {', '.join(available_devices())})"
            )
        self.path = Path(path)
        self.nbytes = self.path.stat().st_size
        self.config = config
        model = core().read_model(str(path))
        if config.static_shapes:
            model.reshape({name: ov.PartialShape(list(dims)) for name, dims in config.static_shapes.items()})
        from voicestack.catalog import cache_dir

        props: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": config.precision,
            "CACHE_DIR": str(Path(config.cache_dir) if config.cache_dir else cache_dir() / "openvino"),
            "PERFORMANCE_HINT": "LATENCY",
        }
        if config.threads:
            props["INFERENCE_NUM_THREADS"] = int(config.threads)
        self._compiled = core().compile_model(model, config.device, props)
        from voicestack.addon import graph_io

        ins, outs = graph_io(self.path)
        graph_inputs, graph_outputs = set(ins), set(outs)
        self.input_names = [_graph_name(p, graph_inputs) for p in self._compiled.inputs]
        self.output_names = [_graph_name(p, graph_outputs) for p in self._compiled.outputs]
        self.static_shapes = dict(config.static_shapes or {})
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
