#!/usr/bin/env python
"""Speak a text set with joe through voicestack and store mel-model training data.

Each line of the text file is cut into pieces by joe's front-end (one per sentence);
every piece is one utterance. For each we keep what joe's own stack computed:

    ids        int16  [T]        phoneme ids (the front-end's piece)
    durations  int16  [T]        joe's w_ceil: frames per id (sum = F)
    mel        float32 [80, F]   log-mel of joe's audio (voicestack.dsp.mel, 22050/1024/256/80)
    z          float16 [192, F]  joe's latent entering HiFi-GAN (flow^-1 of the upsampled prior)
    audio      int16  [256 F]    joe's audio (whole-utterance decoding through the stack)

and, with ``--add-prior``, a sidecar ``shard-K.prior.npz`` holding ``z_p`` float16
[192, sum F]: joe's upsampled prior (m_p + noise), recomputed from the same seeds.

Shards ``OUT/{split}/shard-{k:05d}.npz`` hold the utterances of lines
``[k*lines_per_shard, (k+1)*lines_per_shard)`` of the split, concatenated along their last
axis with ``*_len`` arrays to cut them apart (see ``load_shard``); written atomically, so
a rerun skips finished shards (resumable). ``OUT/meta.json`` records the settings.

Split: line index (0-based, in the file) % 20 == 0 is TEST, everything else TRAIN.
Randomness: noise_scale 0.667, noise_w 0.8, length_scale 1.0 (joe's defaults), request
seed = the line's index, so every utterance is reproducible on its own.

    nice -n 10 python recipes/make_mel_data.py --split train --out data/mel
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_TEXTS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "ljspeech-texts.txt"
HOP = 256


def split_lines(lines: list[str], split: str) -> list[tuple[int, str]]:
    keep = (lambda i: i % 20 == 0) if split == "test" else (lambda i: i % 20 != 0)
    return [(i, t.strip()) for i, t in enumerate(lines) if keep(i) and t.strip()]


def load_shard(path: Path) -> list[dict[str, np.ndarray]]:
    """The utterances of one shard as dicts (ids, durations, mel, z, audio, line, piece, text)."""
    with np.load(path, allow_pickle=False) as d:
        data = {k: d[k] for k in d.files}
    out = []
    offs = {k: np.concatenate([[0], np.cumsum(data[f"{k}_len"])]) for k in ("ids", "frames")}
    for n in range(len(data["line"])):
        a, b = offs["ids"][n], offs["ids"][n + 1]
        f0, f1 = offs["frames"][n], offs["frames"][n + 1]
        out.append({
            "line": data["line"][n], "piece": data["piece"][n], "text": data["text"][n],
            "ids": data["ids"][a:b].astype(np.int64), "durations": data["durations"][a:b].astype(np.int64),
            "mel": data["mel"][:, f0:f1], "z": data["z"][:, f0:f1],
            "audio": data["audio"][f0 * HOP : f1 * HOP],
        })
    return out


class JoeSpeaker:
    """joe's stack, opened block by block so the prior's frames can be kept on the way."""

    def __init__(self, threads: int, flow_dir: Path) -> None:
        import onnxruntime as ort

        import voicestack
        from voicestack.blocks import StreamablePipeline, StreamableStack
        from voicestack.importers.vits import split_vits_decoder
        from voicestack.catalog import builtin_dir
        from voicestack.components.decoders import Decoder
        from voicestack.components.upsampler import Upsampler

        self.voice = voicestack.load_voice("joe", profile={"threads": threads})
        root = self.voice.root
        assert isinstance(root, StreamablePipeline) and isinstance(root.streamable_block, StreamableStack)
        blocks = root.streamable_block.blocks
        assert isinstance(blocks[0], Upsampler) and all(isinstance(b, Decoder) for b in blocks[1:])
        self.encoders, self.upsampler = root.sequence_block, blocks[0]
        self.flow = None
        if len(blocks) == 3:  # importer v2: Upsampler -> Decoder(flow) -> Decoder(hifigan): z streams between
            self.flow_block, self.decoder = blocks[1], blocks[2]
            return
        self.flow_block, self.decoder = None, blocks[1]  # importer v1: one decoder; z from the flow cut out of it
        flow = flow_dir / "flow.onnx"
        if not flow.is_file():
            split_vits_decoder(builtin_dir("joe") / "decoder.onnx", flow_dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.flow = ort.InferenceSession(str(flow), opts, providers=["CPUExecutionProvider"])

    def prior(self, line: int, text: str, params: dict[str, float]) -> list[np.ndarray]:
        """joe's upsampled prior z_p [192, F] per piece: the same seeded draws as ``speak``."""
        req = self.voice.request(seed=line, **params)
        out = []
        for piece, ids in enumerate(self.voice.frontend.pieces(text)):
            req.piece = piece
            tensors = {"input": np.asarray([ids], np.int64), "input_lengths": np.asarray([len(ids)], np.int64)}
            encoded = {**tensors, **self.encoders.run(dict(tensors), req)}
            z_p = np.concatenate([c["z_p"] for c in self.upsampler.stream(None, encoded, req)], axis=-1)
            out.append(z_p[0])
        return out

    def speak(self, line: int, text: str, params: dict[str, float]) -> list[dict[str, np.ndarray]]:
        from voicestack.dsp import MelSettings, log_mel

        settings = MelSettings()
        req = self.voice.request(seed=line, **params)
        out = []
        for piece, ids in enumerate(self.voice.frontend.pieces(text)):
            req.piece = piece
            tensors = {"input": np.asarray([ids], np.int64), "input_lengths": np.asarray([len(ids)], np.int64)}
            encoded = {**tensors, **self.encoders.run(dict(tensors), req)}
            kept: list[np.ndarray] = []
            key = "z_p" if self.flow_block is None else "z"

            def tee(stream, kept=kept, key=key):  # keep z_p (v1) or z (v2) on its way to the next block
                for chunk in stream:
                    kept.append(chunk[key])
                    yield chunk

            frames = self.upsampler.stream(None, encoded, req)
            if self.flow_block is not None:
                frames = self.flow_block.stream(frames, encoded, req)
            chunks = self.decoder.stream(tee(frames), encoded, req)
            audio = np.concatenate([c["audio"].reshape(-1) for c in chunks]).astype(np.float32)
            z = np.concatenate(kept, axis=-1)
            if self.flow is not None:
                (z,) = self.flow.run(None, {"z_p": z})
            durations = np.rint(encoded["w_ceil"].reshape(-1)).astype(np.int64)
            frames = int(durations.sum())
            assert z.shape[-1] == frames and audio.size == frames * HOP, (z.shape, audio.size, frames)
            audio = np.clip(audio, -1.0, 1.0)
            out.append({
                "line": line, "piece": piece, "text": text, "ids": np.asarray(ids, np.int64),
                "durations": durations, "mel": log_mel(audio, settings), "z": z[0].astype(np.float16),
                "audio": np.round(audio * 32767).astype(np.int16),
            })
        return out


