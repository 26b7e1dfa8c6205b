#!/usr/bin/env python
"""Train joe-mel: a small duration-based mel acoustic model (FastSpeech-style) on joe's data.

Data: the shards of ``recipes/make_mel_data.py`` (``DATA/train/shard-*.npz``): phoneme ids,
joe's exact durations (his ``w_ceil``, frames per id, all >= 1) and the log-mel of his
audio. No aligner: durations are regression targets, and the decoder is trained with the
true durations (teacher forcing).

Model (``FastSpeech`` below, about 1.7 M parameters)::

    ids -> embedding (C=128) + sinusoidal positions
        -> encoder: 3 FFT blocks (2-head self-attention + conv FFN k=3, 256 hidden)   -> h [C, T]
        -> duration predictor: 2 x (conv k=3, ReLU, LayerNorm) -> linear -> log d     [1, T]
    h repeated d times (the framework's Upsampler)                                    -> [C, F]
        -> mel decoder: 1x1 in (192) + 6 ConvNeXt-style blocks (depthwise conv k=5,
           dilations 1,2,4,1,2,4, channel LayerNorm, 1x1 192->384->192) + 1x1 out     -> mel [80, F]

The decoder is strictly local (no attention, no normalisation across time): its receptive
field is 1 + 4*(1+2+4+1+2+4) = 57 frames, i.e. 28 frames each side, so a windowed
``Decoder`` with ``context >= 28`` streams it exactly. It is trained on random crops of
``--crop`` frames plus 28 frames of real context on each side (loss on the crop only),
with the residual stream masked to zero outside the utterance — exactly what zero
padding gives at the edges of a whole utterance.

Validation: utterances of TRAIN lines with ``line % 50 == 1`` are held out from training.
TEST lines (``line % 20 == 0``) are not in the train shards at all (and are refused).

Budget: ``--minutes`` of wall time (default 60) on ``--threads`` (default 1), counted
across restarts; the learning rate warms up over ``--warmup`` steps, then follows a cosine
over the wall-time budget down to 5% of ``--lr`` (AdamW, batch 16, gradient clip 1). Resumable: the state is saved to ``WORK/ckpt.pt`` every few minutes
(atomically); rerunning the same command continues. New shards written by the data
recipe while training runs are picked up every ``--reload`` steps. Progress and losses go
to ``WORK/log.jsonl`` (one JSON object per report) and stdout.

    nice -n 5 python recipes/train_fastspeech.py --data data/mel --work data/fastspeech --minutes 60
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

N_VOCAB = 256  # joe's ids are 0..150; room to spare
N_MELS = 80
MEL_MEAN, MEL_STD = -6.0, 2.6  # ln-mel statistics of joe's data (output de-normalisation)
DEC_DILATIONS = (1, 2, 4, 1, 2, 4)
DEC_KERNEL = 5
RECEPTIVE_HALF = (DEC_KERNEL - 1) // 2 * sum(DEC_DILATIONS)  # 28 frames each side


# ----------------------------------------------------------------------------- model


class ChannelNorm(nn.Module):
    """LayerNorm over channels of a [B, C, T] tensor (per frame: streams exactly)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


def positions(t: int, channels: int, device: torch.device) -> torch.Tensor:
    pos = torch.arange(t, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, channels, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / channels))
    pe = torch.cat([torch.sin(pos * div), torch.cos(pos * div)], dim=1)  # [T, C]
    return pe.t()[None]  # [1, C, T]


