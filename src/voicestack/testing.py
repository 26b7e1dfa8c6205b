"""A harness users and our tests share: run a stack on given tensors, collect chunks.

    from voicestack.testing import run_stack
    chunks = run_stack(addon_dir, {"input": ids}, stack=[...])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voicestack import assembly
from voicestack.addon import Manifest, read_manifest
from voicestack.blocks import Request, StreamableBlock
from voicestack.tensors import TensorDecl


@dataclass
class StackRun:
    chunks: list[dict[str, np.ndarray]]
    request: Request
    block: StreamableBlock = field(repr=False)

    def joined(self, key: str = "audio") -> np.ndarray:
        return np.concatenate([c[key] for c in self.chunks], axis=-1) if self.chunks else np.zeros(0, np.float32)


def build_stack(addon: Path | Manifest, stack: Any = None, profile: Any = None,
                inputs: Mapping[str, TensorDecl] | None = None) -> StreamableBlock:
    """Validate and build ``stack`` (JSON; default: the addon's own) against an addon."""
    manifest = addon if isinstance(addon, Manifest) else read_manifest(Path(addon))
    return assembly.build(assembly.plan(manifest, profile, stack=stack, inputs=inputs, require_audio=False)).block


def run_stack(addon: Path | Manifest, tensors: Mapping[str, np.ndarray], stack: Any = None,
              params: Mapping[str, float] | None = None, seed: int = 0, limit: int | None = None,
              block: StreamableBlock | None = None) -> StackRun:
    """Build (unless ``block`` is given) and run a stack; collect up to ``limit`` chunks."""
    manifest = addon if isinstance(addon, Manifest) else read_manifest(Path(addon))
    block = block or build_stack(manifest, stack)
    request = Request(params={**manifest.inference, **(params or {})}, seed=seed)
    chunks = []
    for chunk in block.stream(None, dict(tensors), request):
        chunks.append(chunk)
        if limit is not None and len(chunks) >= limit:
            break
    return StackRun(chunks, request, block)


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-noise ratio of ``test`` against ``reference`` (same length), in dB."""
    reference = np.asarray(reference, np.float64).reshape(-1)
    test = np.asarray(test, np.float64).reshape(-1)
    if reference.shape != test.shape:
        raise ValueError(f"lengths differ: {reference.size} vs {test.size}")
    noise = np.sum((reference - test) ** 2)
    signal = np.sum(reference**2)
    return float("inf") if noise == 0 else float(10 * np.log10(signal / noise))
