"""Mel settings, Griffin-Lim and the joe vocoder: streaming exactness, mel contracts, the HiFi-GAN cut."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from voicestack.addon import read_manifest, write_manifest
from voicestack.blocks import Request
from voicestack.components.base import CheckEnv
from voicestack.assembly import plan
from voicestack.assembly import vocoder as vocoder_block
from voicestack.dsp import MelSettings, log_mel, mel_filterbank
from voicestack.errors import SpecError
from voicestack.spec import check_stack, parse_stack
from voicestack.tensors import TensorDecl
from voicestack.testing import snr_db


def _speechlike(seconds: float = 1.2, rate: int = 22050) -> np.ndarray:
    """A gliding harmonic tone with a slow envelope: enough structure for phase retrieval."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 40 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    return (0.2 * x * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def _run(block, mel: np.ndarray, chunk: int | None) -> np.ndarray:
    frames = mel.shape[-1]
    source = [{"mel": mel}] if chunk is None else [{"mel": mel[..., i : i + chunk]} for i in range(0, frames, chunk)]
    return np.concatenate([c["audio"].reshape(-1) for c in block.stream(iter(source), {}, Request())])


def test_mel_settings_round_trip_and_framing() -> None:
    s = MelSettings()
    assert MelSettings.from_json(s.to_json()) == s
    assert MelSettings.from_json(json.dumps(s.to_json())) == s
    assert s.to_json()["hop_length"] == 256 and s.to_json()["mel_scale"] == "slaney"
    with pytest.raises(ValueError, match="unknown mel setting"):
        MelSettings.from_json({**s.to_json(), "hop": 200})
    with pytest.raises(ValueError, match="hop_length"):
        MelSettings.from_json({"hop_length": "256"})
    fb = mel_filterbank(s)
    assert fb.shape == (80, 513) and np.all(fb >= 0) and np.all(fb[:, 513 * 8000 // 11025 + 2 :] == 0)
    for n in (0, 255, 256, 257, 22050):
        assert log_mel(np.zeros(n, np.float32), s).shape == (80, n // 256)
    # a 1 kHz tone lands in the mel band around 1 kHz, in every frame
    tone = np.sin(2 * np.pi * 1000 * np.arange(22050) / 22050).astype(np.float32)
    peak = fb.argmax(axis=1)[log_mel(tone, s).argmax(axis=0)] * 22050 / 1024
    assert np.all(np.abs(peak - 1000) < 120)
    assert log_mel(np.zeros(512, np.float32), s).min() == pytest.approx(np.log(1e-5))


def test_griffin_lim_streamed_equals_whole() -> None:
    mel = log_mel(_speechlike())[None]  # [1, 80, 103]
    block = vocoder_block("griffin-lim", MelSettings(), iterations=8)
    whole = _run(block, mel, None)
    assert whole.size == mel.shape[-1] * 256
    for chunk in (1, 7, 50):
        assert snr_db(whole, _run(block, mel, chunk)) >= 60.0
    # it is a vocoder: its own mel is close to the one it was given
    assert np.abs(log_mel(whole) - mel[0]).mean() < 0.6


def _tiny_vocoder(root: Path, name: str, mel: MelSettings) -> Path:
    """A vocoder addon whose network only has the right interface (never run)."""
    import onnx
    from onnx import TensorProto, helper

    root.mkdir(parents=True)
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["mel"], ["audio"], keepdims=1, axes=[1])], "tiny",
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, [1, mel.n_mels, "F"])],
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, 1, "F"])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(root / "voc.onnx"))
    write_manifest(root, {
        "format_version": 1, "name": name, "version": "0", "language": "en", "sample_rate": mel.sample_rate,
        "frontend": {"type": "ids"}, "mel": mel.to_json(),
        "networks": {"voc": {"file": "voc.onnx", "role": "vocoder", "time_ratio": mel.hop_length,
                             "inputs": {"mel": {"dtype": "float32", "shape": [1, mel.n_mels, "F"]}},
                             "outputs": {"audio": {"dtype": "float32", "shape": [1, 1, "S"]}}}},
        "stack": [{"type": "Decoder", "network": "voc", "context": 0}],
    })
    return root


