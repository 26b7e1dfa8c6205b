"""joe-tacotron, the shipped attention voice, end to end: it loads next to joe and joe-mel,
speaks, ends every sentence on its stop token, and streams exactly."""

from __future__ import annotations

import numpy as np
import pytest

import voicestack
from voicestack.evaluate import whole_voice
from voicestack.testing import snr_db

TEXT = "The little boat drifted slowly toward the harbour. Then the wind rose, and it was gone."


@pytest.fixture(scope="module")
def voices():
    return {name: voicestack.load_voice(name, profile={"threads": 1}) for name in ("joe", "joe-mel", "joe-tacotron")}


def test_three_architectures_speak_side_by_side(voices):
    lengths = {}
    for name, voice in voices.items():
        audio = voice.synthesize(TEXT, seed=0).audio
        assert voice.sample_rate == 22050
        assert np.isfinite(audio).all() and np.abs(audio).max() > 0.05, name
        lengths[name] = audio.size / voice.sample_rate
    # all three are distilled from joe: the same text lasts about as long
    for name in ("joe-mel", "joe-tacotron"):
        assert 0.75 < lengths[name] / lengths["joe"] < 1.33, lengths


def test_every_sentence_ends_on_the_stop_token(voices):
    voice = voices["joe-tacotron"]
    req = voice.request(seed=0)
    audio = voice.synthesize(TEXT, request=req).audio
    ends = [e for e in req.events if e.get("event") == "end"]
    assert len(ends) == 2, req.events  # two sentences, one end event each
    assert {e["status"] for e in ends} == {"stop_token"}, ends
    # the attention walked to the end of each sentence at a speaking rate near joe's (2.2 frames a symbol)
    for e in ends:
        assert e["position"] >= e["symbols"] - 6
        assert 1.2 < e["frames"] / e["symbols"] < 4.0, e
    assert audio.size == sum(e["frames"] for e in ends) * 256


def test_streamed_equals_whole(voices):
    streamed = voices["joe-tacotron"].synthesize(TEXT, seed=3).audio
    whole = whole_voice("joe-tacotron", threads=1).synthesize(TEXT, seed=3).audio
    assert streamed.size == whole.size
    assert snr_db(whole, streamed) > 60


def test_seed_decides_the_prenet_noise(voices):
    voice = voices["joe-tacotron"]
    a, b, c = (voice.synthesize("A short test.", seed=s).audio for s in (1, 1, 2))
    assert np.array_equal(a, b)
    assert not (a.size == c.size and np.array_equal(a, c))
