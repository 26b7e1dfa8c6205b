"""The graph side of the Piper importer: an index over one ONNX graph and the cut points
found in it from its structure (ops and topology), never its node names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy.typing as npt

from voicestack.errors import VoicestackError
from voicestack.onnxtools import GraphIndex

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


# --------------------------------------------------------------------------- graph index


class _Graph(GraphIndex):
    """The graph index, with the tracing the Piper cut points need."""

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
