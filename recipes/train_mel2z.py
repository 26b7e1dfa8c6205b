#!/usr/bin/env python
"""Train joe-vocoder's mel -> z network (CPU, resumable) and export it to ONNX.

joe's decoder is flow^-1 followed by HiFi-GAN; HiFi-GAN turns joe's latent z [192, F]
into audio. This network predicts z from the log-mel of joe's audio, so that
``HiFi-GAN(mel2z(mel))`` is a mel vocoder for joe's voice. Data: the shards of
``recipes/make_mel_data.py`` (train split only; shard 0 is kept aside for validation).

Network: 1-D convolutions over time (no recurrence, so windowed decoding is exact with
enough context): Conv(80->C, k5), residual blocks Conv(C->C, k3, dilation d), Conv(C->192, k5),
LeakyReLU between; input/output normalisation folded into the exported graph.
Receptive field: 2 + sum(d) + 2 frames on each side.

Phase 1 fits z (L1 on normalised z). Phase 2 (``--finetune``) runs the network's z through
joe's frozen HiFi-GAN and fits joe's audio itself: multi-resolution STFT loss, the log-mel
of the output against the input mel, a little of the z loss; ``--ft-grow`` adds blocks.
The shipped network, one core each step (docs/mel.md has the figures):

    W=data; T="python recipes/train_mel2z.py --data $W/mel --hifigan $W/mel2z/hifigan.onnx"
    nice -n 10 $T --work $W/mel2z --steps 4500 --batch 32 --frames 128               # phase 1, ~15 min
    nice -n 5 $T --finetune --work $W/mel2z_stft --ft-from $W/mel2z/ckpt.pt --ft-steps 3000 --ft-lr 1e-4
    nice -n 5 $T --finetune --work $W/mel2z_stft3 --ft-from $W/mel2z_stft/ckpt_ft.pt --ft-steps 3500 \
        --ft-lr 1e-4 --ft-mel-weight 1 --ft-grow 1,2,1
    nice -n 5 $T --finetune --work $W/mel2z_stft4 --ft-from $W/mel2z_stft3/ckpt_ft.pt --ft-steps 4500 \
        --ft-lr 1e-4 --ft-mel-weight 2 --ft-grow 1,2,4
    nice -n 5 $T --finetune --work $W/mel2z_stft5 --ft-from $W/mel2z_stft4/ckpt_ft.pt --ft-steps 4000 \
        --ft-lr 1e-4 --ft-mel-weight 2
    python recipes/train_mel2z.py --work $W/mel2z_stft5 --export src/voicestack/addons_data/joe-vocoder/mel2z.onnx

(hifigan.onnx: joe's generator, written by voicestack.builtins_mel.joe_network; without
``--hifigan`` it is cut from the installed joe voice.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from make_mel_data import load_shard

DILATIONS = (1, 2, 4, 1)


def receptive_radius(dilations: tuple[int, ...] = DILATIONS) -> int:
    return 2 + sum(dilations) + 2


def make_model(channels: int, dilations: tuple[int, ...] = DILATIONS):  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    class Mel2Z(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pre = nn.Conv1d(80, channels, 5, padding=2)
            self.blocks = nn.ModuleList(nn.Conv1d(channels, channels, 3, padding=d, dilation=d) for d in dilations)
            self.post = nn.Conv1d(channels, 192, 5, padding=2)
            self.register_buffer("mel_mean", torch.zeros(1, 80, 1))
            self.register_buffer("mel_std", torch.ones(1, 80, 1))
            self.register_buffer("z_mean", torch.zeros(1, 192, 1))
            self.register_buffer("z_std", torch.ones(1, 192, 1))

        def normalised(self, mel_n: torch.Tensor) -> torch.Tensor:
            act = nn.functional.leaky_relu
            h = act(self.pre(mel_n), 0.1)
            for conv in self.blocks:
                h = h + act(conv(h), 0.1)
            return self.post(h)

        def forward(self, mel: torch.Tensor) -> torch.Tensor:  # exported: raw log-mel -> raw z
            return self.normalised((mel - self.mel_mean) / self.mel_std) * self.z_std + self.z_mean

    return Mel2Z()


class Data:
    """Utterances of the available shards (mel and z as float16, joe's audio as int16, in memory)."""

    def __init__(self, root: Path, max_utts: int, target: str = "z", audio: bool = False) -> None:
        self.root, self.max_utts, self.target, self.keep_audio = root, max_utts, target, audio
        self.loaded: set[str] = set()
        self.train: list[tuple[np.ndarray, ...]] = []
        self.val: list[tuple[np.ndarray, ...]] = []
        self.refresh()

    def refresh(self) -> None:
        for path in sorted((self.root / "train").glob("shard-?????.npz")):
            if path.name in self.loaded or len(self.train) >= self.max_utts:
                continue
            prior = path.with_name(path.stem + ".prior.npz")
            if self.target == "z_p" and not prior.exists():
                continue
            self.loaded.add(path.name)
            target = self.val if path.name == "shard-00000.npz" else self.train
            utts = load_shard(path)
            if self.target == "z_p":
                with np.load(prior, allow_pickle=False) as d:
                    z_p = d["z_p"]
                cuts = np.cumsum([0] + [u["mel"].shape[1] for u in utts])
                for u, a, b in zip(utts, cuts[:-1], cuts[1:], strict=True):
                    u["z"] = z_p[:, a:b]
            for u in utts:
                item = (u["mel"].astype(np.float16), u["z"])
                target.append(item + (u["audio"],) if self.keep_audio else item)

    def stats(self) -> tuple[np.ndarray, ...]:
        mel = np.concatenate([u[0] for u in self.train[:500]], axis=1).astype(np.float64)
        z = np.concatenate([u[1] for u in self.train[:500]], axis=1).astype(np.float64)
        return mel.mean(1), mel.std(1) + 1e-3, z.mean(1), z.std(1) + 1e-3

    def batch(self, rng: np.random.Generator, size: int, frames: int, context: int = 0) -> tuple[np.ndarray, ...]:
        """Random crops of ``frames`` frames: mel with ``context`` extra frames each side
        (silence past the utterance's ends), z and, when kept, joe's audio (256 samples a frame)."""
        mels, zs, audios = [], [], []
        silence = np.log(1e-5)
        for k in rng.integers(0, len(self.train), size):
            mel, z = self.train[k][:2]
            n = mel.shape[1]
            s = int(rng.integers(0, max(n - frames, 0) + 1))
            e = s + frames
            lo, hi = s - context, e + context
            mel_c = np.pad(mel[:, max(lo, 0) : min(hi, n)], ((0, 0), (max(-lo, 0), max(hi - n, 0))), constant_values=silence)
            mels.append(mel_c)
            zs.append(np.pad(z[:, s : min(e, n)], ((0, 0), (0, max(e - n, 0)))))
            if self.keep_audio:
                audio = self.train[k][2]
                audios.append(np.pad(audio[s * 256 : min(e, n) * 256], (0, max(e - n, 0) * 256)))
        out = (np.stack(mels).astype(np.float32), np.stack(zs).astype(np.float32))
        return out + (np.stack(audios).astype(np.float32) / 32768.0,) if self.keep_audio else out


def save_atomic(obj: object, path: Path) -> None:
    import torch

    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    args.work.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.work / "ckpt.pt"
    data = Data(args.data, args.max_utts, args.target)
    model = make_model(args.channels)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    step = 0
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        step = int(ckpt["step"])
        print(f"resumed at step {step}", flush=True)
    else:
        mm, ms, zm, zs = data.stats()
        model.mel_mean.copy_(torch.tensor(mm, dtype=torch.float32).view(1, 80, 1))
        model.mel_std.copy_(torch.tensor(ms, dtype=torch.float32).view(1, 80, 1))
        model.z_mean.copy_(torch.tensor(zm, dtype=torch.float32).view(1, 192, 1))
        model.z_std.copy_(torch.tensor(zs, dtype=torch.float32).view(1, 192, 1))
    print(f"{sum(p.numel() for p in model.parameters())} parameters; {len(data.train)} train utts", flush=True)
    rng = np.random.default_rng(step)
    sched = lambda s: args.lr * min(1.0, (s + 1) / 200) * 0.5 * (1 + np.cos(np.pi * min(s, args.steps) / args.steps))
    t0, losses = time.perf_counter(), []
    while step < args.steps:
        if step % 500 == 0:
            data.refresh()
        for g in opt.param_groups:
            g["lr"] = float(sched(step))
        mel, z = data.batch(rng, args.batch, args.frames)
        mel_t, z_t = torch.from_numpy(mel), torch.from_numpy(z)
        pred = model.normalised((mel_t - model.mel_mean) / model.mel_std)
        loss = (pred - (z_t - model.z_mean) / model.z_std).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % args.every == 0 or step == args.steps:
            val = validate(model, data)
            print(f"step {step} loss {np.mean(losses):.4f} val {val:.4f} lr {sched(step):.2e} "
                  f"{len(data.train)} utts {(time.perf_counter() - t0) / len(losses):.3f} s/step", flush=True)
            losses, t0 = [], time.perf_counter()
            save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                         "channels": args.channels}, ckpt_path)


