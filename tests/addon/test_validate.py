"""``addon validate``: every problem at once with its JSON path, and a voice it calls valid speaks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import pytest
from onnx import TensorProto, helper

import voicestack
from voicestack.errors import SpecError
from voicestack.validate import validate_addon

Edit = Callable[[dict[str, Any], Path], None]


def _edit(root: Path, change: Edit) -> Path:
    data = json.loads((root / "addon.json").read_text())
    change(data, root)
    deep = '{"type": "StreamableStack", "stack": [' * 2000 + '{"type": "Upsampler"}' + "]}" * 2000
    (root / "addon.json").write_text(json.dumps(data).replace('"__DEEP__"', f"[{deep}]"))
    return root


def _deep_stack(data: dict[str, Any], root: Path) -> None:
    data["stack"] = "__DEEP__"  # _edit writes a stack nested 2,000 deep here


def _external_outside(data: dict[str, Any], root: Path) -> None:
    """The decoder keeps a weight in a file outside the addon."""
    model = onnx.load(str(root / "decoder.onnx"))
    tensor = helper.make_tensor("w_outside", TensorProto.FLOAT, [1], [1.0])
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../outside.bin"
    model.graph.initializer.append(tensor)
    (root.parent / "outside.bin").write_bytes(b"\0\0\0\0")
    onnx.save(model, str(root / "decoder.onnx"))


def _unknown_op(data: dict[str, Any], root: Path) -> None:
    """A decoder whose graph uses an op no runtime has (same inputs and outputs)."""
    old = onnx.load(str(root / "decoder.onnx"))
    node = helper.make_node("NoSuchOp", ["z_p"], ["audio"], domain="com.example.missing")
    graph = helper.make_graph([node], "g", list(old.graph.input), list(old.graph.output))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example.missing", 1)])
    onnx.save(model, str(root / "decoder.onnx"))


CASES: list[tuple[str, Edit, str]] = [
    ("profile stack not a name", lambda d, r: d.update(profiles={"default": {"stack": []}}),
     "profiles.default.stack: got a list, expected a string"),
    ("profile not an object", lambda d, r: d.update(profiles={"p": 5}), "profiles.p: expected an object"),
    ("stack 2,000 deep", _deep_stack, "nested"),
    ("max_piece 0", lambda d, r: d["frontend"].update(max_piece=0), "frontend.max_piece: got a number 0, expected >= 1"),
    ("max_piece text", lambda d, r: d["frontend"].update(max_piece="abc"),
     "frontend.max_piece: got a string 'abc', expected an integer"),
    ("espeak without ids", lambda d, r: d.update(frontend={"type": "espeak", "voice": "en-us"}),
     "frontend.phoneme_id_map: missing required parameter"),
    ("unknown espeak voice", lambda d, r: d.update(frontend={"type": "Phonemes",
                                                             "phonemizer": {"type": "Espeak", "voice": "xx-nowhere"},
                                                             "ids": {"type": "PiperIds", "phoneme_id_map": {
                                                                 "^": [1], "_": [0], "$": [2]}}}),
     "frontend.phonemizer.voice: espeak-ng has no voice 'xx-nowhere'"),
    ("huge length_scale", lambda d, r: d["inference"].update(length_scale=1e308), "inference.length_scale"),
    ("negative noise_scale", lambda d, r: d["inference"].update(noise_scale=-0.5), "inference.noise_scale"),
    ("unknown feed param", lambda d, r: d["networks"]["duration"]["inputs"]["scales"].update(
        feed={"params": ["noise_scale", "lenght_scale", "noise_w"]}), "inference parameter 'lenght_scale'"),
    ("depends cycle", lambda d, r: (d["networks"]["text_encoder"].update(depends=["duration"]),
                                    d["networks"]["duration"].update(depends=["text_encoder"])), "dependency cycle"),
    ("time_ratio 1e9", lambda d, r: d["networks"]["decoder"].update(time_ratio=10**9),
     "networks.decoder.time_ratio"),
    ("external data outside", _external_outside, "outside the addon directory"),
    ("op the runtime lacks", _unknown_op, "fails to speak"),
    ("profile cache_dir", lambda d, r: d.update(profiles={"p": {"cache_dir": "/tmp/anywhere"}}),
     "profiles.p.cache_dir: runtime 'onnxruntime' has no field 'cache_dir'"),
]


@pytest.mark.parametrize(("case", "change", "words"), CASES, ids=[c[0] for c in CASES])
def test_each_problem_is_reported_with_its_path(addon_copy, case: str, change: Edit, words: str) -> None:  # type: ignore[no-untyped-def]
    root = _edit(addon_copy(), change)
    report = validate_addon(root)
    assert not report.ok
    assert words in report.text(), report.text()


def test_several_problems_are_reported_at_once(addon_copy) -> None:  # type: ignore[no-untyped-def]
    def many(data: dict[str, Any], root: Path) -> None:
        data["inference"]["noise_scale"] = -1
        data["networks"]["decoder"]["time_ratio"] = 0
        data["profiles"] = {"p": 5}

    report = validate_addon(_edit(addon_copy(), many))
    text = report.text()
    assert "inference.noise_scale" in text and "networks.decoder.time_ratio" in text


def test_a_valid_addon_loads_and_speaks(tiny_duration: Path) -> None:
    report = validate_addon(tiny_duration)
    assert report.ok, report.text()
    assert report.spoke is not None and report.spoke > 0
    assert voicestack.load_voice(tiny_duration).synthesize("hello").audio.size > 0


def test_deep_json_manifest_is_an_error_not_a_crash(addon_copy) -> None:  # type: ignore[no-untyped-def]
    root = addon_copy()
    (root / "addon.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SpecError, match="nested too deeply"):
        voicestack.load_voice(root)
