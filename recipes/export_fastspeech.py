#!/usr/bin/env python
"""Export a joe-mel checkpoint (recipes/train_fastspeech.py) as a voicestack addon.

Two ONNX networks with the framework's duration-model contracts:

* ``encoder.onnx``: ``input`` int64 [1, T], ``input_lengths`` int64 [1], ``scales`` float32 [3]
  (fed with noise_scale, length_scale, noise_w; only length_scale is used) ->
  ``h`` float32 [1, C, T] and ``w_ceil`` float32 [1, 1, T]: frames per id,
  round(exp(log d) * length_scale) clamped to >= 1, 0 past ``input_lengths``.
* ``mel_decoder.onnx``: ``h_frames`` float32 [1, C, F] -> ``mel`` float32 [1, 80, F]
  (receptive field +-28 frames; the stack's Decoder uses context 32).

Both are checked with onnxruntime against PyTorch before the addon is written; the
addon is written atomically and must validate (``read_manifest``).

    python recipes/export_fastspeech.py --ckpt data/fastspeech/ckpt.pt \
        --out src/voicestack/addons_data/joe-mel --vocoder joe-vocoder
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_fastspeech import RECEPTIVE_HALF, FastSpeech, param_count

MEL_META = Path("data/mel/meta.json")
DECODER_SCHEDULE = {"first_window": 16, "max_window": 512, "growth": 4.0, "context": 32}


class EncoderGraph(nn.Module):
    def __init__(self, model: FastSpeech, calibration: float = 1.0) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("calibration", torch.tensor(calibration))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor, scales: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, logd, mask = self.model.encode(ids, lengths)
        w = torch.clamp(torch.round(torch.exp(logd) * self.calibration * scales[1]), min=1.0) * mask
        return h * mask, w


class DecoderGraph(nn.Module):
    def __init__(self, model: FastSpeech) -> None:
        super().__init__()
        self.decoder = model.decoder

    def forward(self, h_frames: torch.Tensor) -> torch.Tensor:
        return self.decoder(h_frames)


@torch.no_grad()
def duration_calibration(model: FastSpeech, data: Path, limit: int = 200) -> tuple[float, float]:
    """The factor c making sum(max(1, round(c * exp(log d)))) equal joe's total frames on the
    validation utterances (TRAIN lines with line % 50 == 1, held out from training).

    Regressing log d predicts a geometric mean, which sits below the arithmetic mean, and
    rounding short durations loses more; one scalar fixes the speaking rate. Returns
    (c, length error before calibration)."""
    import glob

    from train_fastspeech import read_shard

    model.eval()
    preds, totals = [], 0
    for path in sorted(glob.glob(str(data / "train" / "shard-*.npz"))):
        try:
            utts = read_shard(path)
        except (OSError, ValueError, KeyError, EOFError):
            continue  # being written or rewritten by the data recipe
        for u in utts:
            if u["line"] % 50 != 1:
                continue
            ids = torch.from_numpy(u["ids"])[None]
            _, logd, _ = model.encode(ids, torch.tensor([ids.shape[1]]))
            preds.append(torch.exp(logd[0, 0]))
            totals += int(u["dur"].sum())
        if len(preds) >= limit:
            break
    d = torch.cat(preds)

    def frames(c: float) -> float:
        return float(torch.clamp(torch.round(d * c), min=1).sum())

    lo, hi = 0.5, 2.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if frames(mid) < totals else (lo, mid)
    return (lo + hi) / 2, frames(1.0) / totals - 1.0


def export(model: FastSpeech, out: Path, calibration: float = 1.0) -> dict[str, float]:
    """Write encoder.onnx and mel_decoder.onnx into ``out``; return max errors vs PyTorch."""
    import onnxruntime as ort

    model.eval()
    enc, dec = EncoderGraph(model, calibration).eval(), DecoderGraph(model).eval()
    ids = torch.randint(1, 150, (1, 37))
    lengths = torch.tensor([37])
    scales = torch.tensor([0.667, 1.0, 0.8])
    torch.onnx.export(enc, (ids, lengths, scales), str(out / "encoder.onnx"), dynamo=False, opset_version=17,
                      input_names=["input", "input_lengths", "scales"], output_names=["h", "w_ceil"],
                      dynamic_axes={"input": {1: "T"}, "h": {2: "T"}, "w_ceil": {2: "T"}})
    frames = torch.randn(1, model.channels, 90)
    torch.onnx.export(dec, (frames,), str(out / "mel_decoder.onnx"), dynamo=False, opset_version=17,
                      input_names=["h_frames"], output_names=["mel"],
                      dynamic_axes={"h_frames": {2: "F"}, "mel": {2: "F"}})
    errors = {}
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    se = ort.InferenceSession(str(out / "encoder.onnx"), so, providers=["CPUExecutionProvider"])
    sd = ort.InferenceSession(str(out / "mel_decoder.onnx"), so, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        for t, ls in ((5, 1.0), (80, 1.0), (211, 1.3)):
            x = torch.randint(1, 150, (1, t))
            sc = torch.tensor([0.667, ls, 0.8])
            h_t, w_t = enc(x, torch.tensor([t]), sc)
            h_o, w_o = se.run(None, {"input": x.numpy(), "input_lengths": np.array([t]), "scales": sc.numpy()})
            errors[f"encoder h T={t}"] = float(np.abs(h_o - h_t.numpy()).max())
            errors[f"encoder w_ceil T={t} (frames differing)"] = float((w_o != w_t.numpy()).sum())
            hf = torch.repeat_interleave(h_t, w_t[0, 0].long(), dim=2)
            m_t = dec(hf)
            (m_o,) = sd.run(None, {"h_frames": hf.numpy()})
            errors[f"decoder mel F={hf.shape[2]}"] = float(np.abs(m_o - m_t.numpy()).max())
            # the export path's written-out attention == nn.MultiheadAttention (the batched training path)
            h_b, _, _ = model.encode(torch.cat([x, torch.zeros_like(x)], dim=1).expand(2, -1).contiguous(),
                                     torch.tensor([t, t]))
            errors[f"export attention vs nn.MultiheadAttention T={t}"] = float((h_b[:1, :, :t] - h_t).abs().max())
    return errors


def manifest(channels: int, vocoder: str, frontend: dict, mel: dict, inference: dict, meta: dict) -> dict:
    def vocoder_block(name: str) -> dict:
        return {"type": "Vocoder", "addon": name}

    def stack(voc: dict) -> list:
        return [{"type": "StreamablePipeline",
                 "sequence_block": {"type": "Encoders"},
                 "streamable_block": {"type": "StreamableStack", "stack": [
                     {"type": "Upsampler", "durations": "w_ceil", "mean": "h", "log_scale": None, "output": "h_frames"},
                     {"type": "Decoder", "name": "mel_decoder", "network": "mel_decoder", "output": "mel",
                      **DECODER_SCHEDULE},  # own name: window-schedule state is kept per block name,
                     voc,
                 ]}}]

    stacks = {"griffin-lim": stack(vocoder_block("griffin-lim"))}  # always there: needs no other addon
    return {
        "format_version": 1,
        "name": "joe-mel",
        "version": "0.1.0",
        "language": "en-us",
        "sample_rate": int(mel["sample_rate"]),
        "architecture": "fastspeech (duration-based mel model)",
        "description": (f"A small FastSpeech-style mel model trained by voicestack on joe's phonemes, durations and "
                        f"mels (recipes/train_fastspeech.py, {meta['params']:,} parameters, {meta['steps']} steps, "
                        f"duration calibration {meta['calibration']:.4f}); "
                        f"decoder receptive field +-{RECEPTIVE_HALF} frames"),
        "license": "Apache-2.0 (voicestack); trained on the output of en_US-joe-medium (CC0)",
        "frontend": frontend,
        "inference": inference,
        "mel": mel,
        "networks": {
            "encoder": {"file": "encoder.onnx", "format": "onnx", "role": "encoder",
                        "inputs": {"input": {"dtype": "int64", "shape": [1, "T"]},
                                   "input_lengths": {"dtype": "int64", "shape": [1]},
                                   "scales": {"dtype": "float32", "shape": [3],
                                              "feed": {"params": ["noise_scale", "length_scale", "noise_w"]}}},
                        "outputs": {"h": {"dtype": "float32", "shape": [1, channels, "T"]},
                                    "w_ceil": {"dtype": "float32", "shape": [1, 1, "T"]}}},
            "mel_decoder": {"file": "mel_decoder.onnx", "format": "onnx", "role": "decoder",
                            "inputs": {"h_frames": {"dtype": "float32", "shape": [1, channels, "F"]}},
                            "outputs": {"mel": {"dtype": "float32", "shape": [1, 80, "F"]}}},
        },
        "stack": stack(vocoder_block(vocoder)),
        "stacks": stacks,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ckpt", type=Path, default=Path("data/fastspeech/ckpt.pt"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--vocoder", default="joe-vocoder", help="default stack's vocoder addon, or griffin-lim")
    ap.add_argument("--mel-meta", type=Path, default=MEL_META)
    ap.add_argument("--force", action="store_true", help="replace an existing addon directory")
    args = ap.parse_args(argv)

    from voicestack.addon import read_manifest, write_manifest
    from voicestack.catalog import builtin_dir

    torch.set_num_threads(1)
    state = torch.load(args.ckpt, weights_only=False)
    model = FastSpeech()
    model.load_state_dict(state["model"])
    meta = {"params": param_count(model), "steps": state["step"]}
    joe = json.loads((builtin_dir("joe") / "addon.json").read_text())
    mel_meta = json.loads(args.mel_meta.read_text())
    out = args.out
    if out.exists() and any(out.iterdir()) and not args.force:
        raise SystemExit(f"{out} exists and is not empty (use --force to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        calibration, before = duration_calibration(model, args.mel_meta.parent)
        meta["calibration"] = calibration
        print(f"duration calibration {calibration:.4f} (utterance length error before it: {100 * before:+.1f}%)")
        errors = export(model, tmp, calibration)
        for k, v in errors.items():
            print(f"onnxruntime vs pytorch: {k}: max abs diff {v:.2e}")
        bad = {k: v for k, v in errors.items() if v > (0 if "differing" in k else 1e-3)}
        if bad:
            raise SystemExit(f"ONNX does not match PyTorch: {bad}")
        write_manifest(tmp, manifest(model.channels, args.vocoder, joe["frontend"], mel_meta["mel"],
                                     mel_meta.get("inference", joe["inference"]), meta))
        read_manifest(tmp)
        tmp.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sizes = {p.name: p.stat().st_size for p in out.iterdir()}
    print(f"wrote {out}: {meta['params']:,} parameters, step {meta['steps']}, files {sizes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