def validate(model, data: Data) -> float:  # type: ignore[no-untyped-def]
    import torch

    with torch.no_grad():
        errs = []
        for mel, z, *_ in data.val[:20]:
            m = torch.from_numpy(mel.astype(np.float32))[None]
            zn = (torch.from_numpy(z.astype(np.float32))[None] - model.z_mean) / model.z_std
            errs.append(float((model.normalised((m - model.mel_mean) / model.mel_std) - zn).abs().mean()))
    return float(np.mean(errs)) if errs else float("nan")


# ------------------------------------------------------------------ fine-tuning through HiFi-GAN


def onnx_to_torch(path: Path):  # type: ignore[no-untyped-def]
    """A differentiable torch function running a HiFi-GAN ONNX graph (Conv, ConvTranspose,
    LeakyRelu, Add, Div, Tanh): weights frozen, gradients flow to the input."""
    import onnx
    import torch
    import torch.nn.functional as F
    from onnx import numpy_helper

    model = onnx.load(str(path))
    consts = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = torch.from_numpy(numpy_helper.to_array(n.attribute[0].t).copy())
    nodes = [n for n in model.graph.node if n.op_type != "Constant"]
    (inp,) = [i.name for i in model.graph.input if i.name not in consts]
    (out,) = [o.name for o in model.graph.output]
    attrs = [{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute} for n in nodes]

    def run(x: torch.Tensor) -> torch.Tensor:
        env = dict(consts)
        env[inp] = x
        for n, a in zip(nodes, attrs, strict=True):
            args = [env[i] for i in n.input if i]
            op = n.op_type
            if op == "Conv":
                pb, pe = a.get("pads", [0, 0])
                y = F.conv1d(F.pad(args[0], (pb, pe)), args[1], args[2] if len(args) > 2 else None,
                             stride=a.get("strides", [1])[0], dilation=a.get("dilations", [1])[0], groups=a.get("group", 1))
            elif op == "ConvTranspose":
                pb, pe = a.get("pads", [0, 0])
                y = F.conv_transpose1d(args[0], args[1], args[2] if len(args) > 2 else None,
                                       stride=a.get("strides", [1])[0], output_padding=a.get("output_padding", [0])[0],
                                       groups=a.get("group", 1), dilation=a.get("dilations", [1])[0])
                y = y[..., pb : y.shape[-1] - pe]
            elif op == "LeakyRelu":
                y = F.leaky_relu(args[0], a.get("alpha", 0.01))
            elif op == "Add":
                y = args[0] + args[1]
            elif op == "Div":
                y = args[0] / args[1]
            elif op == "Tanh":
                y = torch.tanh(args[0])
            else:
                raise ValueError(f"op {op} is not supported by this small interpreter")
            env[n.output[0]] = y
        return env[out]

    return run


