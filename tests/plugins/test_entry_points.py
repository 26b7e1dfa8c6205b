"""A package outside src/ adds a block, a front-end and a runtime through entry points only,
and an addon using all three loads and speaks."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import voicestack
from voicestack.errors import SpecError
from voicestack.plugins import FAMILIES, load_plugins

SITE = Path(__file__).parent / "site"  # holds the plugin and its dist-info, like site-packages


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(SITE))
    yield load_plugins()
    for family in FAMILIES.values():
        for name in ("FadeIn", "DigitLetters", "counting"):
            if name in family:
                family.unregister(name)
    sys.modules.pop("vs_example_plugin", None)


def _addon(tmp_path: Path, tiny_duration: Path) -> Path:
    root = tmp_path / "plugged"
    shutil.copytree(tiny_duration, root)
    data = json.loads((root / "addon.json").read_text())
    data["frontend"] = {"type": "DigitLetters"}
    data["stack"][0]["streamable_block"]["stack"].append({"type": "FadeIn", "samples": 32})
    data["profiles"] = {"counted": {"runtime": "counting", "threads": 1}}
    (root / "addon.json").write_text(json.dumps(data))
    return root


def test_nothing_registers_without_the_explicit_call(tmp_path: Path, tiny_duration: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SITE))
    with pytest.raises(SpecError, match="unknown type 'DigitLetters'"):
        voicestack.load_voice(_addon(tmp_path, tiny_duration))


def test_plugin_block_frontend_and_runtime_speak(plugin, tmp_path: Path, tiny_duration: Path) -> None:  # type: ignore[no-untyped-def]
    assert plugin == {"components": ["FadeIn"], "frontends": ["DigitLetters"], "runtimes": ["counting"], "importers": [],
                      "transports": []}
    from vs_example_plugin import CountingRuntime

    root = _addon(tmp_path, tiny_duration)
    before = CountingRuntime.runs
    voice = voicestack.load_voice(root, profile="counted")
    audio = voice.synthesize("call 911", seed=2).audio
    assert audio.size > 0 and np.isfinite(audio).all()
    assert CountingRuntime.runs > before  # the plugin runtime ran the networks
    assert audio[0] == 0.0  # the plugin block faded the start in
    plain = voicestack.load_voice(root).synthesize("call nine one one", seed=2).audio
    np.testing.assert_allclose(audio, plain, atol=1e-6)  # the plugin front-end spelled the digits
