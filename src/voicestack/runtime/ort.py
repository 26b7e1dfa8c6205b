"""onnxruntime: CPU, and the CUDA / TensorRT execution providers where installed
(``pip install onnxruntime-gpu``; not tested on this project's CI, which has no GPU)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voicestack.errors import NetworkLoadError, RuntimeUnavailable
from voicestack.params import limits
from voicestack.runtime.base import Runtime, Session

OptionValue = str | int | float | bool


@dataclass(frozen=True)
class OrtOptions:
    threads: int = field(default=0, metadata=limits(lo=0, hi=1024, doc="intra-op threads; 0: onnxruntime's default"))
    providers: tuple[str, ...] = field(default=("CPUExecutionProvider",), metadata=limits(nonempty=True))
    # per provider, e.g. {"CUDAExecutionProvider": {"cudnn_conv_algo_search": "HEURISTIC"}}
    provider_options: Mapping[str, Mapping[str, OptionValue]] = field(default_factory=dict)
    # worker threads spin-wait between ops: faster alone, starves neighbouring sessions (FACTS.md)
    spinning: bool = False


def available_providers() -> list[str]:
    import onnxruntime

    return list(onnxruntime.get_available_providers())


class OnnxRuntime(Runtime):
    """onnxruntime sessions; provider options pass through the profile."""

    name = "onnxruntime"
    Options = OrtOptions
    install_hint = "pip install onnxruntime"

    @classmethod
    def check(cls, options: Any, path: str, problems: list[tuple[str, str]]) -> None:
        available = available_providers()
        missing = [p for p in options.providers if p not in available]
        if missing:
            problems.append((f"{path}.providers", f"execution provider(s) {', '.join(missing)} not available in this "
                             f"onnxruntime (available: {', '.join(available)})"))
        for provider in options.provider_options:
            if provider not in options.providers:
                problems.append((f"{path}.provider_options.{provider}",
                                 f"options for provider {provider!r}, which 'providers' does not list "
                                 f"({', '.join(options.providers)})"))

    @classmethod
    def open(cls, path: Path, options: Any, static_shapes: Mapping[str, tuple[int, ...]] | None) -> Session:
        return OrtSession(path, options)


class OrtSession:
    def __init__(self, path: Path, options: OrtOptions) -> None:
        import onnxruntime as ort

        missing = [p for p in options.providers if p not in ort.get_available_providers()]
        if missing:
            raise RuntimeUnavailable(
                f"execution provider(s) {', '.join(missing)} not available in this onnxruntime "
                f"(available: {', '.join(ort.get_available_providers())})"
            )
        so = ort.SessionOptions()
        if options.threads:
            so.intra_op_num_threads = options.threads
        so.inter_op_num_threads = 1
        # worker threads otherwise spin ~35 ms after each run and starve the other
        # sessions on small machines (FACTS.md)
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if options.spinning else "0")
        so.log_severity_level = 3
        self.path = Path(path)
        self.nbytes = self.path.stat().st_size
        provider_options = [{k: _option_text(v) for k, v in options.provider_options.get(p, {}).items()}
                            for p in options.providers]
        try:
            self._session = ort.InferenceSession(str(path), sess_options=so, providers=list(options.providers),
                                                 provider_options=provider_options)
        except Exception as err:  # onnxruntime's own exception types (Fail, InvalidGraph, ...) share no base
            raise NetworkLoadError(f"onnxruntime cannot load network '{self.path.name}': {err}") from err
        self.providers = list(self._session.get_providers())
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_names = [o.name for o in self._session.get_outputs()]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        feeds = {name: inputs[name] for name in self.input_names}
        outputs = self._session.run(self.output_names, feeds)
        return dict(zip(self.output_names, outputs, strict=True))


def _option_text(value: OptionValue) -> str:
    """onnxruntime takes provider options as strings; booleans as 1/0."""
    return ("1" if value else "0") if isinstance(value, bool) else str(value)
