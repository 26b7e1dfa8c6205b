"""Bad stacks and addons: one clear error naming the JSON path; nothing loads half-way."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from voicestack.errors import SpecError
from voicestack.runtime import SessionFactory
from voicestack.voice import Voice

Edit = Callable[[Path, dict[str, Any]], None]


def stack_edit(fn: Callable[[list[Any]], None]) -> Edit:
    def edit(root: Path, manifest: dict[str, Any]) -> None:
        fn(manifest["stack"])

    return edit


def _streamable(stack: list[Any]) -> list[Any]:
    return stack[0]["streamable_block"]["stack"]


CASES: list[tuple[str, Edit, str, str]] = [
    ("unknown type",
     stack_edit(lambda s: _streamable(s)[1].update(type="Decodr")),
     "stack[0].streamable_block.stack[1]", "unknown type 'Decodr'; expected one of"),
    ("sequence block in a streamable slot",
     stack_edit(lambda s: _streamable(s).__setitem__(1, {"type": "Encoders"})),
     "stack[0].streamable_block.stack[1]", "'Encoders' is a SequenceBlock; this slot expects a StreamableBlock"),
    ("streamable block in the sequence slot",
     stack_edit(lambda s: s[0].update(sequence_block={"type": "Upsampler"})),
     "stack[0].sequence_block", "is a StreamableBlock; this slot expects a SequenceBlock"),
    ("missing network",
     stack_edit(lambda s: _streamable(s)[1].update(network="vocoder")),
     "stack[0].streamable_block.stack[1].network", "network 'vocoder' is not declared"),
    ("wrong parameter type",
     stack_edit(lambda s: _streamable(s)[1].update(context="lots")),
     "stack[0].streamable_block.stack[1].context", "got a string 'lots', expected an integer"),
    ("unknown parameter",
     stack_edit(lambda s: _streamable(s)[0].update(chunk_size=4)),
     "stack[0].streamable_block.stack[0].chunk_size", "unknown parameter for 'Upsampler'; valid parameters:"),
    ("bad parameter value",
     stack_edit(lambda s: _streamable(s)[1].update(first_window=64, max_window=8)),
     "stack[0].streamable_block.stack[1]", "need 1 <= first_window <= max_window"),
    ("shape mismatch between neighbours",
     lambda root, m: _add_wide_decoder(root, m),
     "stack[0].streamable_block.stack[1]", "tensor 'z_p' has dim 1 is 8, expected 16"),
    ("declared shape differs from the graph",
     lambda root, m: m["networks"]["decoder"]["inputs"]["z_p"].update(shape=[1, 16, "F"]),
     "networks.decoder.inputs.z_p", "declared float32 [1, 16, 'F'], the graph says float32 [1, 8, 'F']"),
    ("neighbours disagree (contract)",
     stack_edit(lambda s: _streamable(s)[0].update(output="frames")),
     "stack[0].streamable_block.stack[1]", "needs tensor 'z_p', which the upstream stream do not provide"),
    ("malformed JSON",
     lambda root, m: (root / "addon.json").write_text('{"format_version": 1, "name": "x",'),
     "", "addon.json is not valid JSON"),
    ("missing network file",
     lambda root, m: (root / "decoder.onnx").unlink(),
     "networks.decoder.file", "file 'decoder.onnx' not found"),
    ("unsupported format version",
     lambda root, m: m.update(format_version=99),
     "format_version", "got a number 99, expected 1"),
    ("duplicate names",
     lambda root, m: m.update(stacks={"default": m["stack"]}),
     "stacks.default", "duplicate name"),
    ("empty stack",
     lambda root, m: m.update(stack=[]),
     "stack", "empty stack"),
    ("a network file that is not ONNX",
     lambda root, m: (root / "decoder.onnx").write_bytes(b"this is not a protobuf at all \x00\xff"),
     "networks.decoder.file", "'decoder.onnx' is not an ONNX model"),
    ("source block after a stream",
     stack_edit(lambda s: _streamable(s).insert(1, {"type": "Upsampler"})),
     "stack[0].streamable_block.stack[1]", "Upsampler starts a stream"),
    ("missing slot",
     stack_edit(lambda s: s[0].pop("sequence_block")),
     "stack[0].sequence_block", "missing; 'StreamablePipeline' needs a SequenceBlock here"),
    ("network file outside the addon",
     lambda root, m: m["networks"]["decoder"].update(file="../../etc/passwd"),
     "networks.decoder.file", "points outside the addon directory"),
]


def _add_wide_decoder(root: Path, manifest: dict[str, Any]) -> None:
    """A decoder network that expects 16 channels, wired after an upsampler emitting 8."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("ReduceMean", ["z_p"], ["audio"], keepdims=1, axes=[1])
    graph = helper.make_graph([node], "wide", [helper.make_tensor_value_info("z_p", TensorProto.FLOAT, [1, 16, "F"])],
                              [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, 1, "F"])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(root / "wide.onnx"))
    manifest["networks"]["wide"] = {"file": "wide.onnx", "role": "decoder",
                                    "inputs": {"z_p": {"dtype": "float32", "shape": [1, 16, "F"]}},
                                    "outputs": {"audio": {"dtype": "float32", "shape": [1, 1, "F"]}}}
    _streamable(manifest["stack"])[1]["network"] = "wide"


