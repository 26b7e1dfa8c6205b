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


def addon_variant(src: Path, dest: Path, edit: Any = None, **frontend: Any) -> Path:
    """A copy of the addon at ``src`` (files hard-linked where the filesystem allows) with
    front-end fields changed, e.g. ``addon_variant(joe, tmp / "joe", max_encode=128)``;
    ``edit(manifest)`` may change anything else of its addon.json."""
    import json
    import os
    import shutil

    def link(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, dest, copy_function=link)
    manifest = json.loads((dest / "addon.json").read_text())
    manifest["frontend"].update(frontend)
    if edit is not None:
        edit(manifest)
    (dest / "addon.json").unlink()  # a link: never write through it into the source
    (dest / "addon.json").write_text(json.dumps(manifest))
    return dest


def silences(audio: np.ndarray, sample_rate: int, min_seconds: float = 0.15, floor_db: float = -40.0,
             frame_seconds: float = 0.01) -> list[tuple[float, float]]:
    """(start, length) in seconds of every pause inside ``audio`` at least ``min_seconds``
    long: 10 ms frames whose RMS is ``floor_db`` below the utterance's; leading and
    trailing silence are not pauses."""
    frame = max(1, int(sample_rate * frame_seconds))
    n = len(audio) // frame
    if n == 0:
        return []
    rms = np.sqrt(np.mean(np.square(audio[: n * frame].reshape(n, frame).astype(np.float64)), axis=1))
    loud = rms > np.sqrt(np.mean(np.square(audio.astype(np.float64)))) * 10 ** (floor_db / 20)
    voiced = np.flatnonzero(loud)
    if voiced.size == 0:
        return []
    found, run = [], 0
    for k in range(voiced[0], voiced[-1] + 1):
        if loud[k]:
            if run * frame_seconds >= min_seconds:
                found.append(((k - run) * frame_seconds, run * frame_seconds))
            run = 0
        else:
            run += 1
    return found
