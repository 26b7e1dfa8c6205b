"""Cross-request batching (runtime.batching): concurrent same-shaped calls of one network
run as one call, and every caller gets exactly its own row."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest

from voicestack.errors import SpecError
from voicestack.runtime import RuntimeConfig, SessionFactory
from voicestack.runtime.batching import BatchingSession, batch_copy
from voicestack.testing import snr_db
from voicestack.voice import Voice


def _sessions(voice: Voice) -> list[object]:
    return [b.call.session for b in voice.root.streamable_block.blocks if hasattr(b, "call")]  # type: ignore[attr-defined]


def test_concurrent_calls_of_one_shape_run_as_one(tiny_duration: Path) -> None:
    session = SessionFactory().open(tiny_duration / "decoder.onnx", RuntimeConfig(batch=4, batch_wait=5.0))
    assert isinstance(session, BatchingSession)
    plain = SessionFactory().open(tiny_duration / "decoder.onnx", RuntimeConfig())
    rng = np.random.default_rng(0)
    inputs = [{"z_p": rng.standard_normal((1, 8, 12)).astype(np.float32)} for _ in range(4)]
    got: list[dict[str, np.ndarray] | None] = [None] * 4
    start = threading.Barrier(4)

    def call(i: int) -> None:
        start.wait()
        got[i] = session.run(inputs[i])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert session.stats() == {"calls": 4, "runs": 1, "largest": 4, "batched": True}  # the 4th call filled it
    for i in range(4):
        out = got[i]
        assert out is not None
        want = plain.run(inputs[i])["audio"]
        assert out["audio"].shape == want.shape
        np.testing.assert_allclose(out["audio"], want, rtol=0, atol=1e-5)


def test_different_shapes_never_share_a_call(tiny_duration: Path) -> None:
    session = SessionFactory().open(tiny_duration / "decoder.onnx", RuntimeConfig(batch=2, batch_wait=0.2))
    start = threading.Barrier(2)
    outs: dict[int, np.ndarray] = {}

    def call(frames: int) -> None:
        start.wait()
        outs[frames] = session.run({"z_p": np.ones((1, 8, frames), np.float32)})["audio"]

    threads = [threading.Thread(target=call, args=(n,)) for n in (10, 11)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert session.stats()["runs"] == 2 and session.stats()["largest"] == 1
    assert outs[10].shape[-1] < outs[11].shape[-1]


def test_a_network_without_a_batch_axis_runs_as_it_is(tiny_duration: Path) -> None:
    assert batch_copy(tiny_duration / "text_encoder.onnx") is None  # input_lengths [1]: no batch axis
    session = SessionFactory().open(tiny_duration / "text_encoder.onnx", RuntimeConfig(batch=4))
    assert not isinstance(session, BatchingSession)


def test_batching_is_a_profile_field_and_needs_dynamic_shapes(tiny_duration: Path) -> None:
    voice = Voice.load(tiny_duration, profile={"batch": 8, "batch_wait_ms": 1})
    decoder = _sessions(voice)[-1]
    assert isinstance(decoder, BatchingSession) and decoder.max_batch == 8 and decoder.wait == 0.001
    assert not any(isinstance(s, BatchingSession) for s in _sessions(Voice.load(tiny_duration)))  # off by default
    with pytest.raises(SpecError, match=r"profile.batch: batching needs dynamic shapes"):
        Voice.load(tiny_duration, profile={"shapes": "static", "batch": 4})
    with pytest.raises(SpecError, match=r"profile.batch"):
        Voice.load(tiny_duration, profile={"batch": 0})


def test_batched_streams_in_the_service_say_what_each_says_alone(tiny_duration: Path) -> None:
    """Four streams on four workers with a batching profile: each stream's audio is its
    unbatched audio."""
    from voicestack.service.core import Scheduler

    batched = Voice.load(tiny_duration, profile={"batch": 4, "batch_wait_ms": 20})
    alone = Voice.load(tiny_duration)
    texts = ["one two three four five six", "seven eight nine ten eleven", "a b c d e f g", "hello there you"]

    async def main() -> list[np.ndarray]:
        sched = Scheduler(4, 4, 4)

        async def one(text: str) -> np.ndarray:
            req = batched.request(seed=3)
            stream = sched.open(batched.stream(text, request=req), req)
            parts = []
            while (chunk := await stream.next()) is not None:
                parts.append(chunk.audio)
            stream.close()
            return np.concatenate(parts)

        try:
            return list(await asyncio.gather(*(one(t) for t in texts)))
        finally:
            sched.shutdown()

    for text, audio in zip(texts, asyncio.run(main()), strict=True):
        want = alone.synthesize(text, seed=3).audio
        assert audio.size == want.size
        assert snr_db(want, audio) >= 60


def test_a_graph_that_hard_codes_a_batch_of_one_falls_back_to_single_calls(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    flat = helper.make_tensor("flat", TensorProto.INT64, [2], [1, -1])  # batch 1 written into the graph
    back = helper.make_tensor("back", TensorProto.INT64, [3], [1, 4, -1])
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "flat"], ["f"]), helper.make_node("Reshape", ["f", "back"], ["b"]),
         helper.make_node("Mul", ["b", "two"], ["y"])],
        "fixed_batch",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, "F"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, "F"])],
        [flat, back, helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])])
    path = tmp_path / "fixed.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    session = SessionFactory().open(path, RuntimeConfig(batch=2, batch_wait=5.0))
    assert isinstance(session, BatchingSession)
    start = threading.Barrier(2)
    outs: dict[int, np.ndarray] = {}

    def call(i: int) -> None:
        start.wait()
        outs[i] = session.run({"x": np.full((1, 4, 3), float(i + 1), np.float32)})["y"]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert session.stats()["batched"] is False  # found out on its first batch, and said so in the log
    for i in range(2):
        np.testing.assert_array_equal(outs[i], np.full((1, 4, 3), 2.0 * (i + 1), np.float32))