def _write(root: Path, manifest: dict[str, Any]) -> None:
    (root / "addon.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("name,edit,path,message", CASES, ids=[c[0] for c in CASES])
def test_bad_addon_gives_one_clear_error(addon_copy, name: str, edit: Edit, path: str, message: str) -> None:  # type: ignore[no-untyped-def]
    root = addon_copy()
    manifest = json.loads((root / "addon.json").read_text())
    before = SessionFactory.opened
    edit(root, manifest)
    if name != "malformed JSON":
        _write(root, manifest)
    with pytest.raises(SpecError) as err:
        Voice.load(root)
    problems = err.value.problems
    assert len(problems) == 1, problems
    got_path, got_message = problems[0]
    assert got_path == path
    assert message in got_message, got_message
    assert SessionFactory.opened == before  # failed before any network was loaded
    assert f"{path}: " in str(err.value) or not path
    assert "addon 'tiny-duration'" in str(err.value) or name == "malformed JSON"


def test_many_problems_are_reported_together(addon_copy) -> None:  # type: ignore[no-untyped-def]
    root = addon_copy()
    manifest = json.loads((root / "addon.json").read_text())
    _streamable(manifest["stack"])[0]["chunk_frames"] = "4"
    _streamable(manifest["stack"])[1]["typo"] = 1
    _write(root, manifest)
    with pytest.raises(SpecError) as err:
        Voice.load(root)
    paths = [p for p, _ in err.value.problems]
    assert paths == ["stack[0].streamable_block.stack[0].chunk_frames", "stack[0].streamable_block.stack[1].typo"]


def test_cli_validate_exit_codes(addon_copy, tiny_duration: Path) -> None:  # type: ignore[no-untyped-def]
    ok = subprocess.run([sys.executable, "-m", "voicestack.cli", "addon", "validate", str(tiny_duration)],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "is valid" in ok.stdout
    root = addon_copy()
    manifest = json.loads((root / "addon.json").read_text())
    _streamable(manifest["stack"])[1]["type"] = "Decodr"
    manifest["networks"]["decoder"]["role"] = "speaker"
    _write(root, manifest)
    bad = subprocess.run([sys.executable, "-m", "voicestack.cli", "addon", "validate", str(root)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert "networks.decoder.role: got 'speaker'" in bad.stderr


def test_cli_inspect_shows_contracts_and_tree(tiny_duration: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "voicestack.cli", "addon", "inspect", str(tiny_duration), "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["networks"]["duration"]["inputs"]["dp_noise"]["feed"] == {"noise": "normal"}
    assert info["networks"]["decoder"]["outputs"]["audio"] == {"dtype": "float32", "shape": [1, 1, "S"]}
    assert info["stack"]["streamable_block"]["stack"][1]["type"] == "Decoder"


def test_nothing_is_unpickled_anywhere() -> None:
    """Addons load without pickle: no pickle, torch.load or allow_pickle in the package."""
    import re

    src = Path(__file__).resolve().parents[2] / "src" / "voicestack"
    pattern = re.compile(r"\bimport pickle\b|\bpickle\.loads?\(|torch\.load\(|allow_pickle\s*=\s*True|\bdill\b|joblib\.load")
    offenders = [f"{p}:{i}" for p in src.rglob("*.py") for i, line in enumerate(p.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert offenders == []
