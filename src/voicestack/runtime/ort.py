"""onnxruntime sessions (CPU; CUDA / TensorRT execution providers where installed)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from voicestack.errors import RuntimeUnavailable
from voicestack.runtime import RuntimeConfig


def available_providers() -> list[str]:
    return list(ort.get_available_providers())


class OrtSession:
    def __init__(self, path: Path, config: RuntimeConfig) -> None:
        missing = [p for p in config.providers if p not in ort.get_available_providers()]
        if missing:
            raise RuntimeUnavailable(
                f"execution provider(s) {', '.join(missing)} not available in this onnxruntime "
                f"(available: {', '.join(ort.get_available_providers())})"
            )
        options = ort.SessionOptions()
        if config.threads:
            options.intra_op_num_threads = config.threads
        options.inter_op_num_threads = 1
        # worker threads otherwise spin ~35 ms after each run and starve the other
        # sessions on small machines (FACTS.md)
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if config.spinning else "0")
        options.log_severity_level = 3
        self.path = Path(path)
        self.nbytes = self.path.stat().st_size
        self._session = ort.InferenceSession(str(path), sess_options=options, providers=list(config.providers))
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_names = [o.name for o in self._session.get_outputs()]
        self.static_shapes = dict(config.static_shapes or {})

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        feeds = {name: inputs[name] for name in self.input_names}
        outputs = self._session.run(self.output_names, feeds)
        return dict(zip(self.output_names, outputs, strict=True))