def torch_log_mel():  # type: ignore[no-untyped-def]
    """voicestack.dsp.mel's log_mel in torch (same framing, filterbank and clamp)."""
    import torch

    from voicestack.dsp.mel import MelSettings, frame_padding, mel_filterbank, window

    s = MelSettings()
    fb = torch.from_numpy(mel_filterbank(s))
    win = torch.from_numpy(window(s).astype(np.float32))
    left, right = frame_padding(s)

    def run(audio: torch.Tensor) -> torch.Tensor:  # [B, S] -> [B, 80, S // 256]
        x = torch.nn.functional.pad(audio[:, None], (left, right), mode="reflect")[:, 0]
        spec = torch.stft(x, s.n_fft, s.hop_length, window=win, center=False, return_complex=True)
        mag = (spec.real**2 + spec.imag**2 + 1e-12).sqrt()
        return torch.log(torch.clamp(fb @ mag, min=s.clamp))

    return run


STFT_SIZES = (512, 1024, 2048)


def stft_loss(got, want):  # type: ignore[no-untyped-def]
    """Multi-resolution STFT loss (spectral convergence + L1 of log magnitude, floored at
    1e-3, about the int16 noise floor of the stored audio, so silence does not dominate) at
    ``STFT_SIZES``, hop a quarter of the size: [B, S] audio against [B, S] audio."""
    import torch

    total = got.new_zeros(())
    for n in STFT_SIZES:
        win = torch.hann_window(n)
        mags = [torch.stft(x, n, n // 4, window=win, return_complex=True).abs().clamp_min(1e-3) for x in (got, want)]
        conv = torch.linalg.norm(mags[1] - mags[0]) / torch.linalg.norm(mags[1])
        total = total + conv + (mags[0].log() - mags[1].log()).abs().mean()
    return total / len(STFT_SIZES)


def finetune(args: argparse.Namespace) -> None:
    """Phase 2: mel2z trained through joe's frozen HiFi-GAN against joe's own audio
    (multi-resolution STFT loss, + ``--ft-mel-weight`` x the L1 distance of the output's
    log-mel to the input mel, + ``--ft-z-weight`` x the z loss), from phase 1's weights.

    Each crop is ``--ft-frames`` frames of z, computed from the mel with the network's whole
    receptive radius of context, so z is exactly what streaming computes; the audio loss
    skips ``edge`` frames at each end, where HiFi-GAN sees the crop's zero padding."""
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    ft_path = args.work / "ckpt_ft.pt"
    start = ft_path if ft_path.exists() else (args.ft_from or args.work / "ckpt.pt")
    ckpt = torch.load(start, weights_only=True)
    dilations = tuple(ckpt.get("dilations", DILATIONS))
    grow = () if start == ft_path else tuple(args.ft_grow)
    model = make_model(int(ckpt.get("channels", args.channels)), dilations + grow)
    missing, unexpected = model.load_state_dict(ckpt["model"], strict=False)
    if unexpected or any(not k.startswith("blocks.") for k in missing):
        raise SystemExit(f"{start} does not fit the network: missing {missing}, unexpected {unexpected}")
    for conv in model.blocks[len(dilations):]:  # grown blocks start as the identity
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    dilations += grow
    step = int(ckpt.get("ft_step", 0)) if start == ft_path else 0
    opt = torch.optim.AdamW(model.parameters(), lr=args.ft_lr, weight_decay=1e-4)
    if start == ft_path:
        opt.load_state_dict(ckpt["opt"])
    hifigan = onnx_to_torch(args.hifigan)
    mel_fn = torch_log_mel()
    data = Data(args.data, args.max_utts, audio=True)
    rng = np.random.default_rng(1000 + step)
    crop, ctx, edge = args.ft_frames, receptive_radius(dilations), 12
    print(f"fine-tuning from {start.name} at step {step}; dilations {dilations} (receptive radius {ctx}); "
          f"{len(data.train)} utts", flush=True)

    def run(mel_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zn = model.normalised((mel_t - model.mel_mean) / model.mel_std)[..., ctx : mel_t.shape[-1] - ctx]
        return zn, hifigan(zn * model.z_std + model.z_mean)[:, 0]

    t0, losses = time.perf_counter(), []
    while step < args.ft_steps:
        lr = args.ft_lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + np.cos(np.pi * step / args.ft_steps))
        for g in opt.param_groups:
            g["lr"] = float(lr)
        mel, z, audio = data.batch(rng, args.ft_batch, crop, context=ctx)
        mel_t = torch.from_numpy(mel)
        zn, got = run(mel_t)
        z_loss = (zn - (torch.from_numpy(z) - model.z_mean) / model.z_std).abs().mean()
        cut = slice(edge * 256, (crop - edge) * 256)
        a_loss = stft_loss(got[:, cut], torch.from_numpy(audio)[:, cut])
        mel_loss = (mel_fn(got)[..., edge : crop - edge] - mel_t[..., ctx + edge : ctx + crop - edge]).abs().mean()
        loss = a_loss + args.ft_z_weight * z_loss + args.ft_mel_weight * mel_loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append((a_loss.item(), mel_loss.item(), z_loss.item()))
        step += 1
        if step % args.ft_every == 0 or step == args.ft_steps:
            al, ml, zl = np.mean(losses, axis=0)
            with torch.no_grad():
                val = []
                for mel_v, _, audio_v in data.val[:8]:
                    m = np.pad(mel_v.astype(np.float32), ((0, 0), (ctx, ctx)), constant_values=np.log(1e-5))
                    val.append(stft_loss(run(torch.from_numpy(m)[None])[1], torch.from_numpy(audio_v[None] / 32768.0)).item())
            print(f"ft step {step} stft {al:.4f} mel {ml:.4f} z {zl:.4f} val-stft {np.mean(val):.4f} lr {lr:.2e} "
                  f"{(time.perf_counter() - t0) / len(losses):.2f} s/step", flush=True)
            losses, t0 = [], time.perf_counter()
            save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "step": int(ckpt["step"]),
                         "ft_step": step, "channels": model.pre.out_channels, "dilations": dilations}, ft_path)