def test_mel_mismatch_is_refused_naming_both(tmp_path: Path) -> None:
    voc = _tiny_vocoder(tmp_path / "y", "y", MelSettings(hop_length=160, sample_rate=16000, fmax=7600.0))
    host = read_manifest(_tiny_vocoder(tmp_path / "x", "x", MelSettings()))  # any addon with mel settings
    with pytest.raises(SpecError) as err:
        plan(host, stack={"type": "Vocoder", "addon": str(voc)}, stream={"mel": TensorDecl("float32", (1, 80, "F"))})
    text = str(err.value)
    assert "mel model 'x' has hop_length 256, vocoder 'y' has 160" in text
    assert "mel model 'x' has sample_rate 22050, vocoder 'y' has 16000" in text
    assert "stack.addon" in text
    # matching settings pass the same check
    ok = _tiny_vocoder(tmp_path / "z", "z", MelSettings())
    checked = plan(host, stack={"type": "Vocoder", "addon": str(ok)},
                   stream={"mel": TensorDecl("float32", (1, 80, "F"))})
    assert "audio" in checked.emitted


def test_griffin_lim_needs_mel_settings(tmp_path: Path) -> None:
    root = _tiny_vocoder(tmp_path / "n", "n", MelSettings())
    data = json.loads((root / "addon.json").read_text())
    del data["mel"]
    write_manifest(root, data)
    env = CheckEnv(read_manifest(root), {}, {"mel": TensorDecl("float32", (1, 80, "F"))}, "stack")
    with pytest.raises(SpecError, match="declares no 'mel'"):
        check_stack(parse_stack({"type": "GriffinLim"}), env)


@pytest.fixture(scope="module")
def joe_split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """joe's one-piece decoder (flow^-1 + HiFi-GAN) and the two networks cut out of it."""
    from voicestack.importers.vits import split_vits_decoder
    from voicestack.catalog import _joe_source, builtin_dir

    decoder = builtin_dir("joe") / "decoder.onnx"
    if not decoder.is_file():  # the importer already cut it: split joe's source graph again
        from voicestack.importers.piper import split_piper

        model, config = _joe_source()
        decoder = split_piper(model, config, tmp_path_factory.mktemp("piper")).decoder_path
    flow, hifigan = split_vits_decoder(decoder, tmp_path_factory.mktemp("split"))
    return decoder, flow, hifigan


@pytest.mark.real_voice
def test_hifigan_cut_reproduces_joe_decoder(joe_split: tuple[Path, Path, Path]) -> None:
    import onnxruntime as ort

    decoder, flow, hifigan = joe_split
    run = {p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in joe_split}
    z_p = np.random.default_rng(0).standard_normal((1, 192, 40)).astype(np.float32) * 0.7
    (audio,) = run[decoder].run(None, {"z_p": z_p})
    (z,) = run[flow].run(None, {"z_p": z_p})
    (again,) = run[hifigan].run(None, {"z": z})
    assert z.shape == z_p.shape and again.shape == audio.shape == (1, 1, 40 * 256)
    assert snr_db(audio, again) >= 60.0


@pytest.mark.real_voice
def test_joe_vocoder_streamed_equals_whole(tmp_path: Path) -> None:
    from voicestack.builtins_mel import build_joe_vocoder
    from voicestack.catalog import builtin_dir

    root = tmp_path / "joe-vocoder"
    root.mkdir()
    build_joe_vocoder(root, builtin_dir("joe"))
    block = vocoder_block(str(root), MelSettings())
    mel = log_mel(_speechlike(2.0))[None]
    whole = _run(block, mel, None)
    assert whole.size == mel.shape[-1] * 256 and np.isfinite(whole).all()
    for chunk in (1, 13, 64):
        assert snr_db(whole, _run(block, mel, chunk)) >= 60.0
