#!/usr/bin/env python3
"""Make the tiny test addons under tests/data/ (random weights, a few kilobytes each).

    python scripts/make_tiny_networks.py [OUT_DIR]

* ``tiny_duration``: two independent encoders (text encoder -> m_p/logs_p, duration
  predictor -> w_ceil with a noise input) -> Upsampler -> windowed decoder (convs +
  transposed conv, 4 samples per frame). The shape of a Piper VITS voice, in miniature.
* ``tiny_autoregressive``: encoder -> a single-step decoder that makes one mel frame
  from the previous one (attention over the encoder memory, a recurrent state, a step
  counter, a stop output) -> a windowed mel vocoder.
* ``tiny_speakers_id`` / ``tiny_speakers_style``: tiny_duration with speakers, by an id
  into the text encoder or by a style row from an asset table.

Deterministic: the same script gives the same bytes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]
VOCAB = "abcdefghijklmnopqrstuvwxyz ,.!?'"
V = len(VOCAB) + 1
C = 8  # channels
N_MELS = 4
HOP = 4


def rand(rng: np.random.Generator, *shape: int, scale: float = 0.5) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


class Graph:
    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0

    def const(self, value: np.ndarray, name: str | None = None) -> str:
        name = name or f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op: str, inputs: list[str], out: str | None = None, **attrs: object) -> str:
        self.n += 1
        out = out or f"{op.lower()}_{self.n}"
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv(self, x: str, w: np.ndarray, pad: int) -> str:
        return self.op("Conv", [x, self.const(w), self.const(np.zeros(w.shape[0], np.float32))], pads=[pad, pad])

    def save(self, path: Path, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto]) -> None:
        graph = helper.make_graph(self.nodes, self.name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=OPSET, producer_name="voicestack-tiny")
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, str(path))


def vi(name: str, dtype: int, shape: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def embed(g: Graph, rng: np.random.Generator, ids: str) -> str:
    """ids [1,T] -> [1,C,T]"""
    table = g.const(rand(rng, V, C, scale=1.0))
    x = g.op("Gather", [table, ids])  # [1,T,C]
    return g.op("Transpose", [x], perm=[0, 2, 1])


def make_duration(out: Path, rng: np.random.Generator) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # text encoder: ids -> m_p, logs_p
    g = Graph("text_encoder")
    h = g.op("Tanh", [g.conv(embed(g, rng, "input"), rand(rng, C, C, 3), 1)])
    g.op("Identity", [g.conv(h, rand(rng, C, C, 1), 0)], "m_p")
    g.op("Mul", [g.conv(h, rand(rng, C, C, 1), 0), g.const(np.float32(0.3))], "logs_p")
    g.save(out / "text_encoder.onnx",
           [vi("input", TensorProto.INT64, [1, "T"]), vi("input_lengths", TensorProto.INT64, [1])],
           [vi("m_p", TensorProto.FLOAT, [1, C, "T"]), vi("logs_p", TensorProto.FLOAT, [1, C, "T"])])
    # duration predictor: ids, scales, noise -> w_ceil (>= 1 frame each, like VITS's ceil)
    g = Graph("duration")
    h = g.op("Tanh", [g.conv(embed(g, rng, "input"), rand(rng, C, C, 3), 1)])
    noise = g.op("Mul", [g.conv("dp_noise", rand(rng, 1, 2, 1), 0),
                         g.op("Slice", ["scales", g.const(np.array([2])), g.const(np.array([3]))])])
    logw = g.op("Add", [g.op("Add", [g.conv(h, rand(rng, 1, C, 1, scale=0.3), 0), g.const(np.float32(1.0))]), noise])
    length_scale = g.op("Slice", ["scales", g.const(np.array([1])), g.const(np.array([2]))])
    w = g.op("Mul", [g.op("Exp", [logw]), length_scale])
    g.op("Max", [g.op("Ceil", [w]), g.const(np.float32(1.0))], "w_ceil")
    g.save(out / "duration.onnx",
           [vi("input", TensorProto.INT64, [1, "T"]), vi("scales", TensorProto.FLOAT, [3]),
            vi("dp_noise", TensorProto.FLOAT, [1, 2, "T"])],
           [vi("w_ceil", TensorProto.FLOAT, [1, 1, "T"])])
    # decoder: z_p [1,C,F] -> audio [1,1,4F]; receptive field +-4 frames
    g = Graph("decoder")
    x = g.op("Tanh", [g.conv("z_p", rand(rng, C, C, 5), 2)])
    x = g.op("Tanh", [g.conv(x, rand(rng, C, C, 5), 2)])
    up = g.op("ConvTranspose", [x, g.const(rand(rng, C, 1, HOP)), g.const(np.zeros(1, np.float32))], strides=[HOP])
    g.op("Mul", [g.op("Tanh", [up]), g.const(np.float32(0.8))], "audio")
    g.save(out / "decoder.onnx", [vi("z_p", TensorProto.FLOAT, [1, C, "F"])],
           [vi("audio", TensorProto.FLOAT, [1, 1, "S"])])
    manifest = {
        "format_version": 1, "name": "tiny-duration", "version": "0.1.0", "language": "en",
        "sample_rate": 16000, "architecture": "duration (tiny test network)",
        "description": "Random weights: makes noise, not speech. For tests.",
        "frontend": {"type": "characters", "symbols": VOCAB},
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        "networks": {
            "text_encoder": {"file": "text_encoder.onnx", "format": "onnx", "role": "encoder",
                             "inputs": {"input": {"dtype": "int64", "shape": [1, "T"]},
                                        "input_lengths": {"dtype": "int64", "shape": [1]}},
                             "outputs": {"m_p": {"dtype": "float32", "shape": [1, C, "T"]},
                                         "logs_p": {"dtype": "float32", "shape": [1, C, "T"]}}},
            "duration": {"file": "duration.onnx", "format": "onnx", "role": "encoder",
                         "inputs": {"input": {"dtype": "int64", "shape": [1, "T"]},
                                    "scales": {"dtype": "float32", "shape": [3],
                                               "feed": {"params": ["noise_scale", "length_scale", "noise_w"]}},
                                    "dp_noise": {"dtype": "float32", "shape": [1, 2, "T"], "feed": {"noise": "normal"}}},
                         "outputs": {"w_ceil": {"dtype": "float32", "shape": [1, 1, "T"]}}},
            "decoder": {"file": "decoder.onnx", "format": "onnx", "role": "decoder", "time_ratio": HOP,
                        "inputs": {"z_p": {"dtype": "float32", "shape": [1, C, "F"]}},
                        "outputs": {"audio": {"dtype": "float32", "shape": [1, 1, "S"]}}},
        },
        "stack": [{"type": "StreamablePipeline",
                   "sequence_block": {"type": "Encoders"},
                   "streamable_block": {"type": "StreamableStack", "stack": [
                       {"type": "Upsampler", "chunk_frames": 4},
                       {"type": "Decoder", "first_window": 4, "max_window": 16, "context": 6}]}}],
    }
    (out / "addon.json").write_text(json.dumps(manifest, indent=2) + "\n")


def make_speakers(out: Path, rng: np.random.Generator, by: str) -> None:
    """tiny_duration's shape with speakers: ``by="id"`` a speaker id input into the text
    encoder (a Piper multi-speaker voice in miniature), ``by="style"`` a style vector
    chosen from an asset table by speaker and token count (Kokoro's way, in miniature)."""
    make_duration(out, np.random.default_rng(1))
    manifest = json.loads((out / "addon.json").read_text())
    g = Graph("text_encoder")
    h = g.op("Tanh", [g.conv(embed(g, rng, "input"), rand(rng, C, C, 3), 1)])
    if by == "id":
        table = g.const(rand(rng, 3, C, scale=2.0))
        cond = g.op("Unsqueeze", [g.op("Gather", [table, "sid"]), g.const(np.array([2]))])  # [1,C,1]
        extra = [vi("sid", TensorProto.INT64, [1])]
        decl = {"sid": {"dtype": "int64", "shape": [1], "feed": {"speaker_id": True}}}
    else:
        cond = g.op("Unsqueeze", ["style", g.const(np.array([2]))])  # [1,C] -> [1,C,1]
        extra = [vi("style", TensorProto.FLOAT, [1, C])]
        decl = {"style": {"dtype": "float32", "shape": [1, C],
                          "feed": {"asset_row": {"asset": "styles", "row": "input_lengths", "offset": -1}}}}
    h = g.op("Add", [h, cond])
    g.op("Identity", [g.conv(h, rand(rng, C, C, 1), 0)], "m_p")
    g.op("Mul", [g.conv(h, rand(rng, C, C, 1), 0), g.const(np.float32(0.3))], "logs_p")
    g.save(out / "text_encoder.onnx",
           [vi("input", TensorProto.INT64, [1, "T"]), vi("input_lengths", TensorProto.INT64, [1]), *extra],
           [vi("m_p", TensorProto.FLOAT, [1, C, "T"]), vi("logs_p", TensorProto.FLOAT, [1, C, "T"])])
    manifest["networks"]["text_encoder"]["inputs"].update(decl)
    if by == "id":
        manifest.update(name="tiny-speakers-id", speakers={"alice": {"id": 0}, "bob": {"id": 1}, "carol": {"id": 2}},
                        default_speaker="bob")
    else:
        rows = 64  # one style per token count, as Kokoro's voice tables
        styles = {name: rand(rng, rows, C, scale=2.0) for name in ("alto", "bass")}
        np.savez(out / "styles.npz", **styles)
        manifest.update(name="tiny-speakers-style",
                        assets={"styles": {"file": "styles.npz",
                                           "arrays": {k: {"dtype": "float32", "shape": [rows, C]} for k in styles}}},
                        speakers={k: {"asset": "styles", "key": k} for k in styles})
    (out / "addon.json").write_text(json.dumps(manifest, indent=2) + "\n")


def make_autoregressive(out: Path, rng: np.random.Generator) -> None:
    out.mkdir(parents=True, exist_ok=True)
    H = 16
    g = Graph("encoder")
    e = g.op("Tanh", [g.conv(embed(g, rng, "input"), rand(rng, C, C, 3), 1)])
    g.op("Transpose", [e], "memory", perm=[0, 2, 1])  # [1,T,C]
    g.save(out / "encoder.onnx",
           [vi("input", TensorProto.INT64, [1, "T"]), vi("input_lengths", TensorProto.INT64, [1])],
           [vi("memory", TensorProto.FLOAT, [1, "T", C])])
    # one decoder step
    g = Graph("decoder_step")
    q = g.op("MatMul", ["h_in", g.const(rand(rng, H, C))])  # [1,C]
    scores = g.op("MatMul", ["memory", g.op("Unsqueeze", [q, g.const(np.array([2]))])])  # [1,T,1]
    attn = g.op("Softmax", [scores], axis=1)
    context = g.op("ReduceSum", [g.op("Mul", ["memory", attn]), g.const(np.array([1]))], keepdims=0)  # [1,C]
    pre = g.op("Add", [g.op("MatMul", ["frame_in", g.const(rand(rng, N_MELS, H))]),
                       g.op("MatMul", [context, g.const(rand(rng, C, H))])])
    h = g.op("Tanh", [g.op("Add", [pre, g.op("MatMul", ["h_in", g.const(rand(rng, H, H, scale=0.3))])])], "h_out")
    g.op("Tanh", [g.op("MatMul", [h, g.const(rand(rng, H, N_MELS, scale=1.0))])], "frame")
    t_out = g.op("Add", ["t_in", g.const(np.ones((1, 1), np.float32))], "t_out")
    shape = g.op("Shape", ["memory"])
    length = g.op("Cast", [g.op("Gather", [shape, g.const(np.array(1))])], to=TensorProto.FLOAT)
    # stops after 3 frames per input symbol: a deterministic, testable stop token
    g.op("Sigmoid", [g.op("Mul", [g.op("Sub", [t_out, g.op("Mul", [length, g.const(np.float32(3.0))])]),
                                  g.const(np.float32(10.0))])], "stop")
    g.save(out / "decoder_step.onnx",
           [vi("frame_in", TensorProto.FLOAT, [1, N_MELS]), vi("h_in", TensorProto.FLOAT, [1, H]),
            vi("t_in", TensorProto.FLOAT, [1, 1]), vi("memory", TensorProto.FLOAT, [1, "T", C])],
           [vi("frame", TensorProto.FLOAT, [1, N_MELS]), vi("h_out", TensorProto.FLOAT, [1, H]),
            vi("t_out", TensorProto.FLOAT, [1, 1]), vi("stop", TensorProto.FLOAT, [1, 1])])
    g = Graph("vocoder")
    x = g.op("Tanh", [g.conv("mel", rand(rng, C, N_MELS, 3), 1)])
    up = g.op("ConvTranspose", [x, g.const(rand(rng, C, 1, HOP)), g.const(np.zeros(1, np.float32))], strides=[HOP])
    g.op("Mul", [g.op("Tanh", [up]), g.const(np.float32(0.8))], "audio")
    g.save(out / "vocoder.onnx", [vi("mel", TensorProto.FLOAT, [1, N_MELS, "F"])],
           [vi("audio", TensorProto.FLOAT, [1, 1, "S"])])
    f32 = "float32"
    manifest = {
        "format_version": 1, "name": "tiny-autoregressive", "version": "0.1.0", "language": "en",
        "sample_rate": 16000, "architecture": "autoregressive (tiny test network)",
        "description": "Random weights: makes noise, not speech. For tests.",
        "frontend": {"type": "characters", "symbols": VOCAB},
        "inference": {},
        "networks": {
            "encoder": {"file": "encoder.onnx", "role": "encoder",
                        "inputs": {"input": {"dtype": "int64", "shape": [1, "T"]},
                                   "input_lengths": {"dtype": "int64", "shape": [1]}},
                        "outputs": {"memory": {"dtype": f32, "shape": [1, "T", C]}}},
            "decoder_step": {"file": "decoder_step.onnx", "role": "decoder",
                             "inputs": {"frame_in": {"dtype": f32, "shape": [1, N_MELS]},
                                        "h_in": {"dtype": f32, "shape": [1, H]},
                                        "t_in": {"dtype": f32, "shape": [1, 1]},
                                        "memory": {"dtype": f32, "shape": [1, "T", C]}},
                             "outputs": {"frame": {"dtype": f32, "shape": [1, N_MELS]},
                                         "h_out": {"dtype": f32, "shape": [1, H]},
                                         "t_out": {"dtype": f32, "shape": [1, 1]},
                                         "stop": {"dtype": f32, "shape": [1, 1]}}},
            "vocoder": {"file": "vocoder.onnx", "role": "vocoder", "time_ratio": HOP,
                        "inputs": {"mel": {"dtype": f32, "shape": [1, N_MELS, "F"]}},
                        "outputs": {"audio": {"dtype": f32, "shape": [1, 1, "S"]}}},
        },
        "stack": [{"type": "StreamablePipeline",
                   "sequence_block": {"type": "Encoders"},
                   "streamable_block": {"type": "StreamableStack", "stack": [
                       {"type": "AutoregressiveDecoder", "network": "decoder_step",
                        "state": {"h_out": "h_in", "t_out": "t_in"}, "chunk_frames": 4, "output": "mel"},
                       {"type": "Decoder", "network": "vocoder", "first_window": 4, "max_window": 16,
                        "context": 2}]}}],
    }
    (out / "addon.json").write_text(json.dumps(manifest, indent=2) + "\n")


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "tests" / "data"
    make_duration(out / "tiny_duration", np.random.default_rng(1))
    make_autoregressive(out / "tiny_autoregressive", np.random.default_rng(2))
    make_speakers(out / "tiny_speakers_id", np.random.default_rng(3), "id")
    make_speakers(out / "tiny_speakers_style", np.random.default_rng(4), "style")
    for p in sorted(out.rglob("*.onnx")):
        print(f"{p.relative_to(out)}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
