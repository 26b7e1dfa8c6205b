"""Split a Piper (VITS) ONNX voice into an encoder network and a decoder network.

A Piper export is one graph: text encoder + stochastic duration predictor, then the
duration expansion ("upsampling"), then the normalising flow (in reverse) and the
HiFi-GAN generator. Streaming needs the middle step outside the graph, so that the
frame-level sequence can be produced and decoded window by window:

    encoder.onnx   ids  -> m_p, logs_p, x_mask, w_ceil           (whole sentence at once)
    framework      repeat m_p/logs_p by w_ceil, z_p = m + eps*exp(logs)*noise_scale
    decoder.onnx   z_p  -> audio                                   (any window of frames)

Network contracts (batch fixed at 1; "T" = phoneme ids, "F" = frames, "S" = samples):

encoder inputs
    ``input``          int64   [1, "T"]   phoneme ids
    ``input_lengths``  int64   [1]        = T (or the unpadded length when padding)
    ``scales``         float32 [3]        (noise_scale, length_scale, noise_w), Piper's own
                                          layout; element 0 is not used by the encoder
                                          (noise_scale acts in the framework's upsampler)
    ``dp_noise``       float32 [1, 2, "T"] standard normal noise of the stochastic
                                          duration predictor; the graph scales it by noise_w.
                                          Zeros = deterministic durations.
encoder outputs
    ``m_p``            float32 [1, C, "T"] prior means (C = inter channels, 192 for Piper)
    ``logs_p``         float32 [1, C, "T"] prior log standard deviations
    ``x_mask``         float32 [1, 1, "T"] 1 for real ids, 0 for padding
    ``w_ceil``         float32 [1, 1, "T"] frames per id (integral values, float as in the graph)
decoder input
    ``z_p``            float32 [1, C, "F"] frame-level latent
decoder output
    ``audio``          float32 [1, 1, "S"] S = F * hop_length, samples in [-1, 1]

The flow's frame mask ``y_mask`` is folded into the decoder as ones shaped [1, 1, F]
(built from z_p's shape inside the graph): for batch 1 the monolithic graph's mask is
all ones, so this is exact. The noise of the prior (eps) and of the duration predictor
are inputs: RandomNormalLike inside a graph can't be seeded by the framework and differs
between runtimes, so every random node is removed from the kept graphs.

Cut points are found from the graph's structure (see ``_find_cut_points``); Piper's
PyTorch node names are only compared afterwards, as a cross-check that never decides.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voicestack.errors import VoicestackError
from voicestack.importers.vits import SPEAKER
from voicestack.onnxtools import declare, extract, graph_io, reads, rename
from voicestack.onnxtools import save as onnx_save

_log = logging.getLogger(__name__)

__all__ = ["PiperImportError", "PiperSplit", "reference_upsample", "split_piper"]

ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"

# What a Piper VITS graph needs, quoted in every refusal.
_NEEDS = (
    "a Piper VITS graph has inputs 'input' int64 [B,T], 'input_lengths' int64 [B], "
    "'scales' float32 [3], one Ceil feeding a CumSum (duration expansion), a Split of the "
    "text encoder's projection into m_p/logs_p, and an Add forming z_p = m_p + noise*exp(logs_p)*noise_scale "
    "before the flow"
)

# Names a PyTorch export of Piper gives the cut tensors; only compared after the fact.
_KNOWN_NAMES = {
    "m_p": "/enc_p/Split_output_0",
    "logs_p": "/enc_p/Split_output_1",
    "x_mask": "/enc_p/Cast_1_output_0",
    "w_ceil": "/Ceil_output_0",
    "z_p": "/Add_output_0",
}

_RANDOM_OPS = ("RandomNormalLike", "RandomNormal", "RandomUniformLike", "RandomUniform")
# Ops that only move or reshape data: walked through when tracing a tensor to its origin.
_PASS_THROUGH = ("Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Cast")


class PiperImportError(VoicestackError, ValueError):
    """The file is not a (supported) Piper VITS voice; the message says what was found."""


@dataclass(frozen=True)
class PiperSplit:
    """The two networks written by :func:`split_piper` and what an addon needs to know."""

    encoder_path: Path
    decoder_path: Path
    encoder_io: dict[str, Any]  # {"inputs": {name: {"dtype", "shape"}}, "outputs": {...}}
    decoder_io: dict[str, Any]
    sample_rate: int
    hop_length: int
    num_speakers: int
    config: dict[str, Any] = field(repr=False)  # the .onnx.json content
    # Where each cut was found in the source graph (tensor names), for diagnostics.
    cut_points: dict[str, str] = field(default_factory=dict, repr=False)


# --------------------------------------------------------------------------- reference


def reference_upsample(
    m_p: npt.NDArray[np.float32],
    logs_p: npt.NDArray[np.float32],
    w_ceil: npt.NDArray[np.floating[Any]],
    noise_scale: float = 0.0,
    eps: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]:
    """The step between encoder and decoder, as the monolithic graph computes it.

    ``m_p``/``logs_p`` are [1, C, T], ``w_ceil`` [1, 1, T] (or [T]) frames per id.
    Each id's column is repeated ``w_ceil`` times (F = sum of durations frames), then
    ``z_p = m + eps * exp(logs) * noise_scale`` with ``eps`` standard normal [1, C, F]
    (``None`` = zeros). Like the graph, F is at least 1: all-zero durations give one
    frame whose mean and log-std are 0.
    """
    durations = np.asarray(w_ceil).reshape(-1).astype(np.int64)
    if durations.shape[0] != m_p.shape[-1] or m_p.shape != logs_p.shape:
        raise ValueError(
            f"reference_upsample: m_p {list(m_p.shape)}, logs_p {list(logs_p.shape)} and "
            f"w_ceil with {durations.shape[0]} durations do not agree"
        )
    if durations.sum() > 0:
        mean = np.repeat(m_p, durations, axis=-1)
        logs = np.repeat(logs_p, durations, axis=-1)
    else:
        mean = np.zeros((*m_p.shape[:-1], 1), dtype=m_p.dtype)
        logs = np.zeros_like(mean)
    if eps is None or noise_scale == 0.0:
        return np.ascontiguousarray(mean, dtype=np.float32)
    if eps.shape != mean.shape:
        raise ValueError(f"reference_upsample: eps has shape {list(eps.shape)}, expected {list(mean.shape)}")
    return (mean + eps * np.exp(logs) * np.float32(noise_scale)).astype(np.float32)


# --------------------------------------------------------------------------- graph index


class _Graph:
    """Producer/consumer index over one ONNX graph (read-only helper)."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.nodes = list(graph.node)
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = {}
        for i, node in enumerate(self.nodes):
            for out in node.output:
                if out:
                    self.producer[out] = i
            for inp in node.input:
                if inp:
                    self.consumers.setdefault(inp, []).append(i)
        self.initializers = {t.name: t for t in graph.initializer}
        self.inputs = {v.name: v for v in graph.input if v.name not in self.initializers}

    def node_of(self, tensor: str) -> Any | None:
        i = self.producer.get(tensor)
        return None if i is None else self.nodes[i]

    def ancestors(self, tensors: Iterable[str], stop: Iterable[str] = ()) -> set[int]:
        """Indices of the nodes that (transitively) produce `tensors`, not crossing `stop`."""
        stop_set = set(stop)
        seen: set[int] = set()
        todo = deque(t for t in tensors if t not in stop_set)
        while todo:
            i = self.producer.get(todo.popleft())
            if i is None or i in seen:
                continue
            seen.add(i)
            todo.extend(t for t in self.nodes[i].input if t and t not in stop_set)
        return seen

    def descendants(self, tensors: Iterable[str]) -> set[int]:
        seen: set[int] = set()
        todo = deque(tensors)
        while todo:
            for i in self.consumers.get(todo.popleft(), ()):
                if i not in seen:
                    seen.add(i)
                    todo.extend(t for t in self.nodes[i].output if t)
        return seen

    def trace_origin(self, tensor: str) -> tuple[str, Any | None]:
        """Follow `tensor` back through data-movement ops; return (tensor, its producer)."""
        node = self.node_of(tensor)
        while node is not None and node.op_type in _PASS_THROUGH:
            tensor = node.input[0]
            node = self.node_of(tensor)
        return tensor, node

    def mul_leaves(self, tensor: str) -> list[str]:
        """The operands of the tree of Mul nodes that produces `tensor`."""
        node = self.node_of(tensor)
        if node is None or node.op_type != "Mul":
            return [tensor]
        return [leaf for t in node.input for leaf in self.mul_leaves(t)]

    def scales_index(self, tensor: str, scales: str) -> int | None:
        """If `tensor` is `scales[k]` (a Gather with a constant index), return k."""
        node = self.node_of(tensor)
        if node is None or node.op_type != "Gather" or node.input[0] != scales:
            return None
        index = self.constant(node.input[1])
        return None if index is None or index.size != 1 else int(index.reshape(-1)[0])

    def constant(self, tensor: str) -> npt.NDArray[Any] | None:
        from onnx import numpy_helper

        if tensor in self.initializers:
            return numpy_helper.to_array(self.initializers[tensor])
        node = self.node_of(tensor)
        if node is not None and node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
        return None


