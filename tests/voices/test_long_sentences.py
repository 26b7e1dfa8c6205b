"""No pause where the text has none: a long sentence is one piece, encoded whole up to
the voice's limit and in parts joined before the decoder beyond it, under every profile."""

from __future__ import annotations

from pathlib import Path

import pytest

import voicestack
from voicestack.testing import addon_variant, silences

pytestmark = pytest.mark.real_voice

# held-out long sentences without a single punctuation mark inside (50 to 90 words)
LONG = [
    ("The old ferry that used to cross the river twice every morning carried farmers with their baskets of "
     "apples and pears and the children who went to the school on the far bank and the postman who knew "
     "every family by name and never once in thirty years forgot to wave to the lighthouse keeper standing "
     "on the rocks below the hill"),
    ("When the engineers finally opened the valve the water rushed through the new channel faster than anyone "
     "had expected and within an hour the dry fields that had waited all summer for rain were shining under a "
     "thin bright sheet that reflected the clouds drifting slowly toward the mountains in the west"),
    ("My grandmother kept a small notebook in the kitchen drawer where she wrote down the names of the birds "
     "that came to the garden each winter along with the date and the weather and sometimes a short remark "
     "about how hungry they looked or how loudly they argued over the seeds she scattered on the frozen path "
     "behind the house before breakfast"),
]


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, voicestack.Voice]:
    from voicestack.catalog import builtin_dir

    joe = builtin_dir("joe")
    tmp = tmp_path_factory.mktemp("long")
    return {
        "whole": voicestack.load_voice(addon_variant(joe, tmp / "whole", max_encode=100_000)),
        "default": voicestack.load_voice(joe),
        "parts": voicestack.load_voice(addon_variant(joe, tmp / "parts", max_encode=160)),
        "static parts": voicestack.load_voice(tmp / "parts", profile="static"),
        # what the front-end did before: cut the sentence into pieces spoken one by one
        "pieces": voicestack.load_voice(addon_variant(joe, tmp / "pieces", max_piece=200)),
    }


def pauses(voice: voicestack.Voice, text: str) -> tuple[list[tuple[float, float]], float]:
    audio = voice.synthesize(text, seed=0).audio
    return silences(audio, voice.sample_rate, min_seconds=0.15), len(audio) / voice.sample_rate


def new_pauses(got: tuple[list[tuple[float, float]], float], whole: tuple[list[tuple[float, float]], float],
               tolerance: float = 0.3) -> list[tuple[float, float]]:
    """The pauses of ``got`` the whole-sentence rendering doesn't have near the same place
    (times scaled by the two durations)."""
    scale = whole[1] / got[1]
    return [p for p in got[0] if not any(abs(p[0] * scale - q[0]) <= tolerance for q in whole[0])]


@pytest.mark.parametrize("text", LONG, ids=["ferry", "valve", "notebook"])
def test_no_pause_that_the_whole_sentence_has_not(variants: dict[str, voicestack.Voice], text: str) -> None:
    whole = pauses(variants["whole"], text)
    for name in ("default", "parts", "static parts"):
        extra = new_pauses(pauses(variants[name], text), whole)
        assert not extra, f"{name}: pauses {extra} that the whole sentence ({whole[0]}) has not"
    # the check can fail: pieces spoken one after another do pause between them
    assert new_pauses(pauses(variants["pieces"], text), whole)


def test_one_piece_per_sentence_however_long(variants: dict[str, voicestack.Voice]) -> None:
    for text in LONG:
        assert len(list(variants["default"].frontend.pieces(text))) == 1


def test_the_voice_limit_is_the_same_under_every_profile(tmp_path: Path) -> None:
    from voicestack.catalog import builtin_dir

    static = voicestack.load_voice(builtin_dir("joe"), profile="static")
    encoders = static.root.sequence_block
    assert encoders.limit == static.frontend.encode_limit()
    assert max(encoders.buckets) >= encoders.limit  # the compiled sizes cover it
