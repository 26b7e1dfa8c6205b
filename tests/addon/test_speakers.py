"""Speakers (by id into the network, or by a style row from an asset) and assets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import voicestack
from voicestack.errors import RequestError, SpecError

DATA = Path(__file__).parents[1] / "data"
QUIET = {"noise_scale": 0.0, "noise_w": 0.0, "seed": 1}


@pytest.mark.parametrize("addon", ["tiny_speakers_id", "tiny_speakers_style"])
def test_each_speaker_sounds_different_and_is_repeatable(addon: str) -> None:
    voice = voicestack.load_voice(DATA / addon)
    assert len(voice.speakers) >= 2
    audio = {s: voice.synthesize("hello there", speaker=s, **QUIET).audio for s in voice.speakers}
    again = voice.synthesize("hello there", speaker=voice.speakers[0], **QUIET).audio
    np.testing.assert_array_equal(again, audio[voice.speakers[0]])
    first, second = (audio[s] for s in voice.speakers[:2])
    n = min(first.size, second.size)
    assert not np.allclose(first[:n], second[:n], atol=1e-3)


def test_default_speaker_is_the_declared_one() -> None:
    voice = voicestack.load_voice(DATA / "tiny_speakers_id")
    assert voice.manifest.default_speaker == "bob"
    np.testing.assert_array_equal(voice.synthesize("hi", **QUIET).audio,
                                  voice.synthesize("hi", speaker="bob", **QUIET).audio)


def test_style_row_follows_the_token_count() -> None:
    """The asset row is chosen by the piece's length: two texts of different length read different rows."""
    voice = voicestack.load_voice(DATA / "tiny_speakers_style")
    call = voice.root.sequence_block.blocks[0].call
    table = voice.manifest.assets["styles"].array("alto")
    req = voice.request(speaker="alto")
    for n in (3, 7):
        ids = np.arange(1, n + 1, dtype=np.int64)[None]
        feed = call.feed_value("style", call.net.inputs["style"], {"T": n},
                               {"input": ids, "input_lengths": np.array([n])}, req, "x")
        np.testing.assert_array_equal(feed, table[n - 1][None])


def test_unknown_speaker_names_the_field_and_the_choices() -> None:
    voice = voicestack.load_voice(DATA / "tiny_speakers_id")
    with pytest.raises(RequestError) as err:
        voice.synthesize("hi", speaker="dave")
    assert err.value.field == "speaker" and "alice, bob, carol" in str(err.value)


def test_asset_checked_like_a_network(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "a"
    shutil.copytree(DATA / "tiny_speakers_style", root)
    data = json.loads((root / "addon.json").read_text())
    data["assets"]["styles"]["sha256"] = "0" * 64
    data["assets"]["styles"]["arrays"]["alto"]["shape"] = [64, 9]
    (root / "addon.json").write_text(json.dumps(data))
    with pytest.raises(SpecError, match="assets.styles.sha256: 'styles.npz' has SHA-256"):
        voicestack.load_voice(root)
    del data["assets"]["styles"]["sha256"]
    (root / "addon.json").write_text(json.dumps(data))
    with pytest.raises(SpecError, match=r"assets.styles.arrays.alto: declared float32 \[64, 9\]"):
        voicestack.load_voice(root)
    data["assets"]["styles"]["file"] = "../../outside.npz"
    (root / "addon.json").write_text(json.dumps(data))
    with pytest.raises(SpecError, match="assets.styles.file: '../../outside.npz' points outside the addon"):
        voicestack.load_voice(root)


def test_pickled_arrays_are_refused(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "p"
    shutil.copytree(DATA / "tiny_speakers_style", root)
    np.save(root / "styles.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    data = json.loads((root / "addon.json").read_text())
    data["assets"]["styles"] = {"file": "styles.npy"}
    data["speakers"] = {"alto": {"asset": "styles", "key": ""}}
    (root / "addon.json").write_text(json.dumps(data))
    with pytest.raises(SpecError, match="not a readable numpy array file"):
        voicestack.load_voice(root)
