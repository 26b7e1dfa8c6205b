#!/usr/bin/env python
"""Score the shipped joe-mel networks on held-out TEST lines against joe, and plot training.

For every utterance of the test shards (``recipes/make_mel_data.py --split test``; line
index % 20 == 0, never trained on) it runs the addon's ``encoder.onnx`` and
``mel_decoder.onnx`` with onnxruntime and prints:

* mel L1 (mean |ln-mel difference| per bin) against joe's mel, decoding with joe's own
  durations (teacher-forced: frames line up), and the same for a trivial baseline that
  predicts every utterance's mean mel frame;
* the duration predictor's errors: mean |frames| per phoneme, mean |log d| error,
  and the relative error of the utterance length (sum of predicted vs joe's frames).

With ``--log`` it also draws the loss curves of ``recipes/train_fastspeech.py`` as SVG.

    python recipes/eval_fastspeech.py --addon src/voicestack/addons_data/joe-mel \
        --test data/fastspeech/joe-test/test --log data/fastspeech/log.jsonl --svg docs/figures/joe-mel-loss.svg
"""

from __future__ import annotations

import argparse
import glob
import json
from pathlib import Path

import numpy as np


def test_utterances(pattern: str) -> list[dict[str, np.ndarray]]:
    out = []
    for path in sorted(glob.glob(pattern)):
        with np.load(path, allow_pickle=False) as d:
            io = np.concatenate([[0], np.cumsum(d["ids_len"])])
            fo = np.concatenate([[0], np.cumsum(d["frames_len"])])
            for n, line in enumerate(d["line"]):
                assert int(line) % 20 == 0, f"{path}: line {line} is not a TEST line"
                out.append({"line": int(line), "ids": d["ids"][io[n]:io[n + 1]].astype(np.int64),
                            "dur": d["durations"][io[n]:io[n + 1]].astype(np.int64),
                            "mel": d["mel"][:, fo[n]:fo[n + 1]]})
    return out


def score(addon: Path, utts: list[dict[str, np.ndarray]]) -> dict[str, float]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    enc = ort.InferenceSession(str(addon / "encoder.onnx"), so, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(addon / "mel_decoder.onnx"), so, providers=["CPUExecutionProvider"])
    l1 = base = 0.0
    frames = ids_n = 0
    dur_abs = logd_abs = len_err = 0.0
    for u in utts:
        x = u["ids"][None]
        h, w = enc.run(None, {"input": x, "input_lengths": np.array([x.shape[1]]),
                              "scales": np.array([0.667, 1.0, 0.8], np.float32)})
        (mel,) = dec.run(None, {"h_frames": np.repeat(h, u["dur"], axis=2)})
        ref = u["mel"]
        l1 += float(np.abs(mel[0] - ref).mean(axis=0).sum())
        base += float(np.abs(ref.mean(axis=1, keepdims=True) - ref).mean(axis=0).sum())
        frames += ref.shape[1]
        pred = w[0, 0]
        dur_abs += float(np.abs(pred - u["dur"]).sum())
        logd_abs += float(np.abs(np.log(pred) - np.log(u["dur"])).sum())
        ids_n += len(pred)
        len_err += abs(float(pred.sum()) / float(u["dur"].sum()) - 1.0)
    return {"utterances": len(utts), "frames": frames, "mel_l1": l1 / frames, "mel_l1_mean_frame_baseline": base / frames,
            "dur_abs_frames": dur_abs / ids_n, "logdur_abs": logd_abs / ids_n, "length_rel_err": len_err / len(utts)}


def snapshot_curve(pattern: str, utts: list[dict[str, np.ndarray]]) -> list[tuple[int, float]]:
    """Held-out mel L1 (joe's durations) of each saved checkpoint, in PyTorch (== the ONNX graphs)."""
    import sys

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_fastspeech import FastSpeech

    torch.set_num_threads(1)
    points = []
    for path in sorted(glob.glob(pattern)):
        state = torch.load(path, weights_only=False)
        model = FastSpeech()
        model.load_state_dict(state["model"])
        model.eval()
        l1, frames = 0.0, 0
        with torch.no_grad():
            for u in utts:
                ids = torch.from_numpy(u["ids"])[None]
                h, _, _ = model.encode(ids, torch.tensor([ids.shape[1]]))
                mel = model.decoder(torch.repeat_interleave(h, torch.from_numpy(u["dur"]), dim=2))[0].numpy()
                l1 += float(np.abs(mel - u["mel"]).mean(axis=0).sum())
                frames += mel.shape[1]
        points.append((int(state["step"]), l1 / frames))
        print(f"{Path(path).name}: step {state['step']}: test mel L1 {l1 / frames:.4f}", flush=True)
    return sorted(set(points))