@dataclass
class _Cuts:
    ids: str
    lengths: str
    scales: str
    m_p: str
    logs_p: str
    x_mask: str
    w_ceil: str
    z_p: str
    y_mask: str
    audio: str  # the decoder's final tensor, [B, 1, S]
    dp_noise: list[Any]  # random nodes of the duration predictor (replaced by inputs)
    scale_index: dict[str, int | None]
    speaker: str | None = None  # the speaker id input of a multi-speaker voice


# --------------------------------------------------------------------------- cut points


def _refuse(model: Path, found: str) -> PiperImportError:
    return PiperImportError(f"{model}: not a Piper VITS graph: {found}; {_NEEDS}")


def _input_kind(value_info: Any) -> tuple[int, list[int | str]]:
    tensor_type = value_info.type.tensor_type
    dims: list[int | str] = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in tensor_type.shape.dim]
    return tensor_type.elem_type, dims


def _find_inputs(g: _Graph, model: Path) -> tuple[str, str, str, str | None]:
    """Classify the graph inputs by dtype and shape: ids, lengths, scales, speaker id."""
    from onnx import TensorProto

    ids = lengths = scales = None
    int_vectors: list[str] = []
    for name, vi in g.inputs.items():
        elem, dims = _input_kind(vi)
        if elem == TensorProto.INT64 and len(dims) == 2:
            ids = name
        elif elem == TensorProto.INT64 and len(dims) == 1:
            int_vectors.append(name)
        elif elem == TensorProto.FLOAT and dims == [3]:
            scales = name
    # input_lengths and sid are both int64 [B]. A speaker id indexes an embedding table
    # (Gather whose data is a 2-D initializer); lengths feed the sequence mask instead.
    speaker_inputs = [
        n
        for n in int_vectors
        if n == "sid"
        or any(
            g.nodes[i].op_type == "Gather"
            and g.nodes[i].input[1] == n
            and g.nodes[i].input[0] in g.initializers
            and len(g.initializers[g.nodes[i].input[0]].dims) == 2
            for i in g.consumers.get(n, ())
        )
    ]
    lengths_candidates = [n for n in int_vectors if n not in speaker_inputs]
    if ids is None or scales is None or len(lengths_candidates) != 1 or len(speaker_inputs) > 1:
        found = ", ".join(f"{n} {_describe(vi)}" for n, vi in g.inputs.items()) or "no inputs"
        raise _refuse(model, f"inputs are {found}")
    lengths = lengths_candidates[0]
    return ids, lengths, scales, (speaker_inputs[0] if speaker_inputs else None)


