"""Split a Piper VITS graph into ``encoder.onnx`` and ``decoder.onnx`` at the cut points
:mod:`voicestack.importers.piper_graph` finds, and probe the parts (see
:mod:`voicestack.importers.piper` for the contracts).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voicestack.importers.piper_graph import (
    _KNOWN_NAMES,
    _NEEDS,
    _RANDOM_OPS,
    PiperImportError,
    _Cuts,
    _find_cut_points,
    _Graph,
)
from voicestack.importers.vits import SPEAKER
from voicestack.onnxtools import declare, extract, reads, rename
from voicestack.onnxtools import save as onnx_save

_log = logging.getLogger("voicestack.importers.piper")

ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"


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