def read_log(log: Path) -> list[dict]:
    """The log's records; after a resume, records past the checkpoint it resumed from are dropped."""
    recs: list[dict] = []
    for line in log.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            while recs and recs[-1]["step"] >= r["step"] and not r.get("final"):
                recs.pop()
            recs.append(r)
    return recs


def svg_curves(log: Path, out: Path, test_curve: list[tuple[int, float]] | None = None) -> None:
    """Train (running mean per report), validation and held-out test mel L1 / duration loss against step."""
    recs = read_log(log)
    series = {
        "train mel L1": [(r["step"], r["train_mel_l1"]) for r in recs if "train_mel_l1" in r],
        "val mel L1": [(r["step"], r["val_mel_l1"]) for r in recs if "val_mel_l1" in r],
        "train dur loss": [(r["step"], r["train_dur_loss"]) for r in recs if "train_dur_loss" in r],
        "val dur loss": [(r["step"], r["val_dur_loss"]) for r in recs if "val_dur_loss" in r],
        "test mel L1 (held-out)": test_curve or [],
    }
    colors = {"test mel L1 (held-out)": "#2ca02c", "train mel L1": "#1f77b4", "val mel L1": "#d62728", "train dur loss": "#7fb3e0", "val dur loss": "#f39c9c"}
    w, h, pad = 640, 360, 50
    xmax = max(s for pts in series.values() for s, _ in pts)
    ymax = 2.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<text x="{w / 2}" y="16" text-anchor="middle" font-size="13">joe-mel training (recipes/train_fastspeech.py)</text>']

    def px(s: float, v: float) -> tuple[float, float]:
        return pad + (w - 2 * pad) * s / xmax, h - pad - (h - 2 * pad) * min(v, ymax) / ymax

    for i in range(5):
        v = ymax * i / 4
        _, y = px(0, v)
        parts.append(f'<line x1="{pad}" y1="{y:.1f}" x2="{w - pad}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{pad - 5}" y="{y + 4:.1f}" text-anchor="end">{v:.1f}</text>')
    for i in range(5):
        s = xmax * i / 4
        x, _ = px(s, 0)
        parts.append(f'<text x="{x:.1f}" y="{h - pad + 15}" text-anchor="middle">{int(s)}</text>')
    parts.append(f'<text x="{w / 2}" y="{h - 10}" text-anchor="middle">step (batch 16)</text>')
    for k, (name, pts) in enumerate(series.items()):
        if not pts:
            continue
        path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(px(s, v) for s, v in pts))
        parts.append(f'<path d="{path}" fill="none" stroke="{colors[name]}" stroke-width="1.5"/>')
        parts.append(f'<text x="{w - pad - 170}" y="{pad + 14 * k}" fill="{colors[name]}">{name}: {pts[-1][1]:.3f}</text>')
    parts.append("</svg>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--addon", type=Path, required=True)
    ap.add_argument("--test", type=Path, default=Path("data/fastspeech/joe-test/test"))
    ap.add_argument("--log", type=Path, default=None)
    ap.add_argument("--svg", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--snapshots", default=None, help="glob of saved checkpoints: held-out mel L1 per step")
    args = ap.parse_args(argv)
    utts = test_utterances(str(args.test / "shard-*.npz"))
    if not utts:
        raise SystemExit(f"no test shards in {args.test}")
    result = score(args.addon, utts)
    for k, v in result.items():
        print(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.log and args.svg:
        curve = snapshot_curve(args.snapshots, utts) if args.snapshots else None
        svg_curves(args.log, args.svg, curve)
        print(f"wrote {args.svg}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