def _speaker_only(g: _Graph, tensor: str, speaker: str | None) -> bool:
    """Whether ``tensor`` is computed from the speaker id alone (its embedding, reshaped)."""
    if speaker is None:
        return False
    if tensor == speaker:
        return True
    used = {t for i in g.ancestors([tensor]) for t in g.nodes[i].input if t in g.inputs}
    return used == {speaker}


def _describe(vi: Any) -> str:
    from onnx import TensorProto

    elem, dims = _input_kind(vi)
    return f"{TensorProto.DataType.Name(elem).lower()} {dims}"


def _find_cut_points(g: _Graph, model: Path) -> _Cuts:
    """Locate every cut from the structure of the graph.

    * w_ceil: the one ``Ceil`` whose output reaches a ``CumSum`` (the cumulative
      durations that build the alignment path, i.e. the duration expansion).
    * x_mask / logw / length_scale: the Ceil's input is a tree of ``Mul``s whose operands
      are ``Exp(logw)``, the id mask (a ``Cast`` of the bool sequence mask, [B,1,T]) and
      ``scales[k]`` (length_scale).
    * z_p: a random node downstream of the Ceil (the prior noise) reaches, through
      ``Mul``s only (``* exp(logs_p_expanded)``, ``* scales[k]`` = noise_scale), an ``Add``
      whose other operand is the expanded mean. That Add's output is z_p (it feeds the flow).
    * m_p / logs_p: the expanded mean is ``MatMul(path, m_p^T)`` and the noise scale is
      ``Exp(MatMul(path, logs_p^T))``; tracing the operand of each MatMul that does not
      depend on the Ceil back through transposes lands on the two outputs of one ``Split``
      (axis 1) of the text encoder's projection: output 0 = m_p, output 1 = logs_p.
    * dp noise: every random node upstream of the Ceil belongs to the stochastic duration
      predictor and becomes an input.
    * y_mask: the decoder (everything between z_p and the graph output) needs exactly one
      more tensor computed before it: the frame mask, [B,1,F].
    """
    ids, lengths, scales, speaker = _find_inputs(g, model)

    ceils = [i for i, n in enumerate(g.nodes) if n.op_type == "Ceil"]
    ceils = [
        i for i in ceils if any(g.nodes[j].op_type == "CumSum" for j in g.descendants([g.nodes[i].output[0]]))
    ]
    if len(ceils) != 1:
        raise _refuse(model, f"found {len(ceils)} Ceil nodes feeding a CumSum (the duration expansion), expected 1")
    ceil = g.nodes[ceils[0]]
    w_ceil = ceil.output[0]
    after_ceil = g.descendants([w_ceil])
    before_ceil = g.ancestors([w_ceil])

    # x_mask and length_scale: operands of the Mul tree under the Ceil.
    leaves = g.mul_leaves(ceil.input[0])
    exp_leaves = [t for t in leaves if (n := g.node_of(t)) is not None and n.op_type == "Exp"]
    scale_leaves = [t for t in leaves if g.scales_index(t, scales) is not None]
    mask_leaves = [t for t in leaves if t not in exp_leaves and t not in scale_leaves]
    if len(exp_leaves) != 1 or len(scale_leaves) != 1 or len(mask_leaves) != 1:
        raise _refuse(
            model,
            f"the Ceil's input is a product of {len(leaves)} terms, expected exp(logw) * x_mask * length_scale",
        )
    x_mask = mask_leaves[0]
    scale_index = {"length_scale": g.scales_index(scale_leaves[0], scales)}

    randoms = [i for i, n in enumerate(g.nodes) if n.op_type in _RANDOM_OPS]
    dp_random = [i for i in randoms if i in before_ceil]
    prior_random = [i for i in randoms if i in after_ceil]
    if len(dp_random) + len(prior_random) != len(randoms):
        raise _refuse(model, "a random node is neither in the duration predictor nor in the prior sampling")
    if len(prior_random) != 1:
        raise _refuse(
            model, f"found {len(prior_random)} random nodes after the duration expansion, expected 1 (eps of z_p)"
        )

    # z_p: from the prior noise, through Muls only, to an Add.
    tensor = g.nodes[prior_random[0]].output[0]
    add = None
    for _ in range(8):
        users = [g.nodes[i] for i in g.consumers.get(tensor, ())]
        if len(users) != 1:
            break
        if users[0].op_type == "Add":
            add = users[0]
            break
        if users[0].op_type != "Mul":
            break
        tensor = users[0].output[0]
    if add is None:
        raise _refuse(model, "the prior noise does not reach an Add through Mul nodes (z_p = m_p + noise*...)")
    z_p = add.output[0]
    noise_term = tensor
    mean_term = add.input[1] if add.input[0] == noise_term else add.input[0]
    noise_leaves = g.mul_leaves(noise_term)
    for leaf in noise_leaves:
        k = g.scales_index(leaf, scales)
        if k is not None:
            scale_index["noise_scale"] = k
    exp_nodes = [n for t in noise_leaves if (n := g.node_of(t)) is not None and n.op_type == "Exp"]
    if len(exp_nodes) != 1 or "noise_scale" not in scale_index:
        raise _refuse(model, "the z_p noise term is not noise * exp(logs_p) * noise_scale")

    def encoder_side(expanded: str, what: str) -> tuple[Any, int]:
        # expanded = [Transpose] MatMul(path, [Transpose] x): return (Split node, output index) of x.
        _, matmul = g.trace_origin(expanded)
        if matmul is None or matmul.op_type != "MatMul":
            raise _refuse(model, f"the expanded {what} is not a MatMul with the alignment path")
        operands = [t for t in matmul.input if g.producer.get(t) not in after_ceil]
        if len(operands) != 1:
            raise _refuse(model, f"cannot tell the alignment path from {what} in the expansion MatMul")
        origin, split = g.trace_origin(operands[0])
        if split is None or split.op_type != "Split" or len(split.output) != 2:
            raise _refuse(model, f"{what} does not come from a 2-way Split of the text encoder's projection")
        return split, list(split.output).index(origin)

    split_m, i_m = encoder_side(mean_term, "m_p")
    split_l, i_l = encoder_side(exp_nodes[0].input[0], "logs_p")
    if split_m is not split_l or (i_m, i_l) != (0, 1):
        raise _refuse(model, "m_p and logs_p are not outputs 0 and 1 of the same Split")

    # The audio: the graph output downstream of z_p (voices patched by piper-tts to also
    # output w_ceil as alignments have a second output, upstream of z_p).
    after_z_p = g.descendants([z_p])
    audio_outputs = [o.name for o in g.graph.output if g.producer.get(o.name) in after_z_p]
    if len(audio_outputs) != 1:
        raise _refuse(model, f"found {len(audio_outputs)} graph outputs computed from z_p, expected 1 (the audio)")
    audio = audio_outputs[0]
    last = g.node_of(audio)
    if last is not None and last.op_type == "Unsqueeze":  # [B,1,S] -> [B,1,1,S] in Piper's export
        audio = last.input[0]
    # The decoder's dependencies besides z_p: exactly one tensor, the frame mask.
    decoder_nodes = g.ancestors([audio], stop=[z_p]) & after_z_p
    frontier = {
        t
        for i in decoder_nodes
        for t in g.nodes[i].input
        if t and t not in g.initializers and (g.producer.get(t) not in decoder_nodes)
    }
    frontier.discard(z_p)
    frontier = {t for t in frontier if getattr(g.node_of(t), "op_type", None) != "Constant"}
    # a multi-speaker decoder is conditioned on the speaker: it takes the speaker id too
    frontier = {t for t in frontier if not _speaker_only(g, t, speaker)}
    if len(frontier) != 1 or next(iter(frontier)) in g.inputs:
        raise _refuse(
            model,
            f"the flow/decoder needs {sorted(frontier)} besides z_p, expected only the frame mask y_mask",
        )
    y_mask = next(iter(frontier))
    if g.producer.get(y_mask) not in after_ceil:
        raise _refuse(model, f"the flow/decoder's extra input {y_mask!r} is not a frame-level mask (after the Ceil)")

    for i in dp_random:  # the duration predictor's noise is multiplied by scales[k] = noise_w
        for j in g.consumers.get(g.nodes[i].output[0], ()):
            for t in g.nodes[j].input:
                k = g.scales_index(t, scales)
                if k is not None:
                    scale_index["noise_w"] = k
    # The encoder keeps Piper's `scales` input, so its layout must be Piper's.
    if scale_index != {"noise_scale": 0, "length_scale": 1, "noise_w": 2}:
        raise _refuse(model, f"scales are used as {scale_index}, expected noise_scale=0, length_scale=1, noise_w=2")

    return _Cuts(
        ids=ids,
        lengths=lengths,
        scales=scales,
        m_p=split_m.output[0],
        logs_p=split_m.output[1],
        x_mask=x_mask,
        w_ceil=w_ceil,
        z_p=z_p,
        y_mask=y_mask,
        audio=audio,
        dp_noise=[g.nodes[i] for i in dp_random],
        scale_index=scale_index,
        speaker=speaker,
    )


