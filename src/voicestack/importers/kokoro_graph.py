"""Cut a Kokoro-82M (StyleTTS2 / iSTFTNet) ONNX graph at its duration alignment.

A Kokoro export is one graph: ALBERT text encoder and duration predictor (token level),
then an alignment matrix built from the rounded durations (``Round`` -> ``CumSum`` ->
``Range``/``Less``/``And``), two matrix products that expand the token-level features to
frames, then the frame-level prosody predictor (F0, energy) and the iSTFTNet decoder.
Streaming needs the expansion outside the graph, so the graph is cut there:

    encoder.onnx  tokens, style, length_scale -> durations [1, T], features [1, C, T]
    framework     repeat each column of features by its duration (the Upsampler)
    decoder.onnx  frames [1, C, F], style -> audio

``features`` stacks the two expanded tensors on the channel axis (the predictor's and the
text encoder's, in graph order); the decoder splits them again. An alignment matrix is 0/1
with one 1 per frame column, so ``X @ alignment`` equals repeating X's columns exactly:
the cut changes no value.

Cut points come from the graph's structure: the one ``Round`` whose descendants hold a
``CumSum``, the float 0/1 tensor derived from it that two matrix products read, and those
products' other operands. Names are never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicestack.errors import VoicestackError
from voicestack.onnxtools import GraphIndex

_NEEDS = (
    "a Kokoro graph has three inputs (int64 tokens [1, L], float32 style [1, S], float32 speed [1]), one "
    "float32 audio output, one Round of the durations divided by speed feeding a CumSum, and exactly two "
    "matrix products reading the alignment built from it"
)
_MATMULS = ("MatMul", "FusedMatMul")


class KokoroImportError(VoicestackError, ValueError):
    """The graph is not a (supported) Kokoro graph; the message says what was found."""


@dataclass(frozen=True)
class KokoroCut:
    """Where the graph is cut (tensor names of the source graph)."""

    tokens: str
    style: str
    speed: str
    audio: str
    durations: str  # float [1, T] frames per token (after the Clip)
    alignment: str  # float [1, T, F]
    products: tuple[tuple[str, str, bool], ...]  # (token-level operand, product output, operand transposed)


def _elem(v: Any) -> int:
    return v.type.tensor_type.elem_type


def _rank(v: Any) -> int:
    return len(v.type.tensor_type.shape.dim)


def _attr(node: Any, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            return a.f if a.type == a.FLOAT else a.i
    return default


def find_cut(model: Any) -> KokoroCut:
    """The cut points of a Kokoro graph, from its ops and topology; KokoroImportError if not one."""
    from onnx import TensorProto

    g = GraphIndex(model.graph)
    inputs = list(g.inputs.values())
    ints = [v for v in inputs if _elem(v) == TensorProto.INT64 and _rank(v) == 2]
    floats2 = [v for v in inputs if _elem(v) == TensorProto.FLOAT and _rank(v) == 2]
    floats1 = [v for v in inputs if _elem(v) == TensorProto.FLOAT and _rank(v) == 1]
    if len(inputs) != 3 or len(ints) != 1 or len(floats2) != 1 or len(floats1) != 1:
        found = ", ".join(f"{v.name} (elem {_elem(v)}, rank {_rank(v)})" for v in inputs)
        raise KokoroImportError(f"unexpected inputs [{found}]; {_NEEDS}")
    if len(g.outputs) != 1 or _elem(g.outputs[0]) != TensorProto.FLOAT:
        raise KokoroImportError(f"expected one float32 output, found {len(g.outputs)}; {_NEEDS}")
    rounds = [i for i, n in enumerate(g.nodes) if n.op_type == "Round"
              and any(g.nodes[d].op_type == "CumSum" for d in g.descendants(n.output))]
    if len(rounds) != 1:
        raise KokoroImportError(f"found {len(rounds)} Round nodes feeding a CumSum, expected 1; {_NEEDS}")
    rnd = g.nodes[rounds[0]]
    div = g.nodes[g.producer[rnd.input[0]]] if rnd.input[0] in g.producer else None
    if div is None or div.op_type != "Div" or div.input[1] != floats1[0].name:
        raise KokoroImportError(f"the Round does not read durations divided by the speed input; {_NEEDS}")
    # durations: the Round's output, through a Clip (minimum one frame) when present
    durations = rnd.output[0]
    after = g.consumers.get(durations, [])
    if len(after) == 1 and g.nodes[after[0]].op_type == "Clip":
        durations = g.nodes[after[0]].output[0]
    below = g.descendants(rnd.output)
    below_tensors = {t for i in below for t in g.nodes[i].output}
    # the alignment: a tensor below the Round read by matrix products whose other operand is not below it
    by_alignment: dict[str, list[tuple[str, str, bool]]] = {}
    for i in sorted(below):
        node = g.nodes[i]
        if node.op_type not in _MATMULS or len(node.input) != 2:
            continue
        a, b = node.input
        if b in below_tensors and a not in below_tensors:
            if node.op_type == "FusedMatMul" and (_attr(node, "transB", 0) or _attr(node, "alpha", 1.0) != 1.0
                                                  or _attr(node, "transBatchA", 0) or _attr(node, "transBatchB", 0)):
                raise KokoroImportError(f"a FusedMatMul reading the alignment has unsupported attributes; {_NEEDS}")
            by_alignment.setdefault(b, []).append((a, node.output[0], bool(_attr(node, "transA", 0))))
    if len(by_alignment) != 1 or len(next(iter(by_alignment.values()))) != 2:
        raise KokoroImportError(f"found {sum(map(len, by_alignment.values()))} matrix products reading "
                                f"{len(by_alignment)} alignment tensors, expected 2 reading 1; {_NEEDS}")
    alignment, products = next(iter(by_alignment.items()))
    cut = KokoroCut(ints[0].name, floats2[0].name, floats1[0].name, g.outputs[0].name, durations, alignment,
                    tuple(products))
    # the rest of the graph must read the frames only through the two products
    reached = g.inputs_reached([cut.audio], stop=[p[1] for p in products])
    if reached - {cut.style}:
        raise KokoroImportError(f"the frame-level part also reads {sorted(reached - {cut.style})} besides the "
                                f"expanded features and the style; {_NEEDS}")
    return cut


def _operand_channels(model: Any, cut: KokoroCut) -> list[int]:
    """Channel count of each token-level operand, measured by running the encoder part on a probe."""
    import numpy as np
    import onnxruntime as ort

    from voicestack.onnxtools import extract

    probe = extract(model, [cut.tokens, cut.style, cut.speed], [p[0] for p in cut.products])
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    outs = session.run(None, {cut.tokens: np.array([[0, 1, 2, 3, 0]], dtype=np.int64),
                              cut.style: np.zeros((1, 256), np.float32), cut.speed: np.ones(1, np.float32)})
    # the operand with transA is [1, T, C]; the other [1, C, T]
    return [int(o.shape[2] if t else o.shape[1]) for o, (_, _, t) in zip(outs, cut.products, strict=True)]


def build_encoder(model: Any, cut: KokoroCut) -> Any:
    """tokens, style, length_scale -> durations [1, T], features [1, C, T] (a new model)."""
    from onnx import TensorProto, helper

    from voicestack.onnxtools import extract, rename

    m = type(model)()
    m.CopyFrom(model)
    g = m.graph
    parts = []
    for k, (operand, _, transposed) in enumerate(cut.products):
        if transposed:
            g.node.append(helper.make_node("Transpose", [operand], [f"kokoro_cut/operand{k}"], perm=[0, 2, 1]))
            parts.append(f"kokoro_cut/operand{k}")
        else:
            parts.append(operand)
    g.node.append(helper.make_node("Concat", parts, ["kokoro_cut/features"], axis=1))
    # speed = 1 / length_scale, so the framework's length_scale drives the durations
    speed_vi = next(v for v in g.input if v.name == cut.speed)
    g.input.remove(speed_vi)
    g.input.append(helper.make_tensor_value_info("kokoro_cut/length_scale", TensorProto.FLOAT, [1]))
    g.node.append(helper.make_node("Reciprocal", ["kokoro_cut/length_scale"], [cut.speed]))
    out = extract(m, [cut.tokens, cut.style, "kokoro_cut/length_scale"], [cut.durations, "kokoro_cut/features"])
    rename(out, {cut.tokens: "tokens", cut.style: "style", "kokoro_cut/length_scale": "length_scale",
                 cut.durations: "durations", "kokoro_cut/features": "features"})
    return out


def build_decoder(model: Any, cut: KokoroCut, channels: list[int]) -> Any:
    """frames [1, C, F], style -> audio (a new model): the two products replaced by a Split."""
    from onnx import TensorProto, helper

    from voicestack.onnxtools import extract, rename

    m = type(model)()
    m.CopyFrom(model)
    g = m.graph
    products = {p[1] for p in cut.products}
    kept = [n for n in g.node if not any(o in products for o in n.output)]
    del g.node[:]
    g.node.extend(kept)
    g.initializer.append(helper.make_tensor("kokoro_cut/split", TensorProto.INT64, [len(channels)], channels))
    g.node.append(helper.make_node("Split", ["kokoro_cut/frames", "kokoro_cut/split"], [p[1] for p in cut.products],
                                   axis=1))
    g.input.append(helper.make_tensor_value_info("kokoro_cut/frames", TensorProto.FLOAT, [1, sum(channels), "F"]))
    # audio [S] -> [1, 1, S], the framework's audio layout
    g.initializer.append(helper.make_tensor("kokoro_cut/audio_shape", TensorProto.INT64, [3], [1, 1, -1]))
    rename(m, {cut.audio: "kokoro_cut/audio_flat"})
    g.node.append(helper.make_node("Reshape", ["kokoro_cut/audio_flat", "kokoro_cut/audio_shape"],
                                   ["kokoro_cut/audio"]))
    out = extract(m, ["kokoro_cut/frames", cut.style], ["kokoro_cut/audio"])
    rename(out, {"kokoro_cut/frames": "frames", cut.style: "style", "kokoro_cut/audio": "audio"})
    return out


def split_kokoro(model: Any) -> tuple[Any, Any, int]:
    """The encoder and decoder models of a Kokoro graph and the feature channel count."""
    cut = find_cut(model)
    channels = _operand_channels(model, cut)
    return build_encoder(model, cut), build_decoder(model, cut, channels), sum(channels)
