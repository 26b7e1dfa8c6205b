"""A voice that fails inside an utterance is finished by its declared fallback, seamlessly.

The crafted failing attention networks of tests/data/tiny_attention (see
``scripts/make_attention_test_networks.py``) fail in known ways; with ``hold: "word"``
the decoder releases a word's frames only once the attention has moved past it, drops
the word it failed in, and the addon's ``fallback`` (here its good stack) says the rest.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voicestack.errors import SpecError
from voicestack.voice import Voice

DATA = Path(__file__).parents[1] / "data" / "tiny_attention"
TEXT = "hello there how are you today. fine thanks."
FAILING = ["never_stops", "backwards", "stalls", "skips", "early_stop"]


def variant(tmp_path: Path, fallback: Any = {"stack": "default"}, hold: str = "word") -> Path:  # noqa: B006
    dest = tmp_path / "tiny_attention"
    shutil.copytree(DATA, dest)
    manifest = json.loads((dest / "addon.json").read_text())
    for name, stack in manifest["stacks"].items():
        stack[0]["streamable_block"]["stack"][0]["hold"] = hold
    if fallback is not None:
        manifest["fallback"] = fallback
    (dest / "addon.json").write_text(json.dumps(manifest))
    return dest


def speak(voice: Voice, text: str = TEXT) -> tuple[np.ndarray, list[dict[str, Any]], int]:
    """The audio, the request's events, and the sample where the fallback took over (-1: never)."""
    req = voice.request(seed=0)
    parts, seam = [], -1
    for chunk in voice.stream(text, request=req):
        if seam < 0 and any(e.get("event") == "fallback" for e in req.events):
            seam = sum(p.size for p in parts)
        parts.append(chunk.audio)
    return np.concatenate(parts), req.events, seam


@pytest.mark.parametrize("stack", FAILING)
def test_the_fallback_says_the_rest_without_a_gap(tmp_path: Path, stack: str) -> None:
    voice = Voice.load(variant(tmp_path), profile={"stack": stack})
    audio, events, seam = speak(voice)
    handover = [e for e in events if e.get("event") == "fallback"]
    assert len(handover) == 1, events
    ends = [e for e in events if e.get("event") == "end"]
    assert ends[0]["status"] not in ("stop_token",) and ends[0]["resume"] == handover[0]["resume"]
    # the rest of the piece and every later piece come from the fallback, and end cleanly
    assert [e["status"] for e in ends[1:]] == ["stop_token"] * (len(ends) - 1) and len(ends) >= 2
    assert seam > 0 or handover[0]["resume"] == 0  # what was said before the failure was kept
    assert audio.size > seam  # and the fallback spoke (the gap is measured on real voices:
    # tests/voices/test_fallback_voice.py)
    words = voice.synthesize(TEXT, seed=0).words  # each word once, in order, across the hand-over
    assert [w.text for w in words] == TEXT.replace(".", "").split()
    assert all(a.start <= b.start for a, b in zip(words, words[1:], strict=False))


def test_the_failed_word_is_dropped_and_said_again(tmp_path: Path) -> None:
    voice = Voice.load(variant(tmp_path), profile={"stack": "backwards"})
    audio, events, _ = speak(voice, "hello there how are you today")
    end = next(e for e in events if e.get("event") == "end")
    piece = next(iter(voice.frontend.pieces("hello there how are you today")))
    ids = [int(i) for i in piece.tensors["input"][0]]
    words = {0} | {c for c, _ in voice.frontend.cut_points(ids)}
    assert end["resume"] in words and end["resume"] <= end["position"]


def test_without_a_fallback_the_utterance_ends_as_before(tmp_path: Path) -> None:
    voice = Voice.load(variant(tmp_path, fallback=None), profile={"stack": "backwards"})
    _, events, seam = speak(voice)
    assert seam == -1 and not [e for e in events if e.get("event") == "fallback"]


@pytest.mark.parametrize(("fallback", "message"), [
    ({}, "fallback: .*expected exactly one of 'voice'"),
    ({"voice": "joe-mel", "stack": "default"}, "fallback: .*expected exactly one of 'voice'"),
    ({"stack": "nope"}, "fallback.stack: no stack 'nope'"),
    ({"stack": 3}, "fallback.stack: got a number 3"),
])
def test_a_bad_fallback_is_refused_with_its_path(tmp_path: Path, fallback: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        Voice.load(variant(tmp_path, fallback=fallback))


def test_another_voice_of_another_architecture_can_finish(tmp_path: Path) -> None:
    other = Path(__file__).parents[1] / "data" / "tiny_duration"  # a duration model, same letters
    voice = Voice.load(variant(tmp_path, fallback={"voice": str(other)}), profile={"stack": "stalls"})
    audio, events, seam = speak(voice)
    handover = next(e for e in events if e.get("event") == "fallback")
    assert handover["to"] == voice.fallback.name != voice.name
    assert 0 <= seam < audio.size  # the fallback spoke


def test_a_fallback_voice_that_reads_other_ids_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(Path(__file__).parents[1] / "data" / "tiny_duration", other)
    manifest = json.loads((other / "addon.json").read_text())
    manifest["frontend"]["symbols"] = "zyxwvutsrqponmlkjihgfedcba ,.!?'"
    (other / "addon.json").write_text(json.dumps(manifest))
    with pytest.raises(SpecError, match="fallback.voice: fallback voice .* reads other ids"):
        Voice.load(variant(tmp_path, fallback={"voice": str(other)}))


def test_the_service_counts_each_hand_over(tmp_path: Path) -> None:
    import asyncio

    from voicestack.service.core import Service, ServiceConfig, SynthesisParams

    voices = tmp_path / "voices"
    voices.mkdir()
    addon = variant(voices)
    manifest = json.loads((addon / "addon.json").read_text())
    manifest["stack"], manifest["fallback"] = manifest["stacks"]["backwards"], {"stack": "good"}
    manifest["stacks"]["good"] = json.loads((DATA / "addon.json").read_text())["stack"]
    (addon / "addon.json").write_text(json.dumps(manifest))

    async def run() -> bytes:
        service = Service(ServiceConfig(voices_dirs=(voices,), builtins=False, default_voice="tiny_attention"))
        try:
            s = await service.start(SynthesisParams("tiny_attention", seed=1), TEXT, 0.0, "test")
            while await s.next() is not None:
                pass
            s.finish("ok")
            return service.metrics.render()
        finally:
            service.close()

    metrics = asyncio.run(run()).decode()
    assert 'voicestack_voice_events_total{event="fallback",voice="tiny_attention"} 1.0' in metrics
