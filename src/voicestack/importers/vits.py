"""VITS decoders: the flow (z_p -> z) and HiFi-GAN (z -> audio) inside one graph.

joe's one-piece decoder is the VITS flow run in reverse followed by HiFi-GAN::

    z_p [1, C, F] --flow^-1--> z [1, C, F] --HiFi-GAN--> audio [1, 1, 256 F]

:func:`split_vits_decoder` finds ``z`` from the graph's structure: the generator's
first upsampling layer is the first ``ConvTranspose``; walking back from it through
pointwise activations reaches ``conv_pre``, a ``Conv`` with constant 3-D weights; its
data input is ``z`` (already multiplied by the frame mask, which the importer folded to
ones). Node names are never consulted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voicestack.errors import VoicestackError
from voicestack.onnxtools import declare, extract, reads, rename
from voicestack.onnxtools import save as onnx_save

SPLIT_VERSION = 1
_POINTWISE = ("LeakyRelu", "Relu", "Identity", "Cast", "Mul", "Add")


class VocoderBuildError(VoicestackError, ValueError):
    """The decoder could not be split (not a VITS flow + HiFi-GAN graph)."""


def find_hifigan_input(model: Any) -> str:
    """The tensor entering HiFi-GAN's ``conv_pre`` in a VITS decoder graph."""
    from onnx import numpy_helper

    nodes = list(model.graph.node)
    producer = {o: n for n in nodes for o in n.output if o}
    inits = {t.name: t for t in model.graph.initializer}
    first_up = next((n for n in nodes if n.op_type == "ConvTranspose"), None)
    if first_up is None:
        raise VocoderBuildError("no ConvTranspose in the decoder: not a HiFi-GAN generator")
    tensor = first_up.input[0]
    node = producer.get(tensor)
    while node is not None and node.op_type in _POINTWISE:
        tensor = node.input[0]
        node = producer.get(tensor)
    if node is None or node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in inits:
        raise VocoderBuildError("the first upsampling layer is not fed by a Conv with constant weights (conv_pre)")
    weight = numpy_helper.to_array(inits[node.input[1]])
    if weight.ndim != 3:
        raise VocoderBuildError(f"conv_pre weight has shape {list(weight.shape)}, expected [out, in, kernel]")
    return str(node.input[0])


SPEAKER = "speaker"  # the speaker id input of a multi-speaker voice's networks (int64 [1])


def _extract(model: Any, inputs: list[str], outputs: list[str]) -> Any:
    """Extract a part; an input it does not read (the speaker id) is left out."""
    part = extract(model, inputs, outputs)
    unused = [n for n in inputs if not reads(part, n)]
    return extract(model, [n for n in inputs if n not in unused], outputs) if unused else part


def split_vits_decoder(decoder: Path, out_dir: Path, channels: int = 192) -> tuple[Path, Path]:
    """Write ``flow.onnx`` (z_p -> z) and ``hifigan.onnx`` (z -> audio); return their paths."""
    import onnx

    model = onnx.load(str(decoder))
    z_name = find_hifigan_input(model)
    (audio_name,) = [o.name for o in model.graph.output]
    # a multi-speaker decoder also takes the speaker id; each part keeps it where it reads it
    speaker = [i.name for i in model.graph.input if i.name == SPEAKER]
    (zp_name,) = [i.name for i in model.graph.input if i.name != SPEAKER]
    sid = {SPEAKER: {"dtype": "int64", "shape": [1]}}
    hifigan = _extract(model, [z_name, *speaker], [audio_name])
    rename(hifigan, {z_name: "z"})
    declare(hifigan, {"inputs": {"z": {"dtype": "float32", "shape": [1, channels, "F"]},
                                 **(sid if reads(hifigan, SPEAKER) else {})},
                       "outputs": {audio_name: {"dtype": "float32", "shape": [1, 1, "S"]}}})
    flow = _extract(model, [zp_name, *speaker], [z_name])
    rename(flow, {z_name: "z"})
    declare(flow, {"inputs": {zp_name: {"dtype": "float32", "shape": [1, channels, "F"]},
                              **(sid if reads(flow, SPEAKER) else {})},
                    "outputs": {"z": {"dtype": "float32", "shape": [1, channels, "F"]}}})
    for net in (flow, hifigan):
        net.producer_name, net.producer_version = "voicestack.importers.vits", str(SPLIT_VERSION)
        onnx.checker.check_model(net)
    leftovers = [n.op_type for n in hifigan.graph.node if n.op_type in ("RandomNormalLike", "RandomNormal")]
    if leftovers:
        raise VocoderBuildError(f"HiFi-GAN part holds random nodes {leftovers}")
    out_dir.mkdir(parents=True, exist_ok=True)
    flow_path, hifigan_path = out_dir / "flow.onnx", out_dir / "hifigan.onnx"
    onnx_save(flow, flow_path)
    onnx_save(hifigan, hifigan_path)
    return flow_path, hifigan_path


