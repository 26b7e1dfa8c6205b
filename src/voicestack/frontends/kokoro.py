"""Kokoro's front-end: Japanese and English text -> Kokoro symbols -> tokens.

    "frontend": {"type": "Kokoro", "vocab": {symbol: id}, "max_piece": 510,
                 "japanese": {"type": "OpenJTalkKokoro"},
                 "english": {"type": "EspeakKokoro", "voice": "en-us"}}

Text is cut into sentences, each sentence into runs by script: Japanese (kana, kanji)
goes to the ``japanese`` phonemizer, Latin letters to the ``english`` one; digits and
punctuation join the run around them. Text in any other script is dropped and reported
(``unreadable_text`` event), never spoken. Every piece holds ``tokens`` int64 [1, L + 2]
(0 at both ends, as Kokoro was trained) and ``token_count`` int64 [1] = L, the row (+1)
of the speaker's style table.

Japanese readings come from OpenJTalk (PyPI ``pyopenjtalk-plus``); its phonemes are mapped
to the symbols Kokoro's Japanese voices were trained with (misaki's romaniser: ``ɯ``,
``ɕ``, ``ʨ``, ``ʔ`` for the geminate, ``ː`` for a long vowel, the moraic nasal by its
neighbour). English is espeak-ng IPA with a few rewrites into Kokoro's symbol set
(diphthongs as single letters ``A I O W Y``, affricates as ``ʤ ʧ``, r-coloured vowels).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from voicestack.frontends.base import (
    FrontEnd,
    FrontEndPart,
    Phonemes,
    Phonemizer,
    Piece,
    Problems,
    choose_cuts,
    register_frontend,
    unreadable_event,
)
from voicestack.params import limits
from voicestack.tensors import TensorDecl

if TYPE_CHECKING:
    from voicestack.addon import Manifest

# --------------------------------------------------------------------------- Japanese

_CONSONANTS = {
    "k": "k", "g": "ɡ", "s": "s", "sh": "ɕ", "z": "z", "j": "ʥ", "t": "t", "ch": "ʨ", "ts": "ʦ", "d": "d",
    "n": "n", "h": "h", "f": "ɸ", "b": "b", "p": "p", "m": "m", "r": "ɾ", "y": "j", "w": "β", "v": "v",
    "ky": "kʲ", "gy": "ɡʲ", "ny": "ɲ", "hy": "ç", "my": "mʲ", "by": "bʲ", "py": "pʲ", "ry": "ɾʲ", "dy": "dʲ",
    "ty": "tʲ",
}
_BEFORE_I = {"n": "ɲ", "h": "ç", "t": "tʲ", "d": "dʲ"}  # に ひ ティ ディ
_CENTRAL_U = {"s", "z", "ts", "sh", "ch", "j"}  # す ず つ しゅ ちゅ じゅ: ɨ, elsewhere ɯ
_VOWELS = {"a": "a", "i": "i", "u": "ɯ", "e": "e", "o": "o"}


def _nasal(following: str | None) -> str:
    """The moraic nasal ん, by the consonant after it."""
    if following in ("p", "b", "m", "py", "by", "my"):
        return "m"
    if following in ("k", "g", "ky", "gy"):
        return "ŋ"
    if following in ("ny",):
        return "ɲ"
    if following in ("n", "t", "d", "ts", "ch", "j", "r", "z"):
        return "n"
    return "ɴ"


def openjtalk_to_kokoro(phonemes: Sequence[str]) -> str:
    """OpenJTalk's phonemes (``pyopenjtalk.g2p``) as Kokoro's Japanese symbols."""
    out: list[str] = []
    last_vowel = ""
    for k, ph in enumerate(phonemes):
        nxt = phonemes[k + 1] if k + 1 < len(phonemes) else None
        low = ph.lower()
        if low in _VOWELS:
            prev = phonemes[k - 1] if k > 0 else ""
            vowel = "ɨ" if low == "u" and prev in _CENTRAL_U else _VOWELS[low]
            if last_vowel == vowel:  # the same vowel twice is one long vowel
                out.append("ː")
                last_vowel = ""
                continue
            out.append(vowel)
            last_vowel = vowel
            continue
        last_vowel = ""
        if ph == "N":
            after = phonemes[k + 2].lower() if k + 2 < len(phonemes) else ""
            out.append("ɲ" if nxt == "n" and after == "i" else _nasal(None if nxt == "pau" else nxt))
        elif ph == "cl":
            out.append("ʔ")
        elif ph == "pau":
            out.append(", ")
        elif ph in _CONSONANTS:
            if nxt is not None and nxt.lower() == "i" and ph in _BEFORE_I:
                out.append(_BEFORE_I[ph])
            else:
                out.append(_CONSONANTS[ph])
    return "".join(out).strip(", ")


@register_frontend
class OpenJTalkKokoro(Phonemizer):
    """Japanese text -> Kokoro symbols, one sentence at a time (readings from OpenJTalk)."""

    type_name = "OpenJTalkKokoro"
    _lock = threading.Lock()  # OpenJTalk keeps global state

    @classmethod
    def check(cls, params: Any, manifest: Manifest, path: str, problems: Problems) -> None:
        try:
            import pyopenjtalk  # noqa: F401
        except ImportError:
            problems.append((f"{path}.type", ("OpenJTalkKokoro needs the PyPI package pyopenjtalk-plus "
                                              "(pip install 'voicestack[kokoro]')")))

    def sentences(self, text: str) -> Iterator[Phonemes]:
        import pyopenjtalk

        for sentence in split_sentences(text):
            with self._lock:
                phonemes = pyopenjtalk.g2p(sentence).split()
            symbols = openjtalk_to_kokoro(phonemes)
            if symbols:
                yield Phonemes(sentence, symbols + _final_mark(sentence))


# --------------------------------------------------------------------------- English

# espeak-ng IPA -> Kokoro's (misaki's) English symbols; longest first
_ENGLISH_RULES = (
    ("eɪ", "A"), ("aɪ", "I"), ("aʊ", "W"), ("ɔɪ", "Y"), ("oʊ", "O"), ("əʊ", "O"), ("dʒ", "ʤ"), ("tʃ", "ʧ"),
    ("ɚ", "əɹ"), ("ɝ", "ɜɹ"), ("r", "ɹ"), ("ɐ", "ə"), ("ʲ", ""), ("e", "ɛ"), ("g", "ɡ"), ("ɬ", "l"),
    ("x", "k"),
)
_ENGLISH_RE = re.compile("|".join(re.escape(a) for a, _ in _ENGLISH_RULES))
_ENGLISH_MAP = dict(_ENGLISH_RULES)


def espeak_to_kokoro(ipa: str) -> str:
    return _ENGLISH_RE.sub(lambda m: _ENGLISH_MAP[m.group(0)], ipa)


@dataclass(frozen=True)
class EspeakKokoroParams:
    voice: str = field(default="en-us", metadata=limits(nonempty=True, max_len=64))
    normalize: bool = True


@register_frontend
class EspeakKokoro(Phonemizer):
    """English text -> espeak-ng IPA -> Kokoro symbols."""

    type_name = "EspeakKokoro"
    Params = EspeakKokoroParams

    def __init__(self, params: Any, children: Mapping[str, FrontEndPart], manifest: Manifest) -> None:
        super().__init__(params, children, manifest)
        from voicestack.frontends.espeak import EnglishNormalizer, Espeak, EspeakParams, NormalizerParams

        self.espeak = Espeak(EspeakParams(params.voice), {}, manifest)
        self.normalizer = EnglishNormalizer(NormalizerParams(params.voice.split("-")[0]), {}, manifest) \
            if params.normalize else None

    @classmethod
    def check(cls, params: Any, manifest: Manifest, path: str, problems: Problems) -> None:
        from voicestack.frontends.espeak import Espeak, EspeakParams

        Espeak.check(EspeakParams(params.voice), manifest, path, problems)

    def sentences(self, text: str) -> Iterator[Phonemes]:
        if self.normalizer is not None:
            text = self.normalizer.normalize(text)
        for sentence in self.espeak.sentences(text):
            yield Phonemes(sentence.text, espeak_to_kokoro(sentence.phonemes), sentence.events)


# --------------------------------------------------------------------------- text -> pieces

_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=[.])(?=\s|$)|\n+")
_FINAL = {"。": ".", "．": ".", "！": "!", "？": "?", "!": "!", "?": "?", ".": "."}


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _final_mark(sentence: str) -> str:
    return _FINAL.get(sentence.rstrip()[-1:], ".")


def script_of(ch: str) -> str:
    """'ja', 'en', '' (neutral: digits, spaces, punctuation) or another script's name."""
    code = ord(ch)
    if (0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0x3400 <= code <= 0x4DBF
            or 0x4E00 <= code <= 0x9FFF or 0xFF66 <= code <= 0xFF9F or 0xF900 <= code <= 0xFAFF):
        return "ja"
    category = unicodedata.category(ch)
    if not category.startswith("L"):
        return ""
    name = unicodedata.name(ch, "")
    if name.startswith(("LATIN", "FULLWIDTH LATIN")):
        return "en"
    return name.split(" ")[0].capitalize() or "Unknown"