# --------------------------------------------------------------------------- building


def _load_config(model: Path, config: Path | None) -> dict[str, Any]:
    path = Path(config) if config is not None else model.with_name(model.name + ".json")
    if not path.is_file():
        where = "given" if config is not None else "expected beside the model (Piper's convention)"
        raise PiperImportError(
            f"{model}: Piper voice config {path} not found ({where}); it holds the sample rate, "
            "the phoneme_id_map and the inference defaults"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PiperImportError(f"{path}: not a Piper voice config (JSON): {exc}") from exc
    problems = []
    if not isinstance(data, dict):
        raise PiperImportError(f"{path}: not a Piper voice config: expected a JSON object, got {type(data).__name__}")
    rate = data.get("audio", {}).get("sample_rate") if isinstance(data.get("audio"), dict) else None
    if not isinstance(rate, int) or rate <= 0:
        problems.append(f"audio.sample_rate is {rate!r}, expected a positive integer")
    if not isinstance(data.get("phoneme_id_map"), dict) or not data["phoneme_id_map"]:
        problems.append("phoneme_id_map is missing or empty, expected symbol -> [ids]")
    if problems:
        raise PiperImportError(f"{path}: not a Piper voice config: " + "; ".join(problems))
    speakers = data.get("num_speakers", 1)
    if not isinstance(speakers, int) or isinstance(speakers, bool) or speakers < 1:
        raise PiperImportError(f"{path}: num_speakers is {speakers!r}, expected a positive integer")
    id_map = data.get("speaker_id_map") or {}
    if not isinstance(id_map, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and 0 <= v < speakers
            for k, v in id_map.items()):
        raise PiperImportError(f"{path}: speaker_id_map must map names to ids in [0, {speakers})")
    return data


def speaker_table(config: dict[str, Any]) -> dict[str, int]:
    """The voice's speakers by name -> id (Piper's speaker_id_map; ids alone where it has none)."""
    count = int(config.get("num_speakers", 1))
    named = dict(config.get("speaker_id_map") or {})
    table = {str(name): int(sid) for name, sid in sorted(named.items(), key=lambda kv: kv[1])}
    for sid in sorted(set(range(count)) - set(table.values())):
        table[str(sid)] = sid
    return table


def _load_model(model: Path) -> Any:
    import onnx

    if not model.is_file():
        raise PiperImportError(f"{model}: no such file; expected a Piper voice .onnx")
    try:
        proto = onnx.load(str(model))
    except Exception as exc:  # protobuf raises several unrelated types on garbage
        raise PiperImportError(f"{model}: not an ONNX model ({type(exc).__name__}: {exc}); {_NEEDS}") from exc
    if not len(proto.graph.node):
        raise PiperImportError(f"{model}: not an ONNX model (no graph nodes found); {_NEEDS}")
    return proto






def _const(name: str, values: list[int]) -> Any:
    from onnx import helper, numpy_helper

    value = numpy_helper.from_array(np.array(values, np.int64))
    return helper.make_node("Constant", [], [name], name=name, value=value)


def _fold_y_mask(model: Any, y_mask: str, z_p: str) -> None:
    """Make the decoder compute its frame mask as ones([1, 1, F]) with F from z_p's shape."""
    from onnx import TensorProto, helper

    pre = "voicestack_y_mask"
    nodes = [
        helper.make_node("Shape", [z_p], [f"{pre}/shape"], name=f"{pre}/Shape"),
        _const(f"{pre}/start", [2]),
        _const(f"{pre}/end", [3]),
        _const(f"{pre}/head", [1, 1]),
        helper.make_node(
            "Slice", [f"{pre}/shape", f"{pre}/start", f"{pre}/end"], [f"{pre}/frames"], name=f"{pre}/Slice"
        ),
        helper.make_node("Concat", [f"{pre}/head", f"{pre}/frames"], [f"{pre}/dims"], name=f"{pre}/Concat", axis=0),
        helper.make_node(
            "ConstantOfShape",
            [f"{pre}/dims"],
            [y_mask],
            name=f"{pre}/Ones",
            value=helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0]),
        ),
    ]
    graph = model.graph
    kept = [vi for vi in graph.input if vi.name != y_mask]
    del graph.input[:]
    graph.input.extend(kept)
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + existing)


