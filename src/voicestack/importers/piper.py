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

from pathlib import Path
from typing import Any

from voicestack.importers.piper_graph import PiperImportError
from voicestack.importers.piper_split import ENCODER_FILE, PiperSplit, reference_upsample, speaker_table, split_piper
from voicestack.importers.vits import SPEAKER
from voicestack.onnxtools import graph_io

__all__ = ["PiperImportError", "PiperSplit", "import_piper", "piper_manifest", "reference_upsample", "split_piper"]


# --------------------------------------------------------------------------- addon

IMPORTER_VERSION = 5
FLOW_FILE = "flow.onnx"
HIFIGAN_FILE = "hifigan.onnx"

# The schedule: small first windows for early audio, growing 4x per window (each
# window's compute stays far below the audio already produced, so playback never
# starves). The decoder runs as two windowed networks: the flow needs 32 frames of
# context per side (its receptive field: exact to float precision; 24 left seams at
# ~51 dB), HiFi-GAN only ~10 (12 kept for margin), so the expensive network pays little
# context. The flow's first window covers HiFi-GAN's first window plus its context, so
# the first audio needs one call of each. ``tail``: a window takes the rest of the piece
# when that is at most 4x its size plus the context, so a short sentence is decoded in two
# calls of each network (the first audio, then the rest) instead of three or four whose
# last is mostly context (docs/performance.md has the measured figures).
FLOW_SCHEDULE = {"first_window": 24, "max_window": 1024, "growth": 8.0, "context": 32, "tail": 3.0}
HIFIGAN_SCHEDULE = {"first_window": 8, "max_window": 1024, "growth": 8.0, "context": 12, "tail": 3.0}


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