@dataclass(frozen=True)
class Run:
    script: str
    text: str


def script_runs(text: str) -> list[Run]:
    """Runs of one script; neutral characters join the run before them (or the next one)."""
    runs: list[Run] = []
    pending = ""
    for ch in text:
        script = script_of(ch)
        if not script:
            if runs:
                runs[-1] = Run(runs[-1].script, runs[-1].text + ch)
            else:
                pending += ch
            continue
        if runs and runs[-1].script == script:
            runs[-1] = Run(script, runs[-1].text + ch)
        else:
            runs.append(Run(script, pending + ch))
            pending = ""
    if pending.strip() and not runs:
        runs.append(Run("ja" if any(c.isdigit() for c in pending) else "", pending))
    return runs


@dataclass(frozen=True)
class KokoroParams:
    vocab: Mapping[str, int]
    max_piece: int = field(default=510, metadata=limits(lo=16, hi=510))
    # the text's first piece is cut at a phrase or word break within this many tokens (0: off), so
    # first audio waits for a short piece only (Kokoro decodes a piece in one call)
    first_piece: int = field(default=0, metadata=limits(lo=0, hi=510))


TOKEN_TENSORS = {"tokens": TensorDecl("int64", (1, "T")), "token_count": TensorDecl("int64", (1,))}


