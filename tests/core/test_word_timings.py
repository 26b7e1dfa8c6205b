"""Word timings: exactly the durations (duration model) and the attention path (attention model)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import voicestack
from voicestack.frontends.base import Span
from voicestack.frontends.words import label_phoneme_words, part_spans

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