def export(args: argparse.Namespace) -> None:
    import onnx
    import torch

    ft = args.work / "ckpt_ft.pt"
    ckpt = torch.load(ft if ft.exists() else args.work / "ckpt.pt", weights_only=True)
    dilations = tuple(ckpt.get("dilations", DILATIONS))
    model = make_model(int(ckpt["channels"]), dilations)
    model.load_state_dict(ckpt["model"])
    model.eval()
    args.export.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.export.with_name(f".{args.export.name}.tmp")
    torch.onnx.export(model, (torch.zeros(1, 80, 64),), str(tmp), input_names=["mel"], output_names=[args.target],
                      dynamic_axes={"mel": {2: "F"}, args.target: {2: "F"}}, opset_version=17, dynamo=False)
    m = onnx.load(str(tmp))
    m.producer_name, m.producer_version = "voicestack recipes/train_mel2z.py", str(ckpt["step"])
    m.doc_string = json.dumps({"step": int(ckpt["step"]), "ft_step": int(ckpt.get("ft_step", 0)),
                               "receptive_radius": receptive_radius(dilations)})
    onnx.save(m, str(tmp))
    os.replace(tmp, args.export)
    print(f"exported step {ckpt['step']} to {args.export} ({args.export.stat().st_size / 1e6:.2f} MB)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data/mel"))
    ap.add_argument("--work", type=Path, default=Path("data/mel2z"))
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--channels", type=int, default=192)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-utts", type=int, default=6000)
    ap.add_argument("--target", choices=("z", "z_p"), default="z",
                    help="z: joe's latent entering HiFi-GAN; z_p: joe's prior (decoded by joe's flow, then HiFi-GAN)")
    ap.add_argument("--export", type=Path, default=None, help="export the checkpoint to this ONNX file and exit")
    ap.add_argument("--finetune", action="store_true",
                    help="phase 2: train through joe's frozen HiFi-GAN against joe's audio (ckpt_ft.pt)")
    ap.add_argument("--hifigan", type=Path, default=None, help="hifigan.onnx (default: joe's, from the voice cache)")
    ap.add_argument("--ft-steps", type=int, default=3000)
    ap.add_argument("--ft-batch", type=int, default=4)
    ap.add_argument("--ft-frames", type=int, default=96)
    ap.add_argument("--ft-lr", type=float, default=3e-4)
    ap.add_argument("--ft-z-weight", type=float, default=0.1)
    ap.add_argument("--ft-mel-weight", type=float, default=0.0)
    ap.add_argument("--ft-every", type=int, default=50)
    ap.add_argument("--ft-from", type=Path, default=None,
                    help="start phase 2 from this checkpoint (phase 1's or an earlier phase 2's) "
                         "instead of WORK/ckpt.pt; WORK/ckpt_ft.pt, once written, always wins (resume)")
    ap.add_argument("--ft-grow", type=lambda v: [int(d) for d in v.split(",") if d], default=[],
                    help="append residual blocks with these dilations (e.g. 1,2,1), starting as the identity")
    args = ap.parse_args(argv)
    if args.export is not None:
        export(args)
    elif args.finetune:
        if args.hifigan is None:
            from voicestack.builtins_mel import joe_network
            from voicestack.catalog import builtin_dir

            args.hifigan = joe_network("hifigan.onnx", builtin_dir("joe"), args.work)
        finetune(args)
    else:
        train(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