def _session(model: Any) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise PiperImportError(
            "importing a Piper voice runs the split networks once to read their shapes; "
            "install onnxruntime (pip install 'voicestack[onnxruntime]')"
        ) from exc
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _symbolic(shapes: list[tuple[int, ...]], lengths: list[int], name: str) -> list[int | str]:
    """Dims that follow the probe length become `name`; the others must be constant."""
    dims: list[int | str] = []
    for axis in range(len(shapes[0])):
        sizes = [s[axis] for s in shapes]
        if sizes == lengths:
            dims.append(name)
        elif len(set(sizes)) == 1:
            dims.append(sizes[0])
        else:  # pragma: no cover - would mean an unexpected architecture
            raise PiperImportError(f"probe: dimension {axis} varies as {sizes} for lengths {lengths}")
    return dims


def _probe_encoder(proto: Any, cuts: _Cuts) -> tuple[int, list[list[int | str]]]:
    """Run the encoder part (random nodes still inside) on two lengths: channels, noise shapes."""
    likes = [n.input[0] if n.op_type.endswith("Like") else n.output[0] for n in cuts.dp_noise]
    speaker = [cuts.speaker] if cuts.speaker else []
    probe = _extract_with_speaker(proto, [cuts.ids, cuts.lengths, cuts.scales], [cuts.m_p, *likes], cuts.speaker)
    session = _session(probe)
    lengths = [5, 8]
    runs = []
    for t in lengths:
        feeds = {
            cuts.ids: np.ones((1, t), np.int64),
            cuts.lengths: np.array([t], np.int64),
            cuts.scales: np.array([0.0, 1.0, 0.0], np.float32),
            **{name: np.zeros(1, np.int64) for name in speaker if reads(probe, name)},
        }
        runs.append([o.shape for o in session.run(None, feeds)])
    m_p_dims = _symbolic([r[0] for r in runs], lengths, "T")
    if len(m_p_dims) != 3 or not isinstance(m_p_dims[1], int) or m_p_dims[2] != "T":
        raise PiperImportError(f"probe: m_p has shape {m_p_dims}, expected [1, C, T]")
    noise = [_symbolic([r[k + 1] for r in runs], lengths, "T") for k in range(len(likes))]
    for dims in noise:
        if dims and dims[0] == 1:
            continue
        raise PiperImportError(f"probe: duration-predictor noise has shape {dims}, expected batch first")
    return int(m_p_dims[1]), noise


