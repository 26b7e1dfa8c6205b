"""Front-ends as a family: composable stages, pieces of named tensors, cut points, contracts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import voicestack
from voicestack.errors import SpecError
from voicestack.frontends import FRONTENDS, choose_cuts

DATA = Path(__file__).parents[1] / "data"


def test_builtins_are_registered_by_kind() -> None:
    kinds = {name: FRONTENDS.get(name, "").kind for name in FRONTENDS.names()}
    assert kinds["espeak"] == kinds["Phonemes"] == kinds["characters"] == kinds["ids"] == "frontend"
    assert kinds["Espeak"] == "phonemizer" and kinds["PiperIds"] == "ids" and kinds["EnglishNormalizer"] == "normalizer"


@pytest.mark.real_voice
def test_composed_stages_equal_the_short_form(joe_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "joe-composed"
    shutil.copytree(joe_dir, root)
    data = json.loads((root / "addon.json").read_text())
    short = data["frontend"]
    data["frontend"] = {"type": "Phonemes", "max_piece": 400,
                        "normalizer": {"type": "EnglishNormalizer"},
                        "phonemizer": {"type": "Espeak", "voice": short["voice"]},
                        "ids": {"type": "PiperIds", "phoneme_id_map": short["phoneme_id_map"]}}
    (root / "addon.json").write_text(json.dumps(data))
    text = "Dr. Smith paid $3.50 on 14 March 2023, didn't he? Yes."
    a = [p.tensors["input"].tolist() for p in voicestack.load_voice(joe_dir).frontend.pieces(text)]
    b = [p.tensors["input"].tolist() for p in voicestack.load_voice(root).frontend.pieces(text)]
    assert a == b and len(a) >= 2


@pytest.mark.real_voice
def test_unreadable_script_is_reported_once_not_spoken(joe) -> None:  # type: ignore[no-untyped-def]
    req = joe.request(seed=1)
    audio = np.concatenate([c.audio for c in joe.stream("Hello 你好 there. And 你好 again.", request=req)])
    events = [e for e in req.events if e.get("event") == "unreadable_text"]
    assert len(events) == 1 and events[0]["scripts"] == ["CJK"]
    plain = joe.synthesize("Hello there. And again.", seed=1).audio
    assert audio.size == plain.size  # nothing was spelled out for the dropped text


def test_pieces_are_named_tensors_matching_the_contracts(tiny_duration: Path) -> None:
    voice = voicestack.load_voice(tiny_duration)
    (piece,) = list(voice.frontend.pieces("hello there"))
    contracts = type(voice.frontend).contracts(voice.frontend.params, voice.manifest)
    assert set(piece.tensors) == set(contracts) == {"input", "input_lengths"}
    for name, decl in contracts.items():
        decl.check_array(name, piece.tensors[name])


def test_a_stack_needing_a_tensor_the_frontend_lacks_fails_at_load(addon_copy) -> None:  # type: ignore[no-untyped-def]
    root = addon_copy()
    data = json.loads((root / "addon.json").read_text())
    data["stack"][0]["sequence_block"] = {"type": "SequenceBlockContainer", "blocks": [
        {"type": "Encoder", "network": "text_encoder", "inputs": {"input": "tones"}},
        {"type": "Encoder", "network": "duration"}]}
    (root / "addon.json").write_text(json.dumps(data))
    with pytest.raises(SpecError) as err:
        voicestack.load_voice(root)
    assert ("stack[0].sequence_block.blocks[0]: network 'text_encoder' needs tensor 'tones', which the sequence "
            "tensors do not provide (available: input, input_lengths)") in str(err.value)


def test_frontend_errors_name_the_path(addon_copy) -> None:  # type: ignore[no-untyped-def]
    root = addon_copy()
    data = json.loads((root / "addon.json").read_text())
    data["frontend"] = {"type": "Phonemes", "phonemizer": {"type": "PiperIds", "phoneme_id_map": {}}}
    (root / "addon.json").write_text(json.dumps(data))
    with pytest.raises(SpecError) as err:
        voicestack.load_voice(root)
    text = str(err.value)
    assert "frontend.phonemizer.type: 'PiperIds' is a ids; this slot expects a phonemizer" in text
    assert "frontend.ids: missing; 'Phonemes' needs a ids here" in text


def test_static_encoders_cut_where_the_frontend_allows(tiny_duration: Path) -> None:
    voice = voicestack.load_voice(tiny_duration)
    ids = [int(i) for p in voice.frontend.pieces("aaaa bbbb, cccc dddd eeee") for i in p.tensors["input"][0]]
    cuts = voice.frontend.cut_points(ids)
    starts = {i + 1 for i, v in enumerate(ids) if v == voice.frontend.symbols[" "]}
    assert {c for c, _ in cuts} == starts
    assert any(p == 2 for _, p in cuts)  # after the comma: a phrase break
    parts, forced = choose_cuts(len(ids), cuts, 16)
    assert forced == 0 and all(b - a <= 16 for a, b in parts) and {a for a, _ in parts[1:]} <= starts
