"""The intelligibility harness's scoring (no recogniser needed): normalisation, WER/CER
and the resynthesis fidelity figures."""

import numpy as np
import pytest

from voicestack.evaluate import Fidelity, Score, edit_distance, normalise, read_texts


def test_normalise_spells_numbers_and_drops_punctuation():
    assert normalise("On May 3rd, 1,500 men didn't  leave!") == "on may third one thousand five hundred men didnt leave"
    assert normalise("50% & 2.5") == "fifty percent and two point five"


def test_edit_distance_counts_each_kind_of_edit():
    assert edit_distance(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert edit_distance(["a", "b", "c"], ["a", "x", "c"]) == 1  # substitution
    assert edit_distance(["a", "b", "c"], ["a", "c"]) == 1  # deletion
    assert edit_distance(["a", "b"], ["a", "b", "c", "d"]) == 2  # insertions
    assert edit_distance([], ["a", "b"]) == 2


def test_score_is_corpus_level():
    s = Score()
    s.add("The cat sat.", "the cat sat")  # 0 of 3
    s.add("One two three four five", "one two tree four")  # 2 of 5
    assert s.words == 8
    assert s.wer == pytest.approx(2 / 8)
    assert 0 < s.cer < s.wer


def test_fidelity_mel_distance_grows_with_damage():
    rng = np.random.default_rng(0)
    t = np.arange(22050) / 22050
    ref = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    same, slight, heavy = Fidelity(), Fidelity(), Fidelity()
    same.add(ref, ref, 22050)
    slight.add(ref, ref + 0.003 * rng.standard_normal(ref.size).astype(np.float32), 22050)
    heavy.add(ref, ref + 0.1 * rng.standard_normal(ref.size).astype(np.float32), 22050)
    assert same.mean("mel_l1") == pytest.approx(0.0, abs=1e-6)
    assert 0 < slight.mean("mel_l1") < heavy.mean("mel_l1")
    # a shorter output is compared over the common length, not refused
    short = Fidelity()
    short.add(ref, ref[:11025], 22050)
    assert short.mean("mel_l1") == pytest.approx(0.0, abs=1e-6)
    assert set(same.summary()) == {"pesq", "stoi", "mel_l1"}


def test_read_texts_test_split_is_every_twentieth_line(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(f"line {i}" for i in range(45)) + "\n")
    assert read_texts(path, "test", None) == ["line 0", "line 20", "line 40"]
    assert read_texts(path, "test", 2) == ["line 0", "line 20"]
    assert len(read_texts(path, "all", None)) == 45


def test_voice_at_stack_names_a_stack():
    from voicestack.evaluate import split_stack

    assert split_stack("joe-mel@griffin-lim") == ("joe-mel", {"stack": "griffin-lim"})
    assert split_stack("joe") == ("joe", {})