def save_shard(path: Path, utts: list[dict[str, np.ndarray]]) -> None:
    arrays = {
        "line": np.array([u["line"] for u in utts], np.int32),
        "piece": np.array([u["piece"] for u in utts], np.int32),
        "text": np.array([u["text"] for u in utts], dtype=str),
        "ids": np.concatenate([u["ids"] for u in utts]).astype(np.int16),
        "ids_len": np.array([u["ids"].size for u in utts], np.int32),
        "durations": np.concatenate([u["durations"] for u in utts]).astype(np.int16),
        "frames_len": np.array([u["mel"].shape[1] for u in utts], np.int32),
        "mel": np.concatenate([u["mel"] for u in utts], axis=1).astype(np.float32),
        "z": np.concatenate([u["z"] for u in utts], axis=1).astype(np.float16),
        "audio": np.concatenate([u["audio"] for u in utts]).astype(np.int16),
    }
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def add_priors(out: Path, speaker: JoeSpeaker, params: dict[str, float]) -> int:
    """Write ``shard-K.prior.npz`` (z_p float16 [192, sum F]) beside every finished shard lacking one."""
    done = 0
    for path in sorted(out.glob("shard-?????.npz")):
        side = path.with_name(path.stem + ".prior.npz")
        if side.exists():
            continue
        with np.load(path, allow_pickle=False) as d:
            lines, pieces, texts, frames = d["line"], d["piece"], d["text"], d["frames_len"]
        parts, cache = [], {}
        for line, piece, text, f in zip(lines, pieces, texts, frames, strict=True):
            if line not in cache:
                cache = {line: speaker.prior(int(line), str(text), params)}
            z_p = cache[line][piece]
            assert z_p.shape[-1] == f, (path, line, piece, z_p.shape, f)
            parts.append(z_p)
        tmp = side.with_name(f".{side.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, z_p=np.concatenate(parts, axis=1).astype(np.float16))
        os.replace(tmp, side)
        done += 1
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--texts", type=Path, default=DEFAULT_TEXTS)
    ap.add_argument("--out", type=Path, default=Path("data/mel"))
    ap.add_argument("--split", choices=("train", "test"), default="train")
    ap.add_argument("--limit", type=int, default=None, help="at most this many lines of the split")
    ap.add_argument("--lines-per-shard", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--noise-scale", type=float, default=0.667)
    ap.add_argument("--noise-w", type=float, default=0.8)
    ap.add_argument("--length-scale", type=float, default=1.0)
    ap.add_argument("--add-prior", action="store_true",
                    help="only write shard-K.prior.npz (joe's prior z_p, recomputed) beside finished shards")
    args = ap.parse_args(argv)
    from tqdm import tqdm

    from voicestack.dsp import MelSettings

    lines = split_lines(args.texts.read_text(encoding="utf-8").splitlines(), args.split)
    if args.limit is not None:
        lines = lines[: args.limit]
    out = args.out / args.split
    out.mkdir(parents=True, exist_ok=True)
    params = {"noise_scale": args.noise_scale, "noise_w": args.noise_w, "length_scale": args.length_scale}
    meta = {"mel": MelSettings().to_json(), "voice": "joe", "inference": params, "seed": "line index",
            "split": "line % 20 == 0 is test", "texts": str(args.texts.resolve()), "hop_length": HOP,
            "lines_per_shard": args.lines_per_shard,
            "arrays": {"ids": "int16 [sum T]", "durations": "int16 [sum T]", "mel": "float32 [80, sum F]",
                       "z": "float16 [192, sum F]", "audio": "int16 [256 sum F]", "ids_len": "T per utt",
                       "frames_len": "F per utt", "line": "line index in texts", "piece": "sentence in line",
                       "text": "the line"}}
    if args.add_prior:
        n = add_priors(out, JoeSpeaker(args.threads, args.out / "joe-split"), params)
        print(f"{n} prior sidecars written in {out}")
        return 0
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    n = args.lines_per_shard
    shards = [(k, lines[k * n : (k + 1) * n]) for k in range((len(lines) + n - 1) // n)]
    todo = [(k, part) for k, part in shards if not (out / f"shard-{k:05d}.npz").exists()]
    print(f"{len(lines)} {args.split} lines, {len(shards)} shards, {len(shards) - len(todo)} already done", flush=True)
    if not todo:
        return 0
    speaker = JoeSpeaker(args.threads, args.out / "joe-split")
    bar = tqdm(total=sum(len(p) for _, p in todo), unit="line", file=sys.stderr, mininterval=10)
    start, audio_s = time.perf_counter(), 0.0
    for k, part in todo:
        utts = []
        for line, text in part:
            utts.extend(speaker.speak(line, text, params))
            bar.update(1)
        save_shard(out / f"shard-{k:05d}.npz", utts)
        audio_s += sum(u["audio"].size for u in utts) / 22050
        wall = time.perf_counter() - start
        print(f"shard {k}: {len(utts)} utts; {audio_s / 3600:.2f} h audio in {wall / 60:.1f} min "
              f"({audio_s / wall:.2f}x real time)", flush=True)
    bar.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
