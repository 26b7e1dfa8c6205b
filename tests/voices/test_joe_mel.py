"""joe-mel, the FastSpeech-style mel voice: contracts, exact streaming, durations, audio."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import voicestack
from voicestack.addon import read_manifest
from voicestack.dsp import MelSettings
from voicestack.testing import run_stack, snr_db
from voicestack.voice import Voice, validate_stack

JOE_MEL = Path(voicestack.__file__).parent / "addons_data" / "joe-mel"
RECEPTIVE_HALF = 28  # frames each side the mel decoder sees (recipes/train_fastspeech.py)
TEXT = "Hello there, the quick brown fox jumps over the lazy dog"  # one piece, several decoder windows


def _ids(manifest: Any) -> dict[str, np.ndarray]:
    (piece,) = list(Voice.load(manifest.root).frontend.pieces(TEXT))
    return dict(piece.tensors)


def _stack(manifest: Any, name: str = "griffin-lim", decoder: dict[str, Any] | None = None,
           vocoder: bool = True) -> list[dict[str, Any]]:
    stack = copy.deepcopy(manifest.stacks[name])
    blocks = stack[0]["streamable_block"]["stack"]
    if decoder is not None:
        blocks[1].update(decoder)
    if not vocoder:
        del blocks[2:]
    return stack


WHOLE = {"first_window": 100000, "max_window": 100000, "context": 0}
SMALL = {"first_window": 3, "max_window": 20, "growth": 2.0, "context": 32}


def test_addon_validates_and_declares_joe_mel_settings() -> None:
    manifest = read_manifest(JOE_MEL)
    assert MelSettings.from_json(dict(manifest.mel or {})) == MelSettings()  # 22050 / 1024 / 256 / 80 slaney ln
    validate_stack(manifest, "griffin-lim")
    validate_stack(manifest)
    stack = manifest.stacks["default"][0]["streamable_block"]["stack"]
    assert stack[0] == {"type": "Upsampler", "durations": "w_ceil", "mean": "h", "log_scale": None,
                        "output": "h_frames"}
    assert stack[1]["network"] == "mel_decoder" and stack[1]["context"] >= RECEPTIVE_HALF
    assert manifest.frontend["type"] == "espeak" and len(manifest.frontend["phoneme_id_map"]) > 100
    total = sum(p.stat().st_size for p in JOE_MEL.iterdir())
    assert total < 12 * 2**20


def test_mel_frames_equal_sum_of_durations() -> None:
    import onnxruntime as ort

    manifest = read_manifest(JOE_MEL)
    tensors = _ids(manifest)
    enc = ort.InferenceSession(str(JOE_MEL / "encoder.onnx"), providers=["CPUExecutionProvider"])
    for length_scale in (1.0, 1.5):
        _, w = enc.run(None, {**tensors, "scales": np.asarray([0.667, length_scale, 0.8], np.float32)})
        assert np.all(w == np.round(w)) and np.all(w >= 1)
        run = run_stack(manifest, tensors, stack=_stack(manifest, vocoder=False), params={"length_scale": length_scale})
        mel = run.joined("mel")
        assert mel.shape[:2] == (1, 80)
        assert mel.shape[2] == int(w.sum())
    # padding beyond input_lengths gets no frames
    padded = {"input": np.concatenate([tensors["input"], np.zeros((1, 5), np.int64)], axis=1),
              "input_lengths": tensors["input_lengths"], "scales": np.asarray([0.667, 1.0, 0.8], np.float32)}
    _, w_pad = enc.run(None, padded)
    assert np.all(w_pad[0, 0, -5:] == 0)


def test_mel_decoder_windows_stream_exactly() -> None:
    manifest = read_manifest(JOE_MEL)
    tensors = _ids(manifest)
    whole = run_stack(manifest, tensors, stack=_stack(manifest, decoder=WHOLE, vocoder=False)).joined("mel")
    streamed = run_stack(manifest, tensors, stack=_stack(manifest, decoder=SMALL, vocoder=False))
    assert len(streamed.chunks) > 5
    assert snr_db(whole - whole.mean(), streamed.joined("mel") - whole.mean()) >= 60.0
    default = run_stack(manifest, tensors, stack=_stack(manifest, vocoder=False)).joined("mel")
    assert snr_db(whole - whole.mean(), default - whole.mean()) >= 60.0


@pytest.mark.parametrize("stack_name", ["griffin-lim", "default"])
def test_vocoder_windows_stream_exactly(stack_name: str) -> None:
    """The stack's vocoder block on joe-mel's (whole) mel: chunk by chunk == all at once."""
    from voicestack.blocks import Request
    from voicestack.assembly import vocoder as vocoder_block
    from voicestack.dsp import MelSettings

    manifest = read_manifest(JOE_MEL)
    entry = manifest.stacks[stack_name][0]["streamable_block"]["stack"][2]
    assert entry["type"] == "Vocoder"
    params = {k: v for k, v in entry.items() if k not in ("type", "addon")}
    mel = run_stack(manifest, _ids(manifest), stack=_stack(manifest, decoder=WHOLE, vocoder=False)).joined("mel")

    def vocode(chunk: int) -> np.ndarray:
        block = vocoder_block(entry["addon"], MelSettings.from_json(dict(manifest.mel or {})), **params)
        parts = ({"mel": mel[..., i : i + chunk]} for i in range(0, mel.shape[-1], chunk))
        return np.concatenate([c["audio"].reshape(-1) for c in block.stream(parts, {}, Request())])

    whole, streamed = vocode(mel.shape[-1]), vocode(5)
    assert whole.size == mel.shape[-1] * manifest.mel["hop_length"]
    assert snr_db(whole, streamed) >= 60.0


@pytest.mark.parametrize("stack_name", ["griffin-lim", "default"])
def test_audio_streams_end_to_end(stack_name: str) -> None:
    """Small mel-decoder windows + the vocoder vs one window: the seams do not show.

    Griffin-Lim's 32 phase iterations amplify the mel decoder's float-rounding differences
    (~1e-6, >130 dB) to ~60 dB, so its end-to-end bound is looser than the neural vocoder's.
    """
    manifest = read_manifest(JOE_MEL)
    tensors = _ids(manifest)
    whole = run_stack(manifest, tensors, stack=_stack(manifest, stack_name, decoder=WHOLE)).joined("audio")
    streamed = run_stack(manifest, tensors, stack=_stack(manifest, stack_name, decoder=SMALL))
    assert len(streamed.chunks) > 1
    griffin_lim = manifest.stacks[stack_name][0]["streamable_block"]["stack"][2]["addon"] == "griffin-lim"
    assert snr_db(whole, streamed.joined("audio")) >= (40.0 if griffin_lim else 60.0)


def test_a_sentence_gives_speech_like_audio() -> None:
    manifest = read_manifest(JOE_MEL)
    voice = Voice.load(JOE_MEL, profile={"stack": "default"})
    audio = voice.synthesize("Hello there, this is a test.", seed=1).audio
    assert audio.dtype == np.float32 and np.all(np.abs(audio) <= 1.0)
    seconds = audio.size / manifest.sample_rate
    assert 0.8 < seconds < 4.0
    frames = audio[: audio.size // 1024 * 1024].reshape(-1, 1024)
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))
    assert rms.max() > 0.02  # not silent
    assert (rms > 0.1 * rms.max()).mean() > 0.3  # sound across the utterance, not one click
    assert json.loads((JOE_MEL / "addon.json").read_text())["name"] == "joe-mel"