@register_frontend
class KokoroFrontEnd(FrontEnd):
    """Japanese and English text -> Kokoro tokens (see the module docstring)."""

    type_name = "Kokoro"
    Params = KokoroParams
    slots: ClassVar[Mapping[str, tuple[str, bool]]] = {"japanese": ("phonemizer", False),
                                                        "english": ("phonemizer", False)}

    def __init__(self, params: Any, children: Mapping[str, FrontEndPart], manifest: Manifest) -> None:
        children = dict(children)
        children.setdefault("japanese", OpenJTalkKokoro(None, {}, manifest))
        children.setdefault("english", EspeakKokoro(EspeakKokoroParams(), {}, manifest))
        super().__init__(params, children, manifest)
        self.vocab = dict(params.vocab)
        self.word = frozenset(self.vocab[c] for c in " " if c in self.vocab)
        self.phrase = frozenset(self.vocab[c] for c in ",;:.!?—…" if c in self.vocab)

    @classmethod
    def check(cls, params: Any, manifest: Manifest, path: str, problems: Problems) -> None:
        bad = [k for k, v in params.vocab.items() if len(k) != 1 or not isinstance(v, int) or v <= 0]
        if bad:
            problems.append((f"{path}.vocab", f"entry {bad[0]!r}: expected one symbol -> an id > 0"))
        OpenJTalkKokoro.check(None, manifest, f"{path}.japanese", problems)

    @classmethod
    def contracts(cls, params: Any, manifest: Manifest) -> dict[str, TensorDecl]:
        return dict(TOKEN_TENSORS)

    def encode(self, symbols: str) -> list[int]:
        return [self.vocab[c] for c in symbols if c in self.vocab]

    def cut_points(self, ids: Sequence[int]) -> list[tuple[int, int]]:
        return [(i + 1, 2 if v in self.phrase else 1) for i, v in enumerate(ids)
                if v in self.word or v in self.phrase]

    def sentences(self, text: str) -> Iterator[tuple[Phonemes, tuple[dict[str, Any], ...]]]:
        """Sentences of Kokoro symbols; text no stage reads is reported with the first one."""
        stages = {"ja": self.children["japanese"], "en": self.children["english"]}
        readable: list[tuple[Phonemizer, str]] = []
        dropped: list[Run] = []
        for sentence in split_sentences(text):
            for run in script_runs(sentence):
                stage = stages.get(run.script)
                if isinstance(stage, Phonemizer):
                    readable.append((stage, run.text))
                elif run.text.strip():
                    dropped.append(run)
        events: tuple[dict[str, Any], ...] = (unreadable_event(dropped),) if dropped else ()
        for stage, run_text in readable:
            for phonemes in stage.sentences(run_text):
                yield phonemes, events + phonemes.events
                events = ()

    def first_cut(self, ids: Sequence[int]) -> int | None:
        """Where the text's first piece ends (``first_piece``), or None: no break in reach."""
        limit = self.params.first_piece
        if limit <= 0 or len(ids) <= limit:
            return None
        reach = [(c, p) for c, p in self.cut_points(ids) if limit // 4 <= c <= limit and c < len(ids) - 4]
        phrases = [c for c, p in reach if p == 2 and c >= limit // 2]
        return phrases[-1] if phrases else reach[-1][0] if reach else None

    def pieces(self, text: str) -> Iterator[Piece]:
        first = True
        for sentence, events in self.sentences(text):
            ids = self.encode(sentence.phonemes)
            if not ids:
                continue
            head = self.first_cut(ids) if first else None
            first = False
            offset = head or 0
            parts = [(0, head)] if head else []
            rest = choose_cuts(len(ids) - offset, self.cut_points(ids[offset:]), self.params.max_piece)[0]
            parts += [(a + offset, b + offset) for a, b in rest]
            for k, (a, b) in enumerate(parts):
                yield token_piece(ids[a:b], sentence.text, k == len(parts) - 1, sentence.phonemes,
                                  events if k == 0 else ())

    def pad_id(self) -> int:
        return 0


def token_piece(ids: Sequence[int], text: str = "", sentence_end: bool = True, phonemes: str = "",
                events: tuple[dict[str, Any], ...] = ()) -> Piece:
    """``tokens`` [1, L + 2] (0-padded at both ends) and ``token_count`` [1] = L."""
    return Piece({"tokens": np.asarray([[0, *ids, 0]], dtype=np.int64),
                  "token_count": np.asarray([len(ids)], dtype=np.int64)}, text, sentence_end, phonemes, events)
