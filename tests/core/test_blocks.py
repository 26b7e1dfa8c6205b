"""The five abstractions: laziness, containers, swapping a type, streamed == whole."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from voicestack.blocks import Request, SequenceBlock, StreamableBlock, StreamablePipeline, StreamableStack
from voicestack.testing import build_stack, run_stack, snr_db
from voicestack.voice import Voice

TEXT = "hello there, how are you today? fine, thanks."


def ids_for(text: str) -> dict[str, np.ndarray]:
    vocab = "abcdefghijklmnopqrstuvwxyz ,.!?'"
    ids = [vocab.index(c) + 1 for c in text if c in vocab]
    return {"input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64)}


def test_first_chunk_needs_only_its_frames(tiny_duration: Path) -> None:
    """Instrument the upstream: the first audio chunk pulls only a few frame chunks."""
    manifest = json.loads((tiny_duration / "addon.json").read_text())
    stack = manifest["stack"]
    block = build_stack(tiny_duration, stack)
    upsampler = block.streamable_block.blocks[0]  # type: ignore[attr-defined]
    pulled = []
    original = upsampler.generate

    def counting(source, tensors, request):  # type: ignore[no-untyped-def]
        for chunk in original(source, tensors, request):
            pulled.append(chunk["z_p"].shape[-1])
            yield chunk

    upsampler.generate = counting
    tensors = ids_for(TEXT * 4)
    first = run_stack(tiny_duration, tensors, block=block, limit=1)
    # first window 4 frames + 6 context (+1 look-ahead) with 4-frame chunks: 3 chunks
    assert len(first.chunks) == 1
    assert first.chunks[0]["audio"].shape[-1] == 4 * 4
    assert sum(pulled) <= 12
    pulled.clear()
    run_stack(tiny_duration, tensors, block=block)
    assert sum(pulled) > 20 * 12  # the whole utterance is much longer than what the first chunk needed


def test_nothing_runs_before_the_first_pull(tiny_duration: Path) -> None:
    voice = Voice.load(tiny_duration)
    calls: list[str] = []
    req = voice.request(seed=1)
    req.observer = lambda block, seconds: calls.append(block)
    stream = voice.stream(TEXT, request=req)
    assert calls == []
    next(stream)
    assert "Encoders" in calls


@pytest.mark.parametrize("addon", ["tiny_duration", "tiny_autoregressive"])
def test_streamed_equals_whole_utterance(addon: str, request: pytest.FixtureRequest) -> None:
    path = Path(__file__).parents[1] / "data" / addon
    voice = Voice.load(path)
    streamed = np.concatenate([c.audio for c in voice.stream(TEXT, seed=5)])
    # one big window = whole-utterance decoding
    manifest = json.loads((path / "addon.json").read_text())
    dec = manifest["stack"][0]["streamable_block"]["stack"][1]
    dec.update(first_window=100000, max_window=100000)
    block = build_stack(path, manifest["stack"])
    parts = []
    for number, piece in enumerate(voice.frontend.pieces(TEXT)):
        req = voice.request(seed=5)
        req.piece = number
        chunks = list(block.stream(None, dict(piece.tensors), req))
        assert len(chunks) == 1
        parts.append(chunks[0]["audio"].reshape(-1))
    whole = np.clip(np.concatenate(parts), -1, 1)
    assert streamed.shape == whole.shape
    assert snr_db(whole, streamed) > 60


def test_swapping_encoders_type_changes_strategy_not_output(tiny_duration: Path) -> None:
    manifest = json.loads((tiny_duration / "addon.json").read_text())
    sequential = manifest["stack"]
    parallel = json.loads(json.dumps(sequential))
    parallel[0]["sequence_block"] = {"type": "ParallelEncoders", "max_workers": 2}
    tensors = ids_for(TEXT)
    a = run_stack(tiny_duration, tensors, stack=sequential, seed=11)
    b = run_stack(tiny_duration, tensors, stack=parallel, seed=11)
    assert type(a.block.sequence_block).__name__ == "Encoders"  # type: ignore[attr-defined]
    assert type(b.block.sequence_block).__name__ == "ParallelEncoders"  # type: ignore[attr-defined]
    np.testing.assert_array_equal(a.joined(), b.joined())


def test_seed_gives_same_audio_whatever_the_schedule(tiny_duration: Path) -> None:
    manifest = json.loads((tiny_duration / "addon.json").read_text())
    tensors = ids_for(TEXT)
    outs = []
    for first, largest, chunk in [(4, 16, 4), (1, 1, 1), (7, 50, 3)]:
        stack = json.loads(json.dumps(manifest["stack"]))
        stack[0]["streamable_block"]["stack"][0]["chunk_frames"] = chunk
        stack[0]["streamable_block"]["stack"][1].update(first_window=first, max_window=largest)
        outs.append(run_stack(tiny_duration, tensors, stack=stack, seed=42).joined())
    for other in outs[1:]:
        assert snr_db(outs[0], other) > 60
    other = run_stack(tiny_duration, tensors, seed=43).joined()
    assert other.size != outs[0].size or snr_db(outs[0], other) < 40  # another seed, other durations/noise


def test_tail_takes_the_rest_of_the_piece_in_one_window(tiny_duration: Path) -> None:
    """With ``tail`` a window that would leave a short rest takes it: fewer calls, the
    same audio, and the request's first window is never enlarged."""
    manifest = json.loads((tiny_duration / "addon.json").read_text())
    tensors = ids_for(TEXT)
    runs = {}
    for tail in (0.0, 8.0):
        stack = json.loads(json.dumps(manifest["stack"]))
        stack[0]["streamable_block"]["stack"][1].update(first_window=4, max_window=4096, growth=2.0, tail=tail)
        block = build_stack(tiny_duration, stack)
        decoder = block.streamable_block.blocks[1]  # type: ignore[attr-defined]
        sizes: list[int] = []
        original = decoder.run_window

        def counting(frames, request, t=None, original=original, sizes=sizes):  # type: ignore[no-untyped-def]
            sizes.append(frames.shape[-1])
            return original(frames, request, t)

        decoder.run_window = counting
        runs[tail] = (run_stack(tiny_duration, tensors, block=block, seed=3).joined(), sizes)
    (plain, plain_sizes), (merged, merged_sizes) = runs[0.0], runs[8.0]
    assert len(merged_sizes) < len(plain_sizes)
    assert merged_sizes[0] == plain_sizes[0]  # the first audio costs the same
    assert sum(merged_sizes) < sum(plain_sizes)  # fewer context frames computed twice
    assert plain.shape == merged.shape
    assert snr_db(plain, merged) > 60


