"""Runtime layer: sessions shared by content; providers chosen by configuration."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from voicestack.errors import RuntimeUnavailable
from voicestack.runtime import RuntimeConfig, SessionFactory
from voicestack.voice import Voice


def test_identical_network_files_load_once(tmp_path: Path, tiny_duration: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(tiny_duration, a)
    shutil.copytree(tiny_duration, b)
    factory = SessionFactory()
    va, vb = Voice.load(a, sessions=factory), Voice.load(b, sessions=factory)
    dec_a = va.root.streamable_block.blocks[1].call.session  # type: ignore[attr-defined]
    dec_b = vb.root.streamable_block.blocks[1].call.session  # type: ignore[attr-defined]
    assert dec_a is dec_b
    assert dec_a.path.parent != dec_b.path.parent or dec_a.path.parent == a  # loaded from one of them


def test_different_settings_get_their_own_session(tiny_duration: Path) -> None:
    factory = SessionFactory()
    path = tiny_duration / "decoder.onnx"
    one = factory.open(path, RuntimeConfig(threads=1))
    two = factory.open(path, RuntimeConfig(threads=2))
    assert one is not two
    assert factory.open(path, RuntimeConfig(threads=1)) is one


def test_missing_execution_provider_is_a_clear_error(tiny_duration: Path) -> None:
    with pytest.raises(RuntimeUnavailable, match="TensorrtExecutionProvider"):
        SessionFactory().open(tiny_duration / "decoder.onnx", RuntimeConfig(providers=("TensorrtExecutionProvider",)))


def test_profile_selects_providers_without_code(tiny_duration: Path) -> None:
    voice = Voice.load(tiny_duration, profile={"providers": ["CPUExecutionProvider"], "threads": 1})
    assert voice.profile.runtime.threads == 1
    assert voice.synthesize("abc", seed=0).audio.size > 0


def test_spinning_is_a_profile_field(tiny_duration: Path) -> None:
    from voicestack.errors import SpecError

    voice = Voice.load(tiny_duration, profile={"spinning": True})
    assert voice.profile.runtime.spinning is True
    assert Voice.load(tiny_duration).profile.runtime.spinning is False  # default: threads sleep between ops
    with pytest.raises(SpecError, match=r"profile.spinning: got 'yes', expected true or false"):
        Voice.load(tiny_duration, profile={"spinning": "yes"})
