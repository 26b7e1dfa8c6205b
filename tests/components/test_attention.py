"""AttentionDecoder: guards end crafted failures cleanly; chunking never changes frames.

The networks come from ``scripts/make_attention_test_networks.py`` (tests/data/tiny_attention).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voicestack.addon import read_manifest
from voicestack.components.attention import AttentionFailure
from voicestack.errors import SpecError, SynthesisCancelled
from voicestack.testing import build_stack, run_stack, snr_db
from voicestack.voice import Voice

DATA = Path(__file__).parents[1] / "data" / "tiny_attention"
TEXT = "hello there, how are you today? fine, thanks."


def ids_for(text: str) -> dict[str, np.ndarray]:
    vocab = "abcdefghijklmnopqrstuvwxyz ,.!?'"
    ids = [vocab.index(c) + 1 for c in text if c in vocab]
    return {"input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64)}


def stack_for(variant: str, **decoder: Any) -> list[Any]:
    manifest = json.loads((DATA / "addon.json").read_text())
    stack = manifest["stack"] if variant == "good" else manifest["stacks"][variant]
    stack = json.loads(json.dumps(stack))
    stack[0]["streamable_block"]["stack"][0].update(decoder)
    return stack  # type: ignore[no-any-return]


def mel_only(variant: str, **decoder: Any) -> list[Any]:
    stack = stack_for(variant, **decoder)
    del stack[0]["streamable_block"]["stack"][1]
    return stack


def end_event(events: list[dict[str, Any]]) -> dict[str, Any]:
    ends = [e for e in events if e.get("event") == "end"]
    assert len(ends) == 1, events
    return ends[0]


def test_good_attention_ends_on_the_stop_token() -> None:
    tensors = ids_for("hello there")
    run = run_stack(DATA, tensors, stack=mel_only("good"))
    event = end_event(run.request.events)
    assert event["status"] == "stop_token"
    assert event["position"] == event["symbols"] - 1 == 10  # the last symbol was reached
    assert run.joined("mel").shape == (1, 4, 2 * event["steps"])


@pytest.mark.parametrize(("variant", "status"), [
    ("never_stops", "max_length"),
    ("backwards", "attention_backwards"),
    ("stalls", "attention_stalled"),
    ("skips", "attention_skipped"),
    ("early_stop", "attention_skipped"),
])
def test_guard_ends_the_stream_with_a_clear_status(variant: str, status: str) -> None:
    voice = Voice.load(DATA, profile={"stack": variant})
    req = voice.request(seed=0)
    text = "hello there, how are you today"
    chunks = list(voice.stream(text, request=req))  # ends cleanly: no exception
    event = end_event(req.events)
    assert event["status"] == status
    assert event["block"] == "AttentionDecoder"
    assert event["detail"]
    symbols = len(ids_for(text)["input"][0])
    assert event["frames"] <= 6 * symbols + 2  # max_frames_per_symbol 6, two frames a step
    if status == "max_length":
        assert event["frames"] >= 6 * symbols
        assert sum(c.audio.size for c in chunks) == event["frames"] * 4
    if status == "attention_backwards":
        # the steps that went backwards are not spoken
        assert sum(c.audio.size for c in chunks) < event["frames"] * 4


def test_failure_raises_when_configured() -> None:
    tensors = ids_for("hello there, how are you")
    block = build_stack(DATA, mel_only("stalls", on_failure="raise"))
    manifest = read_manifest(DATA)
    with pytest.raises(AttentionFailure, match="attention_stalled"):
        run_stack(manifest, tensors, block=block)


@pytest.mark.parametrize("variant", ["good", "backwards", "never_stops"])
def test_chunk_sizes_do_not_change_the_frames(variant: str) -> None:
    tensors = ids_for("hello there, how are you")
    outs = []
    for first, chunk in [(0, 1), (1, 3), (2, 4), (0, 1000)]:
        run = run_stack(DATA, tensors, stack=mel_only(variant, first_chunk_frames=first, chunk_frames=chunk))
        if chunk < 1000:
            assert all(c["mel"].shape[-1] >= 1 for c in run.chunks)
        outs.append((run.joined("mel"), end_event(run.request.events)["status"]))
    for mel, status in outs[1:]:
        assert status == outs[0][1]
        np.testing.assert_array_equal(mel, outs[0][0])


def test_streamed_audio_equals_whole_utterance() -> None:
    voice = Voice.load(DATA)
    streamed = np.concatenate([c.audio for c in voice.stream(TEXT, seed=3)])
    whole_stack = stack_for("good", chunk_frames=100000)
    whole_stack[0]["streamable_block"]["stack"][1].update(first_window=100000, max_window=100000)
    block = build_stack(DATA, whole_stack)
    parts = []
    for number, piece in enumerate(voice.frontend.pieces(TEXT)):
        req = voice.request(seed=3)
        req.piece = number
        chunks = list(block.stream(None, dict(piece.tensors), req))
        assert len(chunks) == 1
        parts.append(chunks[0]["audio"].reshape(-1))
    whole = np.clip(np.concatenate(parts), -1, 1)
    assert streamed.shape == whole.shape
    assert snr_db(whole, streamed) > 60


def test_first_chunk_comes_before_the_utterance_is_decoded() -> None:
    tensors = ids_for("hello there, how are you today")
    block = build_stack(DATA, mel_only("never_stops", first_chunk_frames=2, chunk_frames=8))
    manifest = read_manifest(DATA)
    first = run_stack(manifest, tensors, block=block, limit=1)
    assert first.chunks[0]["mel"].shape[-1] == 2
    assert first.request.calls.get("AttentionDecoder", 0) <= 1
    assert not first.request.events  # still running when the consumer stopped pulling


def test_cancel_stops_a_runaway_decoder() -> None:
    voice = Voice.load(DATA, profile={"stack": "never_stops"})
    req = voice.request(seed=0)
    stream = voice.stream("hello there, how are you today", request=req)
    next(stream)
    req.cancel.set()
    with pytest.raises(SynthesisCancelled):
        for _ in stream:
            pass


def test_a_missing_weights_output_fails_at_load_with_its_path() -> None:
    stack = stack_for("good", weights_output="alignment")
    with pytest.raises(SpecError) as err:
        build_stack(DATA, stack)
    assert "stack[0].streamable_block.stack[0].weights_output" in str(err.value)
    assert "alignment" in str(err.value)


@pytest.mark.parametrize(("param", "value"), [("stall_steps", 0), ("on_failure", "explode"), ("max_jump", -1)])
def test_bad_guard_parameters_fail_at_load(param: str, value: Any) -> None:
    with pytest.raises(SpecError, match=param):
        build_stack(DATA, stack_for("good", **{param: value}))
