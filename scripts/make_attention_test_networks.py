#!/usr/bin/env python3
"""Make the tiny attention test addon ``tests/data/tiny_attention`` (a few kilobytes).

    python scripts/make_attention_test_networks.py [OUT_DIR]

An encoder (ids -> memory [1, T, C]) and several single-step attention decoders with
crafted attention paths, so every guard of ``AttentionDecoder`` has a network that
trips it. Each step makes R = 2 frames from the previous ones and the attention
context; a step counter ``t`` is carried as state; the attention weights are a sharp
bump at a position ``pos(t)``:

* ``step_good``: pos = min(t, T-1), stop once past the last symbol -> ``stop_token``;
* ``step_never_stops``: the same path, stop output always 0 -> ``max_length``;
* ``step_backwards``: pos = t, then back to symbol 0 half way -> ``attention_backwards``;
* ``step_stalls``: pos = min(t, 3) -> ``attention_stalled``;
* ``step_skips``: pos = min(20 t, T-1) -> ``attention_skipped``;
* ``step_early_stop``: pos = t, stop half way -> ``attention_skipped`` (end not reached).

Plus a windowed vocoder (mel -> 4 samples a frame). Deterministic: same bytes each run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tiny_networks import HOP, N_MELS, VOCAB, C, Graph, embed, rand, vi

R = 2
VARIANTS = ("good", "never_stops", "backwards", "stalls", "skips", "early_stop")


def make_step(g: Graph, rng: np.random.Generator, variant: str) -> list[object]:
    """Build one step graph into ``g``; return its output declarations."""
    f = TensorProto.FLOAT
    t_out = g.op("Add", ["t_in", g.const(np.ones((1, 1), np.float32))], "t_out")
    n_int = g.op("Gather", [g.op("Shape", ["memory"]), g.const(np.array(1))])  # T (scalar int64)
    n = g.op("Cast", [n_int], to=f)
    last = g.op("Sub", [n, g.const(np.float32(1.0))])
    t = "t_in"
    if variant in ("good", "never_stops", "early_stop"):
        pos = g.op("Min", [t, last])
    elif variant == "backwards":
        half = g.op("Mul", [n, g.const(np.float32(0.5))])
        pos = g.op("Where", [g.op("Less", [t, half]), t, g.const(np.zeros((1, 1), np.float32))])
    elif variant == "stalls":
        pos = g.op("Min", [t, g.const(np.float32(3.0))])
    elif variant == "skips":
        pos = g.op("Min", [g.op("Mul", [t, g.const(np.float32(20.0))]), last])
    else:
        raise ValueError(variant)
    idx = g.op("Unsqueeze", [g.op("Cast", [g.op("Range", [g.const(np.array(0)), n_int, g.const(np.array(1))])], to=f),
                             g.const(np.array([0]))])  # [1,T]
    d = g.op("Sub", [idx, pos])
    weights = g.op("Softmax", [g.op("Mul", [g.op("Mul", [d, d]), g.const(np.float32(-4.0))])], "weights", axis=1)
    ctx = g.op("Reshape", [g.op("MatMul", [g.op("Unsqueeze", [weights, g.const(np.array([1]))]), "memory"]),
                           g.const(np.array([1, C]))])  # [1,C]
    prev = g.op("Reshape", [g.op("Slice", ["frame_in", g.const(np.array([-1])), g.const(np.array([R])),
                                           g.const(np.array([2]))]), g.const(np.array([1, N_MELS]))])
    h = g.op("Tanh", [g.op("Add", [g.op("MatMul", [ctx, g.const(rand(rng, C, N_MELS, scale=1.0))]),
                                   g.op("MatMul", [prev, g.const(rand(rng, N_MELS, N_MELS, scale=0.5))])])])
    g.op("Mul", [g.op("Unsqueeze", [h, g.const(np.array([2]))]), g.const(np.array([[[1.0, 0.7]]], np.float32))],
         "frame")  # [1,N,R]
    if variant == "never_stops":
        g.op("Mul", [t_out, g.const(np.float32(0.0))], "stop")
    else:
        end = g.op("Mul", [n, g.const(np.float32(0.5))]) if variant == "early_stop" else n
        g.op("Sigmoid", [g.op("Mul", [g.op("Sub", [t_out, g.op("Add", [end, g.const(np.float32(0.5))])]),
                                      g.const(np.float32(10.0))])], "stop")
    return [vi("frame", f, [1, N_MELS, R]), vi("stop", f, [1, 1]), vi("weights", f, [1, "T"]), vi("t_out", f, [1, 1])]


def make(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    f32 = "float32"
    g = Graph("encoder")
    e = g.op("Tanh", [g.conv(embed(g, rng, "input"), rand(rng, C, C, 3), 1)])
    g.op("Transpose", [e], "memory", perm=[0, 2, 1])  # [1,T,C]
    g.save(out / "encoder.onnx",
           [vi("input", TensorProto.INT64, [1, "T"]), vi("input_lengths", TensorProto.INT64, [1])],
           [vi("memory", TensorProto.FLOAT, [1, "T", C])])
    networks: dict[str, object] = {
        "encoder": {"file": "encoder.onnx", "role": "encoder",
                    "inputs": {"input": {"dtype": "int64", "shape": [1, "T"]},
                               "input_lengths": {"dtype": "int64", "shape": [1]}},
                    "outputs": {"memory": {"dtype": f32, "shape": [1, "T", C]}}},
    }
    step_rng = np.random.default_rng(8)
    state = step_rng.bit_generator.state
    for variant in VARIANTS:
        step_rng.bit_generator.state = state  # same weights in every variant: only the path differs
        g = Graph(f"step_{variant}")
        outputs = make_step(g, step_rng, variant)
        g.save(out / f"step_{variant}.onnx",
               [vi("memory", TensorProto.FLOAT, [1, "T", C]), vi("frame_in", TensorProto.FLOAT, [1, N_MELS, R]),
                vi("t_in", TensorProto.FLOAT, [1, 1])], outputs)  # type: ignore[arg-type]
        networks[f"step_{variant}"] = {
            "file": f"step_{variant}.onnx", "role": "decoder",
            "inputs": {"memory": {"dtype": f32, "shape": [1, "T", C]},
                       "frame_in": {"dtype": f32, "shape": [1, N_MELS, R]},
                       "t_in": {"dtype": f32, "shape": [1, 1]}},
            "outputs": {"frame": {"dtype": f32, "shape": [1, N_MELS, R]}, "stop": {"dtype": f32, "shape": [1, 1]},
                        "weights": {"dtype": f32, "shape": [1, "T"]}, "t_out": {"dtype": f32, "shape": [1, 1]}}}
    g = Graph("vocoder")
    x = g.op("Tanh", [g.conv("mel", rand(rng, C, N_MELS, 3), 1)])
    up = g.op("ConvTranspose", [x, g.const(rand(rng, C, 1, HOP)), g.const(np.zeros(1, np.float32))], strides=[HOP])
    g.op("Mul", [g.op("Tanh", [up]), g.const(np.float32(0.8))], "audio")
    g.save(out / "vocoder.onnx", [vi("mel", TensorProto.FLOAT, [1, N_MELS, "F"])],
           [vi("audio", TensorProto.FLOAT, [1, 1, "S"])])
    networks["vocoder"] = {"file": "vocoder.onnx", "role": "vocoder", "time_ratio": HOP,
                           "inputs": {"mel": {"dtype": f32, "shape": [1, N_MELS, "F"]}},
                           "outputs": {"audio": {"dtype": f32, "shape": [1, 1, "S"]}}}

    def stack(variant: str) -> list[object]:
        return [{"type": "StreamablePipeline",
                 "sequence_block": {"type": "Encoders"},
                 "streamable_block": {"type": "StreamableStack", "stack": [
                     {"type": "AttentionDecoder", "network": f"step_{variant}", "state": {"t_out": "t_in"},
                      "initial": {"frame_in": -1.0}, "chunk_frames": 4, "first_chunk_frames": 2,
                      "max_frames_per_symbol": 6.0, "stall_steps": 8, "output": "mel"},
                     {"type": "Decoder", "network": "vocoder", "first_window": 4, "max_window": 16,
                      "context": 2}]}}]

    manifest = {
        "format_version": 1, "name": "tiny-attention", "version": "0.1.0", "language": "en",
        "sample_rate": 16000, "architecture": "attention autoregressive (tiny test networks)",
        "description": "Crafted attention paths, random weights: makes noise, not speech. For tests.",
        "frontend": {"type": "characters", "symbols": VOCAB},
        "inference": {},
        "networks": networks,
        "stack": stack("good"),
        "stacks": {v: stack(v) for v in VARIANTS if v != "good"},
    }
    (out / "addon.json").write_text(json.dumps(manifest, indent=2) + "\n")


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "tests" / "data"
    make(out / "tiny_attention")
    for p in sorted((out / "tiny_attention").glob("*.onnx")):
        print(f"{p.relative_to(out)}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
