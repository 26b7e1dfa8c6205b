"""Start-up: a voice whose networks were read once loads without importing onnx; a changed
network file is read again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from voicestack.onnxtools import graph_io, network_record

DATA = Path(__file__).parents[1] / "data"

LOAD = """
import sys
import voicestack
voice = voicestack.load_voice(sys.argv[1])
audio = voice.synthesize("hello there", seed=1).audio
print(audio.size, "onnx" in sys.modules, "ml_dtypes" in sys.modules)
"""


def _run(addon: Path, cache: Path) -> list[str]:
    env = {**os.environ, "VOICESTACK_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-c", LOAD, str(addon)], capture_output=True, text=True, env=env,
                         timeout=300, check=True)
    return out.stdout.split()


def test_a_second_load_does_not_import_onnx(tmp_path: Path) -> None:
    first = _run(DATA / "tiny_duration", tmp_path / "cache")
    second = _run(DATA / "tiny_duration", tmp_path / "cache")
    assert first[0] == second[0] != "0"  # the same audio length either way
    assert first[1] == "True"  # the first load read the networks with onnx
    assert second[1:] == ["False", "False"]  # the second trusted the records


def test_a_changed_network_is_read_again(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VOICESTACK_CACHE", str(tmp_path / "cache"))
    net = tmp_path / "net.onnx"
    shutil.copy(DATA / "tiny_duration" / "decoder.onnx", net)
    before = graph_io(net)
    shutil.copy(DATA / "tiny_duration" / "text_encoder.onnx", tmp_path / "other.onnx")
    os.replace(tmp_path / "other.onnx", net)  # another file at the same path
    after = graph_io(net)
    assert set(after[0]) != set(before[0])
    assert network_record(net)["sha256"] != ""
    assert len(list((tmp_path / "cache" / "contracts").glob("*.json"))) == 2
