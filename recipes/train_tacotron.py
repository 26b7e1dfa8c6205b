#!/usr/bin/env python
"""Train joe-tacotron (a small Tacotron-style attention model) by distillation; export ONNX.

Data: the part-1 shards of ``recipes/make_mel_data.py`` (joe's ids, durations and the
log-mel of joe's audio). Held-out test lines (``line % 20 == 0``) are never read.

Model (1.2 M parameters: encoder 391 k, decoder step 808 k):

* encoder: embedding(256, 128) -> 3 x [Conv1d(128, k5) + ReLU + LayerNorm] -> BiLSTM(2 x 64)
  -> ``memory`` [1, T, 128] and the attention ``keys`` [1, T, 96] (memory projected once).
* one decoder step (r = 3 mel frames per step): prenet(80 -> 128 -> 64, dropout 0.5 in
  training) on the last frame of the previous step -> attention LSTMCell(64 + 128 -> 192)
  -> location-sensitive attention (query, keys, Conv1d over [previous, cumulative]
  weights) -> context -> decoder LSTMCell(192 + 128 -> 192) -> Linear -> 3 frames, Linear
  -> stop logit. Teacher forcing in training; its own output at inference.

Losses: L1 + MSE on normalised mel, stop BCE (pos_weight 8) on the last step, and a
direct attention supervision: cross-entropy between the attention weights and the
alignment that joe's durations give (for step t, the share of its r frames that belong to
each symbol). The durations are the true alignment, so attention is learnt in minutes.
``--force-att P``: in a share P of the batches the context (and the weights carried to the
next step) come from that duration alignment ("attention forcing"), so the decoder learns
to use the context before its own attention is sharp; the attention loss still trains the
attention's own weights. Adam, lr 1e-3, 200-step warm-up then cosine over the time budget
down to 0.1 x; batches of 16 utterances of similar length; one CPU thread.

    nice -n 5 python recipes/train_tacotron.py train --data data/mel --work data/tacotron --minutes 62 --force-att 0.5
    python recipes/train_tacotron.py export --work data/tacotron --out src/voicestack/addons_data/joe-tacotron \
        --vocoder griffin-lim --prenet-noise
    python recipes/train_tacotron.py sample --work data/tacotron   # free-running check on training lines
    python recipes/train_tacotron.py guards --n 100   # AttentionDecoder end statuses on held-out lines
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import math
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

R = 3  # frames per decoder step
N_MELS = 80
VOCAB = 256
EMB = 128
MEM = 128
ATT = 96
RNN = 192
PRE = (128, 64)
LOC_FILTERS, LOC_KERNEL = 16, 15
SILENCE = math.log(1e-5)


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMB)
        self.convs = nn.ModuleList(nn.Conv1d(EMB, EMB, 5, padding=2) for _ in range(3))
        self.norms = nn.ModuleList(nn.LayerNorm(EMB) for _ in range(3))
        self.lstm = nn.LSTM(EMB, MEM // 2, batch_first=True, bidirectional=True)
        self.key = nn.Linear(MEM, ATT, bias=False)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.embed(ids)  # [B,T,E]
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = norm(F.relu(conv(x.transpose(1, 2))).transpose(1, 2))
            x = F.dropout(x, 0.2, self.training)
        if lengths is not None and self.training:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            memory, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        else:
            memory, _ = self.lstm(x)
        return memory, self.key(memory)


class DecoderStep(nn.Module):
    """One step: (previous frames, state) -> (r frames, stop logit, new state, weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.pre1 = nn.Linear(N_MELS, PRE[0])
        self.pre2 = nn.Linear(PRE[0], PRE[1])
        self.att_rnn = nn.LSTMCell(PRE[1] + MEM, RNN)
        self.query = nn.Linear(RNN, ATT, bias=False)
        self.loc_conv = nn.Conv1d(2, LOC_FILTERS, LOC_KERNEL, padding=LOC_KERNEL // 2, bias=False)
        self.loc_proj = nn.Linear(LOC_FILTERS, ATT, bias=False)
        self.v = nn.Linear(ATT, 1, bias=True)
        self.dec_rnn = nn.LSTMCell(RNN + MEM, RNN)
        self.out = nn.Linear(RNN + MEM, N_MELS * R)
        self.stop = nn.Linear(RNN + MEM, 1)
        self.register_buffer("mel_mean", torch.tensor(-6.0))
        self.register_buffer("mel_std", torch.tensor(2.5))
        self.prenet_dropout = 0.5

    def forward(self, frame_n, context, att_h, att_c, dec_h, dec_c, weights, cum, memory, keys, mask=None, force_w=None,  # type: ignore[no-untyped-def]
                prenet_noise=None):
        """frame_n: previous frame, normalised [B,80]. Returns frames_n [B,R*80] (time-major), ...

        ``force_w`` (training only, "attention forcing"): use these weights instead of the
        attention's own for the context and the carried weights; the own weights are still
        returned (log) for the attention loss."""
        p = self.prenet_dropout if self.training else 0.0
        x = F.dropout(F.relu(self.pre1(frame_n)), p, self.training)
        if prenet_noise is not None:  # inference-time dropout (Tacotron 2): mask = noise > 0, p = 0.5
            x = x * (prenet_noise[:, : PRE[0]] > 0).to(x.dtype) * 2.0
        x = F.dropout(F.relu(self.pre2(x)), p, self.training)
        if prenet_noise is not None:
            x = x * (prenet_noise[:, PRE[0] :] > 0).to(x.dtype) * 2.0
        att_h, att_c = self.att_rnn(torch.cat([x, context], -1), (att_h, att_c))
        loc = self.loc_conv(torch.stack([weights, cum], 1)).transpose(1, 2)  # [B,T,LF]
        energy = self.v(torch.tanh(self.query(att_h).unsqueeze(1) + keys + self.loc_proj(loc))).squeeze(-1)
        if mask is not None:
            energy = energy.masked_fill(~mask, -1e4)
        log_w = F.log_softmax(energy, -1)
        weights = log_w.exp() if force_w is None else force_w
        cum = cum + weights
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
        dec_h, dec_c = self.dec_rnn(torch.cat([att_h, context], -1), (dec_h, dec_c))
        hc = torch.cat([dec_h, context], -1)
        return self.out(hc), self.stop(hc).squeeze(-1), context, att_h, att_c, dec_h, dec_c, weights, cum, log_w


class Tacotron(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = Encoder()
        self.step = DecoderStep()

    def initial(self, b: int, t: int) -> list[torch.Tensor]:
        z = torch.zeros
        return [z(b, MEM), z(b, RNN), z(b, RNN), z(b, RNN), z(b, RNN), z(b, t), z(b, t)]

    def forward(self, ids, ids_len, mel_n, steps, att=None):  # type: ignore[no-untyped-def]
        """Teacher forcing. mel_n [B, S*R, 80] normalised. Returns frames [B,S*R,80], stop [B,S], log_w [B,S,T]."""
        b, t = ids.shape
        memory, keys = self.encoder(ids, ids_len)
        mask = torch.arange(t)[None, :] < ids_len[:, None]
        state = self.initial(b, t)
        go = ((torch.full((b, N_MELS), SILENCE) - self.step.mel_mean) / self.step.mel_std)
        prev = torch.cat([go[:, None], mel_n[:, R - 1 :: R][:, : steps - 1]], 1)  # last frame of each previous step
        frames, stops, logws = [], [], []
        for s in range(steps):
            y, stop, *state, log_w = self.step(prev[:, s], *state, memory, keys, mask,
                                               None if att is None else att[:, s])
            frames.append(y.view(b, R, N_MELS))
            stops.append(stop)
            logws.append(log_w)
        return torch.cat(frames, 1), torch.stack(stops, 1), torch.stack(logws, 1)


# ---------------------------------------------------------------- data


def load_data(data: str, max_frames: int) -> list[dict[str, np.ndarray]]:
    utts = []
    for path in sorted(glob.glob(os.path.join(data, "train", "shard-[0-9][0-9][0-9][0-9][0-9].npz"))):
        try:
            d = np.load(path, allow_pickle=False)
            line, ids_len, frames_len = d["line"], d["ids_len"], d["frames_len"]
            ids, dur, mel = d["ids"], d["durations"], d["mel"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # a shard being written right now
            print(f"skip {path}: {exc}", flush=True)
            continue
        io = np.concatenate([[0], np.cumsum(ids_len)])
        fo = np.concatenate([[0], np.cumsum(frames_len)])
        for i in range(len(line)):
            if int(line[i]) % 20 == 0 or frames_len[i] > max_frames:
                continue  # held-out test lines are never used
            utts.append({"ids": ids[io[i] : io[i + 1]].astype(np.int64), "dur": dur[io[i] : io[i + 1]].astype(np.int64),
                         "mel": np.ascontiguousarray(mel[:, fo[i] : fo[i + 1]].T), "line": int(line[i])})
    return utts


def make_batch(utts: list[dict[str, np.ndarray]], mean: float, std: float) -> dict[str, torch.Tensor]:
    b = len(utts)
    t = max(len(u["ids"]) for u in utts)
    steps = max(math.ceil(len(u["mel"]) / R) for u in utts)
    ids = np.zeros((b, t), np.int64)
    mel = np.full((b, steps * R, N_MELS), SILENCE, np.float32)
    fmask = np.zeros((b, steps * R), np.float32)
    smask = np.zeros((b, steps), np.float32)
    stop = np.zeros((b, steps), np.float32)
    att = np.zeros((b, steps, t), np.float32)
    for i, u in enumerate(utts):
        n, f = len(u["ids"]), len(u["mel"])
        ids[i, :n] = u["ids"]
        mel[i, :f] = u["mel"]
        fmask[i, :f] = 1
        s = math.ceil(f / R)
        smask[i, :s] = 1
        stop[i, s - 1] = 1
        sym = np.repeat(np.arange(n), u["dur"])[:f]
        np.add.at(att[i], (np.arange(f) // R, sym), 1.0)
        att[i, :s] /= att[i, :s].sum(-1, keepdims=True)
    return {"ids": torch.from_numpy(ids), "ids_len": torch.tensor([len(u["ids"]) for u in utts]),
            "mel_n": (torch.from_numpy(mel) - mean) / std, "fmask": torch.from_numpy(fmask),
            "smask": torch.from_numpy(smask), "stop": torch.from_numpy(stop), "att": torch.from_numpy(att),
            "steps": torch.tensor(steps)}


def losses(model: Tacotron, batch: dict[str, torch.Tensor], force: bool = False) -> dict[str, torch.Tensor]:
    frames, stop, log_w = model(batch["ids"], batch["ids_len"], batch["mel_n"], int(batch["steps"]),
                                batch["att"] if force else None)
    fm = batch["fmask"][..., None]
    nf = fm.sum() * N_MELS
    diff = (frames - batch["mel_n"]) * fm
    l1 = diff.abs().sum() / nf
    l2 = diff.pow(2).sum() / nf
    sm = batch["smask"]
    bce = F.binary_cross_entropy_with_logits(stop, batch["stop"], pos_weight=torch.tensor(8.0), reduction="none")
    l_stop = (bce * sm).sum() / sm.sum()
    l_att = -(batch["att"] * log_w).sum(-1).mul(sm).sum() / sm.sum()
    return {"l1": l1, "l2": l2, "stop": l_stop, "att": l_att}


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    ckpt = work / "ckpt.pt"
    utts = load_data(args.data, args.max_frames)
    lines = sorted({u["line"] for u in utts})
    assert all(line % 20 for line in lines)
    allmel = np.concatenate([u["mel"] for u in utts[:300]])
    mean, std = float(allmel.mean()), float(allmel.std())
    print(f"{len(utts)} utterances, {sum(len(u['mel']) for u in utts)} frames, mel mean {mean:.3f} std {std:.3f}", flush=True)
    model = Tacotron()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, elapsed = 0, 0.0
    if ckpt.exists():
        st = torch.load(ckpt, weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, elapsed = st["step"], st["elapsed"]
        mean, std = st["mean"], st["std"]
        print(f"resumed at step {step}, {elapsed / 60:.1f} min trained", flush=True)
    model.step.mel_mean.fill_(mean)
    model.step.mel_std.fill_(std)
    rng = np.random.default_rng(step)
    # buckets of similar length: sort, cut into batches, shuffle the batches
    order = sorted(range(len(utts)), key=lambda i: len(utts[i]["mel"]))
    log = open(work / "train.log", "a")  # noqa: SIM115 - appended to for the whole run
    last_save = time.time()
    budget = args.minutes * 60
    acc: dict[str, float] = {}
    n_acc = 0
    model.train()
    while elapsed < budget and step < args.steps:
        batches = [order[i : i + args.batch] for i in range(0, len(order), args.batch)]
        rng.shuffle(batches)
        for idx in batches:
            t0 = time.time()
            batch = make_batch([utts[i] for i in idx], mean, std)
            ls = losses(model, batch, force=bool(rng.random() < args.force_att))
            total = ls["l1"] + ls["l2"] + ls["stop"] * 0.5 + ls["att"] * args.att_weight
            opt.zero_grad()
            total.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            # warm-up, then cosine over the time budget down to 0.1 x
            lr = args.lr * min(1.0, (step + 1) / 200) * (0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, elapsed / budget))))
            for g in opt.param_groups:
                g["lr"] = lr
            opt.step()
            step += 1
            elapsed += time.time() - t0
            for k, v in ls.items():
                acc[k] = acc.get(k, 0.0) + float(v.detach())
            n_acc += 1
            if step % 20 == 0:
                msg = f"step {step} min {elapsed / 60:.1f} " + " ".join(f"{k} {v / n_acc:.4f}" for k, v in acc.items())
                print(msg, flush=True)
                log.write(msg + "\n")
                log.flush()
                acc, n_acc = {}, 0
            if time.time() - last_save > 120 or elapsed >= budget or step >= args.steps:
                save(ckpt, model, opt, step, elapsed, mean, std)
                last_save = time.time()
            if elapsed >= budget or step >= args.steps:
                break
    save(ckpt, model, opt, step, elapsed, mean, std)
    print(f"done: step {step}, {elapsed / 60:.1f} min", flush=True)


def save(path: Path, model: Tacotron, opt: torch.optim.Optimizer, step: int, elapsed: float, mean: float, std: float) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed,
                "mean": mean, "std": std, "r": R}, tmp)
    os.replace(tmp, path)
    if step % 500 < 20:
        torch.save({"model": model.state_dict(), "step": step, "mean": mean, "std": std}, path.with_name(f"ckpt-{step // 500 * 500}.pt"))


# ---------------------------------------------------------------- export


class ExportEncoder(nn.Module):
    def __init__(self, enc: Encoder) -> None:
        super().__init__()
        self.enc = enc

    def forward(self, input: torch.Tensor, input_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        memory, keys = self.enc(input)
        valid = (torch.arange(input.shape[1])[None, :] < input_lengths[:, None]).unsqueeze(-1).to(memory.dtype)
        return memory * valid, keys * valid


class ExportStep(nn.Module):
    """Raw-mel in/out; state tensors explicit. frame_in/frame are [1, 80, R]."""

    def __init__(self, step: DecoderStep, noise: bool) -> None:
        super().__init__()
        self.s = step
        self.noise = noise

    def forward(self, memory, keys, frame_in, context_in, att_h_in, att_c_in, dec_h_in, dec_c_in, weights_in, cum_in,  # type: ignore[no-untyped-def]
                prenet_noise=None):
        s = self.s
        prev = (frame_in[:, :, -1] - s.mel_mean) / s.mel_std
        y, stop, context, att_h, att_c, dec_h, dec_c, weights, cum, _ = s(
            prev, context_in, att_h_in, att_c_in, dec_h_in, dec_c_in, weights_in, cum_in, memory, keys,
            prenet_noise=prenet_noise if self.noise else None)
        frame = (y.view(1, R, N_MELS).transpose(1, 2)) * s.mel_std + s.mel_mean
        return frame, torch.sigmoid(stop), context, att_h, att_c, dec_h, dec_c, weights, cum


STEP_INPUTS = ["memory", "keys", "frame_in", "context_in", "att_h_in", "att_c_in", "dec_h_in", "dec_c_in", "weights_in", "cum_in"]
STEP_OUTPUTS = ["frame", "stop", "context", "att_h", "att_c", "dec_h", "dec_c", "weights", "cum"]


def load_model(work: str, ckpt: str | None = None) -> Tacotron:
    st = torch.load(ckpt or Path(work) / "ckpt.pt", weights_only=False)
    model = Tacotron()
    model.load_state_dict(st["model"])
    model.step.mel_mean.fill_(st["mean"])
    model.step.mel_std.fill_(st["std"])
    model.eval()
    print(f"checkpoint step {st['step']}")
    return model


def step_init(t: int) -> dict[str, np.ndarray]:
    z = np.zeros
    return {"frame_in": z((1, N_MELS, R), np.float32), "context_in": z((1, MEM), np.float32),
            "att_h_in": z((1, RNN), np.float32), "att_c_in": z((1, RNN), np.float32),
            "dec_h_in": z((1, RNN), np.float32), "dec_c_in": z((1, RNN), np.float32),
            "weights_in": z((1, t), np.float32), "cum_in": z((1, t), np.float32)}


def export(args: argparse.Namespace) -> None:
    import onnxruntime as ort

    torch.set_num_threads(1)
    model = load_model(args.work, args.ckpt)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t = 23
    ids = torch.randint(3, 150, (1, t))
    enc = ExportEncoder(model.encoder).eval()
    torch.onnx.export(enc, (ids, torch.tensor([t])), str(out / "encoder.onnx"), input_names=["input", "input_lengths"],
                      output_names=["memory", "keys"], dynamic_axes={"input": {1: "T"}, "memory": {1: "T"}, "keys": {1: "T"}},
                      opset_version=17, dynamo=False)
    step = ExportStep(model.step, args.prenet_noise).eval()
    inputs = STEP_INPUTS + (["prenet_noise"] if args.prenet_noise else [])
    with torch.no_grad():
        memory, keys = enc(ids, torch.tensor([t]))
    feeds = {k: torch.from_numpy(v) for k, v in step_init(t).items()}
    feeds["frame_in"].fill_(SILENCE)
    dyn = {n: {1: "T"} for n in ("memory", "keys", "weights_in", "cum_in", "weights", "cum")}
    if args.prenet_noise:
        feeds["prenet_noise"] = torch.randn(1, sum(PRE))
    torch.onnx.export(step, (memory, keys, *(feeds[n] for n in inputs[2:])), str(out / "decoder_step.onnx"),
                      input_names=inputs, output_names=STEP_OUTPUTS, dynamic_axes=dyn, opset_version=17, dynamo=False)
    # ONNX vs PyTorch: run 40 free-running steps on both
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    es = ort.InferenceSession(str(out / "encoder.onnx"), so, providers=["CPUExecutionProvider"])
    ds = ort.InferenceSession(str(out / "decoder_step.onnx"), so, providers=["CPUExecutionProvider"])
    ids2 = torch.randint(3, 150, (1, 31))
    mem_o, keys_o = es.run(None, {"input": ids2.numpy(), "input_lengths": np.array([31], np.int64)})
    with torch.no_grad():
        mem_t, keys_t = enc(ids2, torch.tensor([31]))
    worst = {"memory": float(np.abs(mem_o - mem_t.numpy()).max())}
    st_o = step_init(31)
    st_o["frame_in"][:] = SILENCE
    st_t = {k: torch.from_numpy(v.copy()) for k, v in st_o.items()}
    for i in range(40):
        if args.prenet_noise:
            st_o["prenet_noise"] = np.random.default_rng(i).standard_normal((1, sum(PRE))).astype(np.float32)
            st_t["prenet_noise"] = torch.from_numpy(st_o["prenet_noise"])
        o = dict(zip(STEP_OUTPUTS, ds.run(None, {"memory": mem_o, "keys": keys_o, **st_o}), strict=True))
        with torch.no_grad():
            tt = dict(zip(STEP_OUTPUTS, step(mem_t, keys_t, *(st_t[n] for n in inputs[2:])), strict=True))
        for k in STEP_OUTPUTS:
            worst[k] = max(worst.get(k, 0.0), float(np.abs(o[k] - tt[k].numpy()).max()))
        for n_in, n_out in zip(STEP_INPUTS[2:], STEP_OUTPUTS[:1] + STEP_OUTPUTS[2:], strict=True):
            st_o[n_in] = o[n_out]
            st_t[n_in] = tt[n_out]
    print("ONNX vs PyTorch max abs diff over 40 steps:", json.dumps({k: f"{v:.2e}" for k, v in worst.items()}))
    write_manifest(out, args.vocoder, args.data, args.prenet_noise)


def write_manifest(out: Path, vocoder: str, data: str, prenet_noise: bool) -> None:
    from voicestack.catalog import builtin_dir

    joe = json.loads((builtin_dir("joe") / "addon.json").read_text())
    mel = json.loads((Path(data) / "meta.json").read_text())["mel"]
    f32 = "float32"

    def vec(n: int) -> dict[str, object]:
        return {"dtype": f32, "shape": [1, n]}

    state = {"context": "context_in", "att_h": "att_h_in", "att_c": "att_c_in", "dec_h": "dec_h_in",
             "dec_c": "dec_c_in", "weights": "weights_in", "cum": "cum_in"}

    def stack(voc: dict[str, object]) -> list[object]:
        return [{"type": "StreamablePipeline",
                 "sequence_block": {"type": "Encoders"},
                 "streamable_block": {"type": "StreamableStack", "stack": [
                     {"type": "AttentionDecoder", "network": "decoder_step", "frame_input": "frame_in",
                      "frame_output": "frame", "stop_output": "stop", "weights_output": "weights",
                      "state": state, "initial": {"frame_in": SILENCE}, "stop_threshold": 0.5,
                      "max_frames_per_symbol": 10.0, "first_chunk_frames": 6, "chunk_frames": 24,
                      "stall_steps": 20, "back_tolerance": 6, "max_jump": 12, "patience": 2, "end_margin": 6,
                      "max_hole": 4, "hole_mass": 0.02,
                      "output": "mel"},
                     voc]}}]

    vocoders = {"joe-vocoder": {"type": "Vocoder", "addon": "joe-vocoder"},
                "griffin-lim": {"type": "Vocoder", "addon": "griffin-lim"}}
    try:  # offer the joe-vocoder stack only when that addon is complete here
        from voicestack.addon import read_manifest
        from voicestack.catalog import resolve

        read_manifest(resolve("joe-vocoder"))
    except Exception as err:  # noqa: BLE001 - any failure means: not usable
        if vocoder == "joe-vocoder":
            raise SystemExit(f"joe-vocoder is not usable here ({err}); export with --vocoder griffin-lim") from None
        del vocoders["joe-vocoder"]
    manifest = {
        "format_version": 1, "name": "joe-tacotron", "version": "0.1.0", "language": joe["language"],
        "sample_rate": mel["sample_rate"], "architecture": "attention autoregressive (Tacotron-style, r=3) + mel vocoder",
        "description": "A small Tacotron-style attention model distilled from joe (recipes/train_tacotron.py): "
                       "encoder + single-step attention decoder, 3 mel frames a step.",
        "license": "Apache-2.0 (voicestack); trained on the output of en_US-joe-medium (CC0)",
        "frontend": joe["frontend"],
        "inference": {},
        "mel": mel,
        "networks": {
            "encoder": {"file": "encoder.onnx", "format": "onnx", "role": "encoder",
                        "inputs": {"input": {"dtype": "int64", "shape": [1, "T"]},
                                   "input_lengths": {"dtype": "int64", "shape": [1]}},
                        "outputs": {"memory": {"dtype": f32, "shape": [1, "T", MEM]},
                                    "keys": {"dtype": f32, "shape": [1, "T", ATT]}}},
            "decoder_step": {
                "file": "decoder_step.onnx", "format": "onnx", "role": "decoder",
                "inputs": {"memory": {"dtype": f32, "shape": [1, "T", MEM]},
                           "keys": {"dtype": f32, "shape": [1, "T", ATT]},
                           "frame_in": {"dtype": f32, "shape": [1, N_MELS, R]},
                           "context_in": vec(MEM), "att_h_in": vec(RNN), "att_c_in": vec(RNN),
                           "dec_h_in": vec(RNN), "dec_c_in": vec(RNN),
                           "weights_in": {"dtype": f32, "shape": [1, "T"]}, "cum_in": {"dtype": f32, "shape": [1, "T"]},
                           **({"prenet_noise": {"dtype": f32, "shape": [1, sum(PRE)], "feed": {"noise": "normal"}}}
                              if prenet_noise else {})},
                "outputs": {"frame": {"dtype": f32, "shape": [1, N_MELS, R]}, "stop": {"dtype": f32, "shape": [1]},
                            "context": vec(MEM), "att_h": vec(RNN), "att_c": vec(RNN), "dec_h": vec(RNN),
                            "dec_c": vec(RNN), "weights": {"dtype": f32, "shape": [1, "T"]},
                            "cum": {"dtype": f32, "shape": [1, "T"]}}},
        },
        "stack": stack(vocoders[vocoder]),
        "stacks": {k: stack(v) for k, v in vocoders.items() if k != vocoder},
        "profiles": {k: {"stack": k} for k in vocoders if k != vocoder},
    }
    (out / "addon.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {out / 'addon.json'} (vocoder {vocoder})")


def sample(args: argparse.Namespace) -> None:
    """Free-running synthesis of a few training utterances in PyTorch: L1 vs target, stop step."""
    torch.set_num_threads(1)
    model = load_model(args.work, args.ckpt)
    utts = load_data(args.data, 10_000)[: args.n]
    for u in utts:
        ids = torch.from_numpy(u["ids"])[None]
        with torch.no_grad():
            memory, keys = model.encoder(ids)
            state = model.initial(1, ids.shape[1])
            prev = (torch.full((1, N_MELS), SILENCE) - model.step.mel_mean) / model.step.mel_std
            frames, peaks = [], []
            for s in range(ids.shape[1] * 10 // R):
                y, stop, *state, _ = model.step(prev, *state, memory, keys)
                y = y.view(1, R, N_MELS)
                frames.append(y)
                prev = y[:, -1]
                peaks.append(int(state[5].argmax()))
                if torch.sigmoid(stop) > 0.5:
                    break
        mel = torch.cat(frames, 1)[0] * model.step.mel_std + model.step.mel_mean
        f = min(len(mel), len(u["mel"]))
        l1 = float((mel[:f] - torch.from_numpy(u["mel"][:f])).abs().mean())
        print(f"line {u['line']}: {len(u['mel'])} frames, made {len(mel)}; L1 over overlap {l1:.3f}; "
              f"peak path end {peaks[-1]}/{ids.shape[1] - 1}; monotonic {all(b >= a - 2 for a, b in itertools.pairwise(peaks))}")


def guards(args: argparse.Namespace) -> None:
    """Run the exported addon's AttentionDecoder (no vocoder) on held-out lines; count end statuses."""
    import collections

    from voicestack.addon import read_manifest
    from voicestack.blocks import Request
    from voicestack.testing import build_stack
    from voicestack.voice import make_frontend

    manifest = read_manifest(Path(args.addon))
    frontend = make_frontend(manifest.frontend)
    stack = json.loads(json.dumps(manifest.stacks["default"]))
    del stack[0]["streamable_block"]["stack"][1:]  # mel only
    stack[0]["streamable_block"]["stack"][0].update(json.loads(args.override or "{}"))
    block = build_stack(manifest, stack)
    lines = Path(args.texts).read_text().splitlines()
    test = [t for i, t in enumerate(lines) if i % 20 == 0 and t.strip()][: args.n]
    counts: collections.Counter[str] = collections.Counter()
    frames_per_symbol = []
    t0 = time.time()
    for i, text in enumerate(test):
        for piece, ids in enumerate(frontend.pieces(text)):
            req = Request(piece=piece)
            for _ in block.stream(None, {"input": np.array([ids], np.int64),
                                         "input_lengths": np.array([len(ids)], np.int64)}, req):
                pass
            ev = req.events[-1]
            counts[ev["status"]] += 1
            frames_per_symbol.append(ev["frames"] / ev["symbols"])
            if ev["status"] != "stop_token" and args.verbose:
                print(f"test line {i * 20} piece {piece}: {ev}")
    print(f"{sum(counts.values())} pieces of {len(test)} held-out lines in {time.time() - t0:.0f} s: {dict(counts)}; "
          f"frames/symbol median {np.median(frames_per_symbol):.2f} max {max(frames_per_symbol):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", default="data/mel")
    t.add_argument("--work", default="data/tacotron")
    t.add_argument("--minutes", type=float, default=60.0, help="training budget (compute time, across resumes)")
    t.add_argument("--steps", type=int, default=100_000)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--att-weight", type=float, default=1.0)
    t.add_argument("--max-frames", type=int, default=800)
    t.add_argument("--force-att", type=float, default=0.0,
                   help="share of batches run with attention forcing (context from the duration alignment)")
    e = sub.add_parser("export")
    e.add_argument("--work", default="data/tacotron")
    e.add_argument("--ckpt", default=None)
    e.add_argument("--out", default="src/voicestack/addons_data/joe-tacotron")
    e.add_argument("--data", default="data/mel")
    e.add_argument("--vocoder", choices=("joe-vocoder", "griffin-lim"), default="joe-vocoder")
    e.add_argument("--prenet-noise", action="store_true",
                   help="keep prenet dropout at inference, its mask drawn from the request's seeded noise")
    s = sub.add_parser("sample")
    s.add_argument("--work", default="data/tacotron")
    s.add_argument("--data", default="data/mel")
    s.add_argument("--ckpt", default=None)
    s.add_argument("--n", type=int, default=4)
    g = sub.add_parser("guards")
    g.add_argument("--addon", default="src/voicestack/addons_data/joe-tacotron")
    g.add_argument("--texts", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpus" / "ljspeech-texts.txt"))
    g.add_argument("--n", type=int, default=50)
    g.add_argument("--override", default=None, help="JSON: AttentionDecoder parameters to change")
    g.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    {"train": train, "export": export, "sample": sample, "guards": guards}[args.cmd](args)


if __name__ == "__main__":
    main()