def test_tail_must_not_be_negative() -> None:
    from voicestack.components.decoders import DecoderParams

    with pytest.raises(ValueError, match="tail must be >= 0.0"):
        DecoderParams(tail=-1.0)


def test_containers_are_what_they_contain() -> None:
    class Emit(StreamableBlock):
        def generate(self, source, tensors, request):  # type: ignore[no-untyped-def]
            for i in range(int(tensors["n"][0])):
                yield {"audio": np.full(2, float(i), np.float32)}

    class Double(StreamableBlock):
        def generate(self, source, tensors, request):  # type: ignore[no-untyped-def]
            for chunk in source:
                yield {"audio": chunk["audio"] * 2}

    class Count(SequenceBlock):
        def process(self, tensors, request):  # type: ignore[no-untyped-def]
            return {"n": np.array([3])}

    inner = StreamableStack([Emit(), Double()])
    outer = StreamablePipeline(Count(), StreamableStack([inner, Double(), StreamableStack([Double()])]))
    chunks = list(outer.stream(None, {}, Request()))
    assert [c["audio"][0] for c in chunks] == [0.0, 8.0, 16.0]
    assert isinstance(inner, StreamableBlock) and isinstance(outer, StreamableBlock)


def test_autoregressive_stack_stops_on_its_stop_token(tiny_ar: Path) -> None:
    voice = Voice.load(tiny_ar)
    req = voice.request(seed=0)
    audio = np.concatenate([c.audio for c in voice.stream("abc", request=req)])
    # the tiny decoder raises its stop output after 3 frames per symbol; 4 samples a frame
    assert audio.size == 3 * 3 * 4
    assert req.events[-1]["status"] == "stop_token"


def test_cancel_stops_at_the_next_chunk(tiny_duration: Path) -> None:
    from voicestack.errors import SynthesisCancelled

    voice = Voice.load(tiny_duration)
    req = voice.request(seed=0)
    stream = voice.stream(TEXT * 5, request=req)
    next(stream)
    req.cancel.set()
    with pytest.raises(SynthesisCancelled):
        next(stream)


def test_block_timings_are_exclusive() -> None:
    """Each block's recorded time excludes the upstream blocks it pulled from."""
    import time as _time

    class Slow(StreamableBlock):
        def __init__(self, name: str, sleep: float) -> None:
            super().__init__(name)
            self.sleep = sleep

        def generate(self, source, tensors, request):  # type: ignore[no-untyped-def]
            for i in range(3):
                if source is not None:
                    next(source)
                _time.sleep(self.sleep)
                yield {"audio": np.zeros(1, np.float32)}

    req = Request()
    list(StreamableStack([Slow("up", 0.03), Slow("down", 0.01)], name="stack").stream(None, {}, req))
    assert 0.085 < req.timings["up"] < 0.2
    assert 0.025 < req.timings["down"] < 0.06  # not 0.12: upstream time is not counted twice
    assert req.timings["stack"] < 0.02
