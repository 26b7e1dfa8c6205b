"""Registry: built-ins by name; third-party components from an entry-point group."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from voicestack.errors import SpecError
from voicestack.components.base import COMPONENTS as REGISTRY
from voicestack.blocks import Block
from voicestack.registry import Family, PluginError
from voicestack.testing import run_stack


def test_unknown_type_lists_valid_names() -> None:
    with pytest.raises(SpecError) as err:
        REGISTRY.get("Vocodr", "stack[2]")
    assert "stack[2]: unknown type 'Vocodr'; expected one of" in str(err.value)
    for name in ("Decoder", "Encoders", "ParallelEncoders", "StreamablePipeline", "StreamableStack", "Upsampler"):
        assert name in str(err.value)


def _make_plugin(root: Path) -> None:
    """A separate, installed-looking distribution advertising one component."""
    pkg = root / "vs_test_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent('''
        from dataclasses import dataclass
        from voicestack.components.effects import AudioEffect

        @dataclass(frozen=True)
        class InvertParams:
            factor: float = -1.0

        class Invert(AudioEffect):
            """Multiplies the audio by ``factor`` (a third-party effect)."""
            type_name = "Invert"
            Params = InvertParams

            def apply(self, audio, request):
                return audio * self.params.factor
    '''))
    dist = root / "vs_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vs-test-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[voicestack.components]\nInvert = vs_test_plugin:Invert\n")


def test_entry_point_component_is_usable_by_name(tmp_path: Path, tiny_duration: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _make_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    stack = json.loads((tiny_duration / "addon.json").read_text())["stack"]
    stack[0]["streamable_block"]["stack"].append({"type": "Invert", "factor": -0.5})
    assert "Invert" not in REGISTRY  # never registered as an import side effect
    added = REGISTRY.load_entry_points()
    try:
        assert "Invert" in added
        tensors = {"input": np.array([[1, 2, 3, 4, 5]]), "input_lengths": np.array([5])}
        plain = run_stack(tiny_duration, tensors, seed=1).joined()
        inverted = run_stack(tiny_duration, tensors, stack=stack, seed=1).joined()
        np.testing.assert_allclose(inverted, plain * -0.5, rtol=1e-6)
    finally:
        REGISTRY.unregister("Invert")
        sys.modules.pop("vs_test_plugin", None)


def test_registering_a_name_twice_is_refused() -> None:
    from voicestack.components.effects import Gain, Limiter

    reg = Family("component", "test.group", Block)
    reg.register(Gain)
    with pytest.raises(ValueError, match="already registered"):
        reg.register(Limiter, "Gain")


def test_a_plugin_that_fails_registers_nothing(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _make_plugin(tmp_path)
    dist = tmp_path / "vs_test_plugin-1.0.dist-info" / "entry_points.txt"
    dist.write_text("[voicestack.components]\nInvert = vs_test_plugin:Invert\nBroken = vs_test_plugin:NoSuchThing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(PluginError, match="'Broken'.*failed to load"):
            REGISTRY.load_entry_points()
        assert "Invert" not in REGISTRY  # the good one before it was not registered either
    finally:
        REGISTRY.unregister("Invert")
        sys.modules.pop("vs_test_plugin", None)


def test_composites_are_the_classes_the_json_names() -> None:
    from voicestack.blocks import SequenceBlockContainer, StreamablePipeline, StreamableStack

    assert REGISTRY.get("StreamablePipeline", "") is StreamablePipeline
    assert REGISTRY.get("StreamableStack", "") is StreamableStack
    assert REGISTRY.get("SequenceBlockContainer", "") is SequenceBlockContainer
