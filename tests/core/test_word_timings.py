"""Word timings: exactly the durations (duration model) and the attention path (attention model)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import voicestack
from voicestack.frontends.base import Span
from voicestack.frontends.words import STOPS, label_phoneme_words, part_spans, phoneme_spans

TEXT = "hello big world, again. next one"


def _chunk_ranges(chunks):
    out, pos = [], 0
    for c in chunks:
        out.append((pos, pos + c.audio.size))
        pos += c.audio.size
    return out


def test_duration_model_words_are_its_durations_exactly(tiny_duration):
    voice = voicestack.load_voice(tiny_duration)
    chunks = list(voice.stream(TEXT, seed=3))
    hop = 4  # the tiny decoder makes 4 samples a frame
    assert voice.frame_ratio == hop
    expected, offset = [], 0
    for k, piece in enumerate(voice.frontend.pieces(TEXT)):
        req = voice.request(seed=3)
        req.piece = k
        encoded = voice.root.sequence_block.run(dict(piece.tensors), req)
        counts = np.maximum(np.rint(encoded["w_ceil"].reshape(-1)), 0).astype(int)
        starts = np.concatenate([[0], np.cumsum(counts)])
        for w in piece.words:
            expected.append((w.text, offset + starts[w.start] * hop, offset + starts[w.end] * hop))
        offset += int(starts[-1]) * hop
    assert offset == sum(c.audio.size for c in chunks)
    got = [(w.text, round(w.start * 16000), round(w.end * 16000)) for c in chunks for w in c.words]
    assert [w for w, _, _ in got] == ["hello", "big", "world", "again", "next", "one"]
    assert got == [(w, int(a), int(b)) for w, a, b in expected]
    assert voice.synthesize(TEXT, seed=3).words == tuple(w for c in chunks for w in c.words)
    # each word comes with the chunk its first sample is in
    for (lo, hi), c in zip(_chunk_ranges(chunks), chunks, strict=True):
        for w in c.words:
            assert lo <= round(w.start * 16000) < hi or c.audio.size == 0
    # phonemes: one per letter, in order, inside the audio
    letters = [p.text for c in chunks for p in c.phonemes]
    assert "".join(letters) == "".join(ch for ch in TEXT if ch.isalpha() or ch in ",.")


# every IPA symbol espeak gives for English, folded into the tiny network's 33 ids
_IPA = "abdefhijklmnoprstuvwxzæçðŋɐɑɒɔəɚɛɜɡɪɬɹɾʃʊʌʒʔʲθᵻ\u0329ːˈˌ ,.!?;:"
_PIPER_MAP = {"_": [0], "^": [1], "$": [2], **{ch: [3 + k % 30] for k, ch in enumerate(_IPA)}}


def test_duration_model_word_is_heard_from_its_first_sound_a_stop_from_its_release(addon_copy):
    # Piper's layout, ^ _ (phoneme _)* $: phoneme k of the sentence is id 2 + 2k. A word
    # starts at its first sound's frames (not at the space or the pad before it); a stop's
    # own frames are its closure, silence, so a word that begins with one starts at the
    # frames after them (its release); its end is its last sound's end either way
    root = addon_copy()
    manifest = json.loads((root / "addon.json").read_text())
    manifest["frontend"] = {"type": "espeak", "voice": "en-us", "normalize": False, "phoneme_id_map": _PIPER_MAP}
    (root / "addon.json").write_text(json.dumps(manifest))
    voice = voicestack.load_voice(root)
    text = "Big apples, take one."
    (piece,) = list(voice.frontend.pieces(text))
    phonemes = piece.phonemes
    assert all(ch in _PIPER_MAP for ch in phonemes)
    req = voice.request(seed=3)
    encoded = voice.root.sequence_block.run(dict(piece.tensors), req)
    counts = np.maximum(np.rint(encoded["w_ceil"].reshape(-1)), 0).astype(int)
    frame = np.concatenate([[0], np.cumsum(counts)]) * voice.frame_ratio  # id -> its first sample
    expected = []
    for written, said in zip(["Big", "apples", "take", "one"], [m for m in phonemes.split(" ")], strict=True):
        sounds = [k for k, ch in enumerate(phonemes) if ch not in "ˈˌ,.!?;: "
                  and phonemes.index(said) <= k < phonemes.index(said) + len(said)]
        first = sounds[0]
        heard = 2 + 2 * first + (1 if phonemes[first] in STOPS else 0)
        expected.append((written, int(frame[heard]), int(frame[2 + 2 * sounds[-1] + 1])))
    assert [phonemes[k] in STOPS for k in [phonemes.index(m) for m in phonemes.split(" ")]] == [True, False, True, False]
    said = voice.synthesize(text, seed=3)
    got = [(w.text, round(w.start * 16000), round(w.end * 16000)) for w in said.words]
    assert got == expected
    # the phonemes keep their own frames: a stop's timing is its closure, where its word is not yet heard
    stops = [p for p in said.phonemes if p.text in STOPS]
    assert round(stops[0].end * 16000) == got[0][1]


def test_a_word_starts_at_its_first_sound_not_a_stress_mark_and_a_stop_at_its_release():
    phonemes = "bˈɪɡ ˈæpəl"
    positions = [2 + 2 * k for k in range(len(phonemes))]  # Piper's ids: one id a symbol, a pad after each
    words, phones = phoneme_spans(phonemes, positions, [1] * len(phonemes), [("big", 0, 4), ("apple", 5, 10)])
    # big: b is id 2, its release the pad after it (id 3); apple: æ (id 14), not its stress mark (id 12)
    assert words == [Span("big", 3, 9), Span("apple", 14, 21)]
    assert [p.text for p in phones] == list("bɪɡæpəl") and phones[0] == Span("b", 2, 3)


def test_attention_model_words_follow_its_attention():
    # step_good's attention peak is on symbol t at step t; a step makes 2 frames of 4 samples
    voice = voicestack.load_voice("tests/data/tiny_attention")
    chunks = list(voice.stream("abc de. fgh", seed=1))
    got = [(w.text, round(w.start * 16000), round(w.end * 16000)) for c in chunks for w in c.words]
    first_piece = sum(c.audio.size for c in voice.stream("abc de.", seed=1))
    total = sum(c.audio.size for c in chunks)
    # ids a b c ' ' d e . : 'abc' is symbols 0-2, 'de' 4-5; symbol i starts at sample 8 i; the
    # last word ends with its piece's audio
    assert got == [("abc", 0, 3 * 8), ("de", 4 * 8, 6 * 8), ("fgh", first_piece, total)]


def test_written_words_are_matched_to_merged_phoneme_words():
    # espeak reads "of the" as one phoneme word; each written word gets its share
    alone = {"one": "wˈʌn", "of": "ʌv", "the": "ðə", "men": "mˈɛn"}
    words = label_phoneme_words(list(alone), "wˈʌn ʌvðə mˈɛn", lambda ws: [alone[w] for w in ws])
    assert words == [("one", 0, 4), ("of", 5, 7), ("the", 7, 9), ("men", 10, 14)]


def test_spans_follow_pieces_rewrapped_with_their_own_ends():
    ids = [1, 0, 5, 0, 3, 0, 6, 0, 7, 0, 2]  # ^ _ a _ ' ' _ b _ c _ $
    parts = [[1, 0, 5, 0, 3, 0, 2], [1, 0, 6, 0, 7, 0, 2]]
    spans = [Span("a", 2, 3), Span("bc", 6, 9)]
    assert part_spans(ids, parts, spans) == [(Span("a", 2, 3),), (Span("bc", 2, 5),)]


@pytest.mark.real_voice
def test_joe_words_in_order_and_inside_the_audio():
    voice = voicestack.load_voice("joe")
    chunks = list(voice.stream("Of the 12 men, one has been to the FBI.", seed=1))
    words = [w for c in chunks for w in c.words]
    assert [w.text for w in words] == ["Of", "the", "12", "men", "one", "has", "been", "to", "the", "FBI"]
    total = sum(c.audio.size for c in chunks) / voice.sample_rate
    assert all(0 <= w.start <= w.end <= total for w in words)
    assert all(a.start <= b.start for a, b in itertools.pairwise(words))


def test_long_sentences_match_words_around_anchors(monkeypatch):
    # 200 words said as alone, one merged pair in the middle: only that gap is scored
    from voicestack.frontends import words as module

    calls = []
    real = module._similarity
    monkeypatch.setattr(module, "_similarity", lambda a, b: calls.append(1) or real(a, b))
    alone = {f"w{k}": f"p{k}" for k in range(200)} | {"of": "ʌv", "the": "ðə"}
    written = [f"w{k}" for k in range(100)] + ["of", "the"] + [f"w{k}" for k in range(100, 200)]
    said = " ".join([f"p{k}" for k in range(100)] + ["ʌvðə"] + [f"p{k}" for k in range(100, 200)])
    got = label_phoneme_words(written, said, lambda ws: [alone[w] for w in ws])
    assert [w for w, _, _ in got] == written
    merged = [(w, said[a:b]) for w, a, b in got if w in ("of", "the")]
    assert merged == [("of", "ʌv"), ("the", "ðə")]
    assert 0 < len(calls) < 20
