"""joe-tacotron's attention fails -> joe-mel says the rest, with no gap at the hand-over.

A failure is forced by allowing the attention decoder fewer frames per symbol than
speech needs (its ``max_length`` guard then fires partway through the sentence).
"""

from __future__ import annotations

import numpy as np
import pytest

import voicestack
from voicestack.catalog import resolve
from voicestack.testing import addon_variant

pytestmark = pytest.mark.real_voice
TEXT = "The little boat drifted slowly along the river toward the old stone bridge"


def _gap(audio: np.ndarray, seam: int, rate: int, floor_db: float = -40.0) -> float:
    """Seconds of silence around ``seam``: the end of what came before plus the start of what came after."""
    frame = rate // 100
    loud_level = np.sqrt(np.mean(np.square(audio.astype(np.float64)))) * 10 ** (floor_db / 20)

    def quiet(a: int) -> bool:
        seg = audio[a:a + frame].astype(np.float64)
        return seg.size == frame and np.sqrt(np.mean(seg ** 2)) < loud_level

    before = after = 0
    while seam - (before + 1) * frame >= 0 and quiet(seam - (before + 1) * frame):
        before += 1
    while quiet(seam + after * frame):
        after += 1
    return (before + after) * frame / rate


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> voicestack.Voice:
    def fewer_frames(manifest: dict) -> None:
        manifest["stack"][0]["streamable_block"]["stack"][0]["max_frames_per_symbol"] = 1.5

    dest = tmp_path_factory.mktemp("tacotron") / "joe-tacotron"
    return voicestack.load_voice(addon_variant(resolve("joe-tacotron"), dest, edit=fewer_frames))


def test_joe_mel_finishes_the_sentence_without_a_gap(failing: voicestack.Voice) -> None:
    assert failing.fallback is not None and failing.fallback.name == "joe-mel"
    req = failing.request(seed=0)
    parts, seam = [], -1
    for chunk in failing.stream(TEXT, request=req):
        if seam < 0 and any(e.get("event") == "fallback" for e in req.events):
            seam = sum(p.size for p in parts)
        parts.append(chunk.audio)
    audio = np.concatenate(parts)
    handover = [e for e in req.events if e.get("event") == "fallback"]
    assert len(handover) == 1 and handover[0]["status"] == "max_length"
    end = next(e for e in req.events if e.get("event") == "end")
    assert 0 < handover[0]["resume"] < end["symbols"]  # it failed partway through
    assert 0 < seam < audio.size  # tacotron's words before the failure, joe-mel's after
    gap = _gap(audio, seam, failing.sample_rate)
    print(f"hand-over at symbol {handover[0]['resume']} of {end['symbols']}: {gap * 1000:.0f} ms of silence")
    assert gap <= 0.100
