"""Runtime layer: a registry of runtimes, sessions shared by content, options from the profile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voicestack.errors import RuntimeUnavailable, SpecError
from voicestack.runtime import RUNTIMES, RuntimeConfig, SessionFactory
from voicestack.runtime.ort import OrtOptions
from voicestack.voice import Voice


def _decoder_session(voice: Voice):  # type: ignore[no-untyped-def]
    return voice.root.streamable_block.blocks[1].call.session  # type: ignore[attr-defined]


def test_identical_networks_share_one_session(tiny_duration: Path, addon_copy) -> None:  # type: ignore[no-untyped-def]
    factory = SessionFactory()
    a, b = addon_copy(), tiny_duration
    va, vb = Voice.load(a, sessions=factory), Voice.load(b, sessions=factory)
    assert _decoder_session(va) is _decoder_session(vb)


def test_different_settings_get_their_own_session(tiny_duration: Path) -> None:
    factory = SessionFactory()
    path = tiny_duration / "decoder.onnx"
    one = factory.open(path, RuntimeConfig(options=OrtOptions(threads=1)))
    two = factory.open(path, RuntimeConfig(options=OrtOptions(threads=2)))
    assert one is not two
    assert factory.open(path, RuntimeConfig(options=OrtOptions(threads=1))) is one


def test_a_factory_sets_the_threads_a_profile_leaves_to_the_runtime(tiny_duration: Path) -> None:
    """What a service with a worker per core uses: one intra-op thread per run, unless
    the profile chose a number itself."""
    factory = SessionFactory(threads=1)
    voice = Voice.load(tiny_duration, sessions=factory)
    assert _decoder_session(voice)._session.get_session_options().intra_op_num_threads == 1
    chosen = Voice.load(tiny_duration, profile={"threads": 3}, sessions=factory)
    assert _decoder_session(chosen)._session.get_session_options().intra_op_num_threads == 3
    assert _decoder_session(Voice.load(tiny_duration)) is not _decoder_session(voice)  # its own settings


def test_unavailable_provider_is_a_clear_error(tiny_duration: Path) -> None:
    with pytest.raises(RuntimeUnavailable, match="TensorrtExecutionProvider"):
        SessionFactory().open(tiny_duration / "decoder.onnx",
                              RuntimeConfig(options=OrtOptions(providers=("TensorrtExecutionProvider",))))


def test_profile_reaches_the_onnxruntime_session(tiny_duration: Path) -> None:
    voice = Voice.load(tiny_duration, profile={"providers": ["CPUExecutionProvider"], "threads": 1})
    session = _decoder_session(voice)
    assert session.providers == ["CPUExecutionProvider"]  # what the session really runs on
    options = session._session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_spinning_is_a_profile_field(tiny_duration: Path) -> None:
    voice = Voice.load(tiny_duration, profile={"spinning": True})
    assert voice.profile.runtime.option("spinning") is True
    assert _decoder_session(voice)._session.get_session_options().get_session_config_entry(
        "session.intra_op.allow_spinning") == "1"
    assert Voice.load(tiny_duration).profile.runtime.option("spinning") is False  # default: threads sleep
    with pytest.raises(SpecError, match=r"profile.spinning: got a string 'yes', expected true or false"):
        Voice.load(tiny_duration, profile={"spinning": "yes"})


def test_openvino_profile_runs_every_network_on_openvino(tiny_duration: Path) -> None:
    from voicestack.components.static import guards
    from voicestack.runtime.ov import OvSession

    voice = Voice.load(tiny_duration, profile="openvino")
    sessions = [g.session for g in guards(voice.root)]
    assert sessions and all(isinstance(s, OvSession) for s in sessions)
    audio = voice.synthesize("hello there", seed=1, noise_scale=0.0, noise_w=0.0).audio
    reference = Voice.load(tiny_duration, profile="static").synthesize("hello there", seed=1, noise_scale=0.0,
                                                                       noise_w=0.0).audio
    np.testing.assert_allclose(audio, reference, atol=1e-4)


def test_runtimes_are_a_registry() -> None:
    assert {"onnxruntime", "openvino"} <= set(RUNTIMES.names())
    with pytest.raises(SpecError, match="unknown type 'tpu'"):
        RUNTIMES.get("tpu", "profile.runtime")
