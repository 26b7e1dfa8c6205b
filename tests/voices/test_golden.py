"""Fixed-seed audio of every built-in voice is bit-identical to what was recorded
(scripts/record_golden.py): refactors of the framework must not change what it says."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import voicestack
from voicestack.testing import snr_db

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("record_golden", ROOT / "scripts" / "record_golden.py")
assert _spec and _spec.loader
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)

pytestmark = pytest.mark.real_voice


@pytest.fixture(scope="module")
def recorded() -> dict[str, np.ndarray]:
    with np.load(ROOT / "tests" / "data" / "golden" / "audio.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize(("voice", "profile", "text"), golden.CASES, ids=[golden.key(v, p) for v, p, _ in golden.CASES])
def test_audio_is_bit_identical(recorded: dict[str, np.ndarray], voice: str, profile: str, text: str) -> None:
    want = recorded[golden.key(voice, profile)]
    got = voicestack.load_voice(voice, profile=profile).synthesize(text, seed=golden.SEED).audio
    assert got.size == want.size, f"{voice}/{profile}: {got.size} samples, recorded {want.size}"
    if not np.array_equal(got, want):
        pytest.fail(f"{voice}/{profile}: audio differs from the recording ({snr_db(want, got):.1f} dB)")