def self_attention(mha: nn.MultiheadAttention, y: torch.Tensor) -> torch.Tensor:
    """``mha(y, y, y)`` for one unpadded sequence [1, T, C], written out with shape-free
    reshapes so the ONNX graph takes any T (the traced nn.MultiheadAttention fixes T)."""
    c, heads = mha.embed_dim, mha.num_heads
    q, k, v = F.linear(y, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)

    def split(x: torch.Tensor) -> torch.Tensor:  # [1, T, C] -> [H, T, C/H]
        return x.reshape(-1, heads, c // heads).transpose(0, 1)

    q, k, v = split(q), split(k), split(v)
    att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c // heads), dim=-1)
    return mha.out_proj((att @ v).transpose(0, 1).reshape(1, -1, c))


class FFTBlock(nn.Module):
    def __init__(self, channels: int, heads: int, hidden: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(channels, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(channels)
        self.conv1 = nn.Conv1d(channels, hidden, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(hidden, channels, 1)
        self.norm2 = ChannelNorm(channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        # x [B, C, T], mask [B, 1, T] float, pad [B, T] bool (True = padding) or None
        y = x.transpose(1, 2)
        if pad is None and not self.training:
            a = self_attention(self.attn, y)
        else:
            a, _ = self.attn(y, y, y, key_padding_mask=pad, need_weights=False)
        y = self.norm1(y + self.drop(a)).transpose(1, 2) * mask
        f = self.conv2(self.drop(F.relu(self.conv1(y)))) * mask
        return self.norm2(y + self.drop(f)) * mask


class DurationPredictor(nn.Module):
    def __init__(self, channels: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, hidden, 3, padding=1)
        self.norm1 = ChannelNorm(hidden)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.norm2 = ChannelNorm(hidden)
        self.out = nn.Conv1d(hidden, 1, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.norm1(F.relu(self.conv1(h * mask))))
        x = self.drop(self.norm2(F.relu(self.conv2(x * mask))))
        return self.out(x * mask) * mask  # log frames per id, [B, 1, T]


class DecoderBlock(nn.Module):
    """ConvNeXt-style: depthwise dilated conv -> channel LayerNorm -> 1x1 up -> GELU -> 1x1 down."""

    def __init__(self, channels: int, hidden: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.dw = nn.Conv1d(channels, channels, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation,
                            groups=channels)
        self.norm = ChannelNorm(channels)
        self.up = nn.Conv1d(channels, hidden, 1)
        self.down = nn.Conv1d(hidden, channels, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.down(F.gelu(self.up(self.norm(self.dw(x))))))


class MelDecoder(nn.Module):
    """Frames [B, C, F] -> ln-mel [B, 80, F]. Local: receptive field +-RECEPTIVE_HALF frames."""

    def __init__(self, in_channels: int, channels: int = 192, hidden: int = 384, dropout: float = 0.0) -> None:
        super().__init__()
        self.inp = nn.Conv1d(in_channels, channels, 1)
        self.blocks = nn.ModuleList(DecoderBlock(channels, hidden, DEC_KERNEL, d, dropout) for d in DEC_DILATIONS)
        self.norm = ChannelNorm(channels)
        self.out = nn.Conv1d(channels, N_MELS, 1)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # mask [B, 1, F]: zero outside the utterance, as zero padding does at its edges
        x = self.inp(h)
        if mask is not None:
            x = x * mask
        for block in self.blocks:
            x = block(x)
            if mask is not None:
                x = x * mask
        return self.out(self.norm(x)) * MEL_STD + MEL_MEAN


class FastSpeech(nn.Module):
    def __init__(self, channels: int = 128, layers: int = 3, heads: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.channels = channels
        self.embed = nn.Embedding(N_VOCAB, channels)
        self.encoder = nn.ModuleList(FFTBlock(channels, heads, 2 * channels, 3, dropout) for _ in range(layers))
        self.duration = DurationPredictor(channels, channels, dropout)
        self.decoder = MelDecoder(channels)

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """ids [B, T] -> h [B, C, T], log durations [B, 1, T], mask [B, 1, T]."""
        t = ids.shape[1]
        mask = (torch.arange(t, device=ids.device)[None] < lengths[:, None]).to(torch.float32)[:, None]
        pad = None if ids.shape[0] == 1 else mask[:, 0] < 0.5
        x = self.embed(ids).transpose(1, 2) * math.sqrt(self.channels) * 0.1
        x = (x + positions(t, self.channels, ids.device)) * mask
        for block in self.encoder:
            x = block(x, mask, pad)
        return x, self.duration(x.detach() if self.training else x, mask), mask


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- data


def read_shard(path: str) -> list[dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as d:
        ids, dur, mel = d["ids"], d["durations"], d["mel"]
        ids_len, frames_len, lines = d["ids_len"], d["frames_len"], d["line"]
    io = np.concatenate([[0], np.cumsum(ids_len)])
    fo = np.concatenate([[0], np.cumsum(frames_len)])
    out = []
    for n, line in enumerate(lines):
        if int(line) % 20 == 0:
            raise SystemExit(f"{path}: line {line} is a TEST line; refusing to train on it")
        u = {"line": int(line), "ids": ids[io[n]:io[n + 1]].astype(np.int64),
             "dur": dur[io[n]:io[n + 1]].astype(np.int64), "mel": np.ascontiguousarray(mel[:, fo[n]:fo[n + 1]])}
        assert u["dur"].sum() == u["mel"].shape[1], f"{path}: durations do not sum to the frame count"
        out.append(u)
    return out


class Corpus:
    """All finished shards in memory; ``refresh`` picks up new ones."""

    def __init__(self, data: Path) -> None:
        self.pattern = str(data / "train" / "shard-*.npz")
        self.seen: set[str] = set()
        self.train: list[dict[str, np.ndarray]] = []
        self.val: list[dict[str, np.ndarray]] = []
        self.refresh()

    def refresh(self) -> int:
        added = 0
        for path in sorted(glob.glob(self.pattern)):
            if path in self.seen:
                continue
            try:
                utts = read_shard(path)
            except (OSError, ValueError, KeyError, EOFError):
                continue  # being written: next time
            self.seen.add(path)
            for u in utts:
                (self.val if u["line"] % 50 == 1 else self.train).append(u)
                added += 1
        return added


def make_batch(utts: list[dict[str, np.ndarray]], crop: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    b = len(utts)
    t = max(len(u["ids"]) for u in utts)
    ids = np.zeros((b, t), np.int64)
    dur = np.zeros((b, t), np.int64)
    lengths = np.array([len(u["ids"]) for u in utts])
    m = RECEPTIVE_HALF
    win = crop + 2 * m
    # for each utterance: frames [s - m, s + crop + m) of the upsampled sequence, loss on [s, s + crop)
    gather = np.zeros((b, win), np.int64)  # index into [B*T] flattened h, -1 = outside
    fmask = np.zeros((b, win), np.float32)
    lmask = np.zeros((b, win), np.float32)
    target = np.zeros((b, N_MELS, win), np.float32)
    for i, u in enumerate(utts):
        n = len(u["ids"])
        ids[i, :n], dur[i, :n] = u["ids"], u["dur"]
        frames = int(u["dur"].sum())
        index = np.repeat(np.arange(n), u["dur"]) + i * t
        s = int(rng.integers(0, max(1, frames - crop + 1)))
        lo, hi = s - m, s + crop + m
        for j, f in enumerate(range(lo, hi)):
            if 0 <= f < frames:
                gather[i, j] = index[f]
                fmask[i, j] = 1.0
                if s <= f < s + crop:
                    lmask[i, j] = 1.0
                    target[i, :, j] = u["mel"][:, f]
    return {"ids": torch.from_numpy(ids), "dur": torch.from_numpy(dur), "lengths": torch.from_numpy(lengths),
            "gather": torch.from_numpy(gather), "fmask": torch.from_numpy(fmask)[:, None],
            "lmask": torch.from_numpy(lmask)[:, None], "target": torch.from_numpy(target)}


def losses(model: FastSpeech, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    h, logd, mask = model.encode(batch["ids"], batch["lengths"])
    dur_loss = (((logd[:, 0] - torch.log(batch["dur"].clamp(min=1).float())) ** 2) * mask[:, 0]).sum() / mask.sum()
    b, c, t = h.shape
    flat = h.transpose(1, 2).reshape(b * t, c)
    frames = flat[batch["gather"].reshape(-1)].reshape(b, -1, c).transpose(1, 2) * batch["fmask"]
    mel = model.decoder(frames, batch["fmask"])
    lm = batch["lmask"]
    mel_loss = ((mel - batch["target"]).abs() * lm).sum() / (lm.sum() * N_MELS)
    return mel_loss, dur_loss


@torch.no_grad()
def validate(model: FastSpeech, utts: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Whole utterances, one at a time: mel L1 with joe's durations, duration errors."""
    model.eval()
    l1, n_frames, dur_mse, dur_abs, n_ids, total_err = 0.0, 0, 0.0, 0.0, 0, 0.0
    for u in utts:
        ids = torch.from_numpy(u["ids"])[None]
        h, logd, _ = model.encode(ids, torch.tensor([ids.shape[1]]))
        dur = torch.from_numpy(u["dur"])
        mel = model.decoder(torch.repeat_interleave(h, dur, dim=2))[0].numpy()
        l1 += float(np.abs(mel - u["mel"]).sum() / N_MELS)
        n_frames += mel.shape[1]
        pred = torch.clamp(torch.round(torch.exp(logd[0, 0])), min=1)
        dur_mse += float(((logd[0, 0] - torch.log(dur.float())) ** 2).sum())
        dur_abs += float((pred - dur).abs().sum())
        n_ids += len(dur)
        total_err += abs(float(pred.sum()) / float(dur.sum()) - 1.0)
    model.train()
    return {"val_mel_l1": l1 / n_frames, "val_dur_loss": dur_mse / n_ids, "val_dur_abs_frames": dur_abs / n_ids,
            "val_length_err": total_err / len(utts)}


# ----------------------------------------------------------------------------- loop


def save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data/mel"))
    ap.add_argument("--work", type=Path, default=Path("data/fastspeech"))
    ap.add_argument("--minutes", type=float, default=60.0, help="wall-time budget, counted across restarts")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=96, help="frames per utterance the mel loss sees")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--report", type=int, default=25)
    ap.add_argument("--val-every", type=int, default=200)
    ap.add_argument("--val-utts", type=int, default=24)
    ap.add_argument("--reload", type=int, default=200)
    ap.add_argument("--save-seconds", type=float, default=180.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = args.work / "ckpt.pt", args.work / "log.jsonl"
    torch.manual_seed(args.seed)
    model = FastSpeech()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=1e-4)
    step, spent = 0, 0.0
    rng = np.random.default_rng(args.seed)
    if ckpt_path.is_file():
        state = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, spent = state["step"], state["seconds"]
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at step {step}, {spent / 60:.1f} of {args.minutes:.0f} minutes spent", flush=True)
    corpus = Corpus(args.data)
    val = corpus.val[: args.val_utts]
    print(f"{param_count(model):,} parameters; {len(corpus.train)} train / {len(corpus.val)} val utterances "
          f"from {len(corpus.seen)} shards; decoder receptive field +-{RECEPTIVE_HALF} frames", flush=True)

    def state() -> dict:
        return {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "seconds": spent,
                "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                "config": {"channels": model.channels, "receptive_half": RECEPTIVE_HALF}}

    budget = args.minutes * 60.0
    last_save = time.monotonic()
    t0 = time.monotonic()
    acc = {"mel": 0.0, "dur": 0.0, "n": 0}
    with log_path.open("a") as log:
        while spent + (time.monotonic() - t0) < budget:
            if step % args.reload == 0 and step > 0:
                added = corpus.refresh()
                if added:
                    val = corpus.val[: args.val_utts]
                    print(f"step {step}: +{added} utterances ({len(corpus.train)} train)", flush=True)
            # warm-up, then cosine decay over the wall-time budget down to 5% of the peak
            progress = min(1.0, (spent + time.monotonic() - t0) / budget)
            lr = args.lr * min(1.0, (step + 1) / args.warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
            for g in opt.param_groups:
                g["lr"] = lr
            picks = rng.choice(len(corpus.train), size=args.batch, replace=False)
            batch = make_batch([corpus.train[i] for i in picks], args.crop, rng)
            mel_loss, dur_loss = losses(model, batch)
            opt.zero_grad(set_to_none=True)
            (mel_loss + dur_loss).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            acc["mel"] += mel_loss.item()
            acc["dur"] += dur_loss.item()
            acc["n"] += 1
            now = time.monotonic()
            if step % args.report == 0:
                elapsed = spent + now - t0
                rec = {"step": step, "minutes": round(elapsed / 60, 2), "lr": lr,
                       "train_mel_l1": acc["mel"] / acc["n"], "train_dur_loss": acc["dur"] / acc["n"],
                       "train_utts": len(corpus.train)}
                acc = {"mel": 0.0, "dur": 0.0, "n": 0}
                if step % args.val_every == 0 and val:
                    rec.update(validate(model, val))
                log.write(json.dumps(rec) + "\n")
                log.flush()
                print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()), flush=True)
            if now - last_save > args.save_seconds:
                spent += now - t0
                t0 = now
                save(ckpt_path, state())
                last_save = now
        spent += time.monotonic() - t0
        t0 = time.monotonic()
        if val:
            rec = {"step": step, "minutes": round(spent / 60, 2), "final": True, **validate(model, val)}
            log.write(json.dumps(rec) + "\n")
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()), flush=True)
    save(ckpt_path, state())
    print(f"done: step {step}, {spent / 60:.1f} minutes", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
