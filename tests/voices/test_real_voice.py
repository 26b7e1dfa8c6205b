"""End to end with the real joe voice (Piper VITS from PyPI), split into blocks."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from voicestack.errors import RequestError
from voicestack.testing import build_stack, snr_db

SHORT = "Hello there."
LONG = ("The quick brown fox, who had been running since dawn, finally stopped beside the river "
        "and looked back at the hills, wondering whether the hunters would follow him this far "
        "into the valley before the sun went down")

SCHEDULES = [
    {},  # the shipped one
    {"first_window": 8, "max_window": 8, "growth": 1.0},  # many tiny windows
    {"first_window": 40, "max_window": 100, "growth": 1.5},
]


def _stack_with(joe_dir: Path, **schedule: object) -> list:
    """joe's stack with every windowed decoder (flow, HiFi-GAN) on another schedule."""
    stack = json.loads((joe_dir / "addon.json").read_text())["stack"]
    decoders = [b for b in stack[0]["streamable_block"]["stack"] if b["type"] == "Decoder"]
    assert [d["network"] for d in decoders] == ["flow", "hifigan"]
    for block in decoders:
        block.update(schedule)
    return stack


def _ids(piece) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(i) for i in piece.tensors["input"][0]]


def _speak(voice, block, text: str, **params: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    req = voice.request(seed=params.pop("seed", 7), **params)
    out = []
    for number, piece in enumerate(voice.frontend.pieces(text)):
        req.piece = number
        out.extend(c["audio"].reshape(-1) for c in block.stream(None, dict(piece.tensors), req))
    return np.concatenate(out)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=["shipped", "tiny-windows", "odd-windows"])
@pytest.mark.parametrize("text", [SHORT, LONG], ids=["short", "long"])
def test_split_matches_monolithic(joe, joe_dir, joe_monolithic, schedule, text) -> None:  # type: ignore[no-untyped-def]
    block = build_stack(joe_dir, _stack_with(joe_dir, **schedule))
    streamed = _speak(joe, block, text, noise_scale=0.0, noise_w=0.0)
    reference = np.concatenate([joe_monolithic(_ids(p)) for p in joe.frontend.pieces(text)])
    assert streamed.size == reference.size
    assert snr_db(reference, streamed) >= 60.0


def test_seed_gives_one_audio_whatever_the_schedule(joe, joe_dir) -> None:  # type: ignore[no-untyped-def]
    runs = [_speak(joe, build_stack(joe_dir, _stack_with(joe_dir, **s)), LONG, seed=123) for s in SCHEDULES]
    for other in runs[1:]:
        assert other.size == runs[0].size
        assert snr_db(runs[0], other) >= 60.0
    assert not np.array_equal(runs[0], _speak(joe, build_stack(joe_dir), LONG, seed=124)[: runs[0].size])


def test_first_chunk_is_small_and_early(joe) -> None:  # type: ignore[no-untyped-def]
    stream = joe.stream(LONG + ". " + LONG, seed=1)
    first = next(stream)
    assert first.sample_rate == 22050
    assert first.audio.dtype == np.float32
    assert first.audio.size == 8 * 256  # HiFi-GAN's first window: 8 frames (93 ms)
    rest = sum(c.audio.size for c in stream)
    assert rest > 50 * first.audio.size


def test_say_writes_a_wav_matching_monolithic_length(tmp_path, joe_dir, joe, joe_monolithic) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out.wav"
    text = "Speech engineers ship voices. This one streams!"
    proc = subprocess.run(
        [sys.executable, "-m", "voicestack.cli", "say", text, "-o", str(out), "-v", str(joe_dir),
         "--noise-scale", "0", "--noise-w", "0", "--seed", "3"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with wave.open(str(out)) as wav:
        assert wav.getframerate() == 22050 and wav.getnchannels() == 1 and wav.getsampwidth() == 2
        frames = wav.getnframes()
        pcm = np.frombuffer(wav.readframes(frames), "<i2").astype(np.float32) / 32767
    reference = np.concatenate([joe_monolithic(_ids(p)) for p in joe.frontend.pieces(text)])
    assert abs(frames - reference.size) <= 256
    assert snr_db(np.clip(reference, -1, 1), pcm) > 35  # 16-bit quantisation bounds this


def test_raw_pcm_streams_from_stdin(joe_dir) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run([sys.executable, "-m", "voicestack.cli", "say", "-", "--raw", "-v", str(joe_dir), "--seed", "1"],
                          input=b"Good morning.", capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    samples = np.frombuffer(proc.stdout, "<i2")
    assert 0.4 * 22050 < samples.size < 3 * 22050
    assert np.abs(samples).max() > 1000


@pytest.mark.parametrize("text", ["", "   \n\t ", "?!... --- ,,,", "\x00\x01\x02"])
def test_nothing_to_say_is_a_clear_error(joe, text: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RequestError, match="nothing to speak"):
        list(joe.stream(text))


@pytest.mark.parametrize("text", ["Caf\u00e9 \u4f60\u597d \U0001F600 na\u00efve \u0394elta.", "Tab\tand\x07bell\x1b[31m red."])
def test_odd_characters_give_speech(joe, text: str) -> None:  # type: ignore[no-untyped-def]
    audio = joe.synthesize(text, seed=0).audio
    assert audio.size > 0.3 * 22050
    assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0


def test_100kb_text_streams_without_waiting_for_the_end(joe) -> None:  # type: ignore[no-untyped-def]
    text = ("This sentence is repeated to make a very long text, and it keeps going. " * 1400)[:100_000]
    start = time.perf_counter()
    stream = joe.stream(text, seed=0)
    first = next(stream)
    took = time.perf_counter() - start
    stream.close()
    assert first.audio.size > 0
    assert took < 20  # generous: only the first sentence is phonemised and encoded (no timing claim)


def test_one_endless_sentence_is_one_piece_encoded_in_parts_between_words(joe) -> None:  # type: ignore[no-untyped-def]
    from voicestack.components.parts import split_points

    text = " ".join(["banana"] * 300)  # ~2,100 ids, no punctuation at all
    pieces = [_ids(p) for p in joe.frontend.pieces(text)]
    assert len(pieces) == 1  # one sentence: one intonation, no pause inserted
    limit = joe.frontend.encode_limit()
    parts, forced = split_points(np.asarray(pieces[0]), limit, joe.frontend)
    assert forced == 0 and len(parts) == -(-len(pieces[0]) // limit)  # as few parts as fit
    space = joe.manifest.frontend["phoneme_id_map"][" "][0]
    for a, b in parts:
        assert b - a <= limit
        assert pieces[0][b - 2] == space or b == len(pieces[0])  # each cut falls after a word


@pytest.mark.parametrize("field,value", [("length_scale", 0.0), ("noise_scale", -1.0), ("noise_w", float("nan"))])
def test_bad_parameters_name_the_field(joe, field: str, value: float) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RequestError) as err:
        joe.stream("Hi.", **{field: value})
    assert err.value.field == field