def _extract_with_speaker(model: Any, inputs: list[str], outputs: list[str], speaker: str | None) -> Any:
    """Extract a part, taking the speaker id as an input only where the part uses it."""
    if speaker is not None:
        part = extract(model, [*inputs, speaker], outputs)
        if reads(part, speaker):
            return part
    return extract(model, inputs, outputs)


def _hop_length(decoder: Any, channels: int) -> int:
    session = _session(decoder)
    lengths = [3, 5]
    hops = set()
    speaker = {SPEAKER: np.zeros(1, np.int64)} if reads(decoder, SPEAKER) else {}
    for f in lengths:
        (audio,) = session.run(None, {"z_p": np.zeros((1, channels, f), np.float32), **speaker})
        if audio.ndim != 3 or audio.shape[:2] != (1, 1) or audio.shape[2] % f:
            raise PiperImportError(
                f"probe: decoder output shape {list(audio.shape)} for {f} frames, expected [1, 1, F*hop]"
            )
        hops.add(audio.shape[2] // f)
    if len(hops) != 1:  # pragma: no cover
        raise PiperImportError(f"probe: samples per frame vary: {sorted(hops)}")
    hop = hops.pop()
    strides = 1
    for node in decoder.graph.node:
        if node.op_type == "ConvTranspose":
            for attr in node.attribute:
                if attr.name == "strides":
                    strides *= int(np.prod(attr.ints))
    if strides != hop:
        raise PiperImportError(f"probe: {hop} samples per frame but the upsampling strides multiply to {strides}")
    return hop






def split_piper(model: Path, config: Path | None, out_dir: Path) -> PiperSplit:
    """Split a single-speaker Piper VITS voice into ``encoder.onnx`` and ``decoder.onnx``.

    ``config`` is the voice's ``.onnx.json`` (``None``: the file beside the model).
    Raises :class:`PiperImportError` for anything that is not a Piper VITS voice, with
    what was found; nothing is written unless both networks were built and probed.
    """
    import onnx

    model, out_dir = Path(model), Path(out_dir)
    proto = _load_model(model)
    g = _Graph(proto.graph)
    cuts = _find_cut_points(g, model)
    data = _load_config(model, config)
    cut_points = {
        "m_p": cuts.m_p,
        "logs_p": cuts.logs_p,
        "x_mask": cuts.x_mask,
        "w_ceil": cuts.w_ceil,
        "z_p": cuts.z_p,
        "y_mask": cuts.y_mask,
        "audio": cuts.audio,
        **{f"dp_noise[{k}]": n.output[0] for k, n in enumerate(cuts.dp_noise)},
    }
    # Cross-check against the names of Piper's own export. Informational only: another
    # exporter (or PyTorch version) may number nodes differently; the structure decides.
    disagree = {k: (cut_points[k], v) for k, v in _KNOWN_NAMES.items() if cut_points[k] != v}
    if disagree:
        _log.info("%s: cut points differ from Piper's usual tensor names: %s", model, disagree)

    channels, noise_dims = _probe_encoder(proto, cuts)
    noise_names = ["dp_noise"] if len(noise_dims) == 1 else [f"dp_noise_{k}" for k in range(len(noise_dims))]

    # Encoder: the random nodes of the duration predictor become inputs.
    enc_src = onnx.ModelProto()
    enc_src.CopyFrom(proto)
    random_outputs = {n.output[0] for n in cuts.dp_noise}
    kept_nodes = [n for n in enc_src.graph.node if not (n.op_type in _RANDOM_OPS and n.output[0] in random_outputs)]
    del enc_src.graph.node[:]
    enc_src.graph.node.extend(kept_nodes)
    for n in cuts.dp_noise:
        enc_src.graph.input.append(onnx.helper.make_tensor_value_info(n.output[0], onnx.TensorProto.FLOAT, None))
    encoder = _extract_with_speaker(
        enc_src,
        [cuts.ids, cuts.lengths, cuts.scales, *(n.output[0] for n in cuts.dp_noise)],
        [cuts.m_p, cuts.logs_p, cuts.x_mask, cuts.w_ceil],
        cuts.speaker,
    )
    del enc_src
    rename(
        encoder,
        {
            cuts.ids: "input",
            cuts.lengths: "input_lengths",
            cuts.scales: "scales",
            cuts.m_p: "m_p",
            cuts.logs_p: "logs_p",
            cuts.x_mask: "x_mask",
            cuts.w_ceil: "w_ceil",
            **{n.output[0]: name for n, name in zip(cuts.dp_noise, noise_names, strict=True)},
            **({cuts.speaker: SPEAKER} if cuts.speaker else {}),
        },
    )
    speaker_io = {SPEAKER: {"dtype": "int64", "shape": [1]}}
    encoder_io: dict[str, Any] = {
        "inputs": {
            "input": {"dtype": "int64", "shape": [1, "T"]},
            "input_lengths": {"dtype": "int64", "shape": [1]},
            "scales": {"dtype": "float32", "shape": [3]},
            **{name: {"dtype": "float32", "shape": dims} for name, dims in zip(noise_names, noise_dims, strict=True)},
            **(speaker_io if reads(encoder, SPEAKER) else {}),
        },
        "outputs": {
            "m_p": {"dtype": "float32", "shape": [1, channels, "T"]},
            "logs_p": {"dtype": "float32", "shape": [1, channels, "T"]},
            "x_mask": {"dtype": "float32", "shape": [1, 1, "T"]},
            "w_ceil": {"dtype": "float32", "shape": [1, 1, "T"]},
        },
    }
    declare(encoder, encoder_io)

    # Decoder: z_p (and the frame mask, folded to ones) -> audio.
    decoder = _extract_with_speaker(proto, [cuts.z_p, cuts.y_mask], [cuts.audio], cuts.speaker)
    rename(decoder, {cuts.z_p: "z_p", cuts.audio: "audio", **({cuts.speaker: SPEAKER} if cuts.speaker else {})})
    _fold_y_mask(decoder, cuts.y_mask, "z_p")
    decoder_io: dict[str, Any] = {
        "inputs": {"z_p": {"dtype": "float32", "shape": [1, channels, "F"]},
                   **(speaker_io if reads(decoder, SPEAKER) else {})},
        "outputs": {"audio": {"dtype": "float32", "shape": [1, 1, "S"]}},
    }
    declare(decoder, decoder_io)
    del proto, g

    for net in (encoder, decoder):
        net.producer_name, net.producer_version = "voicestack.importers.piper", "1"
        onnx.checker.check_model(net)
    hop = _hop_length(decoder, channels)

    out_dir.mkdir(parents=True, exist_ok=True)
    encoder_path, decoder_path = out_dir / ENCODER_FILE, out_dir / DECODER_FILE
    onnx_save(encoder, encoder_path)
    onnx_save(decoder, decoder_path)
    return PiperSplit(
        encoder_path=encoder_path,
        decoder_path=decoder_path,
        encoder_io=encoder_io,
        decoder_io=decoder_io,
        sample_rate=int(data["audio"]["sample_rate"]),
        hop_length=hop,
        num_speakers=int(data.get("num_speakers", 1)),
        config=data,
        cut_points=cut_points,
    )


# --------------------------------------------------------------------------- addon

IMPORTER_VERSION = 4
FLOW_FILE = "flow.onnx"
HIFIGAN_FILE = "hifigan.onnx"

# The schedule: small first windows for early audio, growing 4x per window (each
# window's compute stays far below the audio already produced, so playback never
# starves). The decoder runs as two windowed networks: the flow needs 32 frames of
# context per side (its receptive field: exact to float precision; 24 left seams at
# ~51 dB), HiFi-GAN only ~10 (12 kept for margin), so the expensive network pays little
# context. The flow's first window covers HiFi-GAN's first window plus its context, so
# the first audio needs one call of each.
FLOW_SCHEDULE = {"first_window": 24, "max_window": 1024, "growth": 8.0, "context": 32}
HIFIGAN_SCHEDULE = {"first_window": 8, "max_window": 1024, "growth": 8.0, "context": 12}


def piper_manifest(split: PiperSplit, name: str, source: str = "",
                   speaker_nets: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The addon manifest for a split Piper voice: Encoders -> Upsampler -> Decoder.

    ``speaker_nets``: the decoder networks (``flow``, ``hifigan``) that read the speaker
    id of a multi-speaker voice; the encoder's own inputs say whether it does."""
    cfg = split.config
    phoneme_type = cfg.get("phoneme_type", "espeak")
    if phoneme_type != "espeak":
        raise PiperImportError(f"phoneme_type {phoneme_type!r} is not supported yet; voicestack reads espeak voices")
    espeak_voice = (cfg.get("espeak") or {}).get("voice")
    if not espeak_voice:
        raise PiperImportError("the voice config has no espeak.voice")
    inference = cfg.get("inference", {})
    encoder_inputs = dict(split.encoder_io["inputs"])
    encoder_inputs["scales"] = {**encoder_inputs["scales"], "feed": {"params": ["noise_scale", "length_scale", "noise_w"]}}
    for key, decl in list(encoder_inputs.items()):
        if key.startswith("dp_noise"):
            encoder_inputs[key] = {**decl, "feed": {"noise": "normal"}}
    sid = {SPEAKER: {"dtype": "int64", "shape": [1], "feed": {"speaker_id": True}}}
    if SPEAKER in encoder_inputs:
        encoder_inputs.update(sid)
    frames = {"z_p": split.decoder_io["inputs"]["z_p"]}
    speakers: dict[str, Any] = {}
    if split.num_speakers > 1:
        table = speaker_table(cfg)
        speakers = {"speakers": {k: {"id": v} for k, v in table.items()}, "default_speaker": next(iter(table))}
    language = (cfg.get("language") or {}).get("code") or espeak_voice
    return {
        "format_version": 1,
        "name": name,
        "version": str(cfg.get("piper_version", "1.0.0")),
        "language": str(language).replace("_", "-").lower(),
        "sample_rate": split.sample_rate,
        "architecture": "vits (piper)",
        "description": f"Piper VITS voice split into encoder and decoder by voicestack{': ' + source if source else ''}",
        "frontend": {"type": "espeak", "voice": espeak_voice, "phoneme_id_map": cfg["phoneme_id_map"]},
        "inference": {
            "noise_scale": float(inference.get("noise_scale", 0.667)),
            "length_scale": float(inference.get("length_scale", 1.0)),
            "noise_w": float(inference.get("noise_w", 0.8)),
        },
        "networks": {
            "encoder": {"file": ENCODER_FILE, "format": "onnx", "role": "encoder",
                        "inputs": encoder_inputs, "outputs": split.encoder_io["outputs"]},
            "flow": {"file": FLOW_FILE, "format": "onnx", "role": "decoder",
                     "inputs": {**frames, **(sid if "flow" in speaker_nets else {})},
                     "outputs": {"z": frames["z_p"]}},
            "hifigan": {"file": HIFIGAN_FILE, "format": "onnx", "role": "vocoder", "time_ratio": split.hop_length,
                        "inputs": {"z": frames["z_p"], **(sid if "hifigan" in speaker_nets else {})},
                        "outputs": split.decoder_io["outputs"]},
        },
        **speakers,
        "stack": [{
            "type": "StreamablePipeline",
            "sequence_block": {"type": "Encoders"},
            "streamable_block": {"type": "StreamableStack", "stack": [
                {"type": "Upsampler", "durations": "w_ceil", "mean": "m_p", "log_scale": "logs_p", "output": "z_p"},
                {"type": "Decoder", "network": "flow", **FLOW_SCHEDULE},
                {"type": "Decoder", "network": "hifigan", **HIFIGAN_SCHEDULE},
            ]},
        }],
    }


def import_piper(model: Path, config: Path | None, out_dir: Path, name: str | None = None) -> Path:
    """Make a streaming addon from a Piper voice. The directory appears complete or not at all."""
    import shutil
    import tempfile

    from voicestack.addon import read_manifest, write_manifest
    from voicestack.importers.vits import split_vits_decoder

    model, out_dir = Path(model), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise PiperImportError(f"output directory {out_dir} exists and is not empty")
    name = name or model.name.removesuffix(".onnx")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        split = split_piper(model, config, tmp)
        channels = int(split.decoder_io["inputs"]["z_p"]["shape"][1])
        parts = split_vits_decoder(split.decoder_path, tmp, channels)  # flow.onnx + hifigan.onnx
        split.decoder_path.unlink()
        speaker_nets = frozenset(n for n, path in zip(("flow", "hifigan"), parts, strict=True)
                                 if SPEAKER in graph_io(path)[0])
        write_manifest(tmp, piper_manifest(split, name, model.name, speaker_nets))
        read_manifest(tmp)  # the result must validate before it appears
        tmp.chmod(0o755)
        if out_dir.exists():
            out_dir.rmdir()
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
