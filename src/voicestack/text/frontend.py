"""Text to Piper phoneme ids, the way piper-tts 1.8.0 does it, via espeak-ng.

espeak-ng runs in a worker process (see ``espeak_client``).  Its output is turned
into piper's phoneme strings here:

* each espeak clause gives IPA phonemes; language-switch flags ``(en)`` are removed;
* espeak 1.52.0 prints the English linking phoneme ``;`` as nothing in IPA, while
  the espeak snapshot in piper-tts prints ``ʲ``: a phoneme that is empty in the IPA
  pass and ``;`` in the ASCII pass becomes ``ʲ``;
* the clause's terminator (``.`` ``?`` ``!`` end a sentence; ``,`` ``:`` ``;`` are
  followed by a space) is read back from the text the clause consumed, since the
  library in espeakng-loader does not report it;
* the sentence is NFD-normalised and split into code points; ids are
  ``^ _ (phoneme _)* $``.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from voicestack.text.espeak_client import SEPARATOR, EspeakClient, EspeakError, get_client
from voicestack.text.normalize import normalize as normalize_text
from voicestack.text.normalize import strip_invisible
from voicestack.text.scripts import Unreadable, drop_unreadable

__all__ = ["FrontEndError", "Sentence", "TextFrontEnd", "phrase_breaks"]

_LOGGER = logging.getLogger(__name__)

BOS, EOS, PAD = "^", "$", "_"
PHRASE_PUNCTUATION = (",", ":", ";")
_LANG_FLAG = re.compile(r"\([^)]+\)")
_RAW_PHONEMES = re.compile(r"(\[\[.*?\]\])")
_TERMINATORS = {".": ".", "?": "?", "!": "!", ",": ", ", ":": ": ", ";": "; "}
_PUNCT_RUN = re.compile(r"[^\w\s]+")
_PARAGRAPH = re.compile(r"\s*\n[^\S\n]*\n\s*$")
_PARAGRAPH_START = re.compile(r"[^\S\n]*\n[^\S\n]*\n")
_WORD = re.compile(r"\w")
_CLOSERS = re.compile("[\"')\\]\u201d\u2019]")
# Long texts are sent to espeak in pieces that end where a sentence surely ends, so
# that the first sentences are ready before the whole text is done.
CHUNK_CHARS = 2000
FIRST_CHUNK_CHARS = 240  # the first piece is small: the first sentence is what the listener waits for
_SENTENCE_END = re.compile(r"[.!?][\"')\]\u201d\u2019]*\s+(?=[A-Z\"'(\[\u201c\u2018])|\n[ \t]*\n\s*")


class FrontEndError(RuntimeError):
    """The text front-end cannot work (e.g. the espeak-ng worker does not start)."""


@dataclass(frozen=True)
class Sentence:
    """One sentence: its source text (approximate span), phonemes and phoneme ids."""

    text: str
    phonemes: str
    ids: list[int] = field(default_factory=list)


def _merge_linking(ipa: str, ascii_: str) -> str:
    """Join a clause's IPA phonemes, writing ``ʲ`` where ASCII has ``;``."""
    ipa_words, ascii_words = ipa.split(" "), ascii_.split(" ")
    if SEPARATOR not in ipa or len(ipa_words) != len(ascii_words):
        return ipa.replace(SEPARATOR, "")
    out = []
    for ipa_word, ascii_word in zip(ipa_words, ascii_words):
        ipa_ph, ascii_ph = ipa_word.split(SEPARATOR), ascii_word.split(SEPARATOR)
        if len(ipa_ph) != len(ascii_ph):
            out.append("".join(ipa_ph))
            continue
        out.append("".join("ʲ" if (i == "" and a == ";") else i for i, a in zip(ipa_ph, ascii_ph)))
    return " ".join(out)


def _clause_end(span: str, last: bool) -> tuple[str, bool, int]:
    """Read a clause's terminator back from the text espeak consumed for it.

    ``span`` is the clause's text as far as espeak's text pointer went: espeak reads
    a character or two past the clause's end, and those belong to the next clause.
    Returns (terminator as piper appends it, whether it ends a sentence, where in
    ``span`` the clause ends).
    """
    best = None
    for match in _PUNCT_RUN.finditer(span):
        tail = span[match.end() :]
        if (tail.strip() == "" if last else len(tail.strip()) <= 2):
            best = match
            break
    if best is None:
        end = len(span) if last else max(0, len(span) - 1)
        if _PARAGRAPH.search(span[:end] if not last else span):
            return "", True, end
        return "", False, end
    end = best.end()
    tail = span[end:]
    if _PARAGRAPH_START.match(tail):
        return "", True, end  # a paragraph ends the sentence, without its mark
    if not _WORD.search(span[: best.start()]):
        return "", False, end  # punctuation alone is read out, not a terminator
    run = best.group(0)
    if run.endswith("...") or "\u2026" in run:
        return "", False, end  # an ellipsis is no terminator for piper
    if run[0] in "\u2014\u2013" and span[: best.start()][-1:].isspace():
        return "; ", False, end  # a spaced dash is read as a semicolon
    run = _CLOSERS.sub("", run)
    if not run or run[0] not in _TERMINATORS:
        return "", False, end
    return _TERMINATORS[run[0]], run[0] in ".?!", end


def _chunks(text: str) -> Iterator[tuple[int, str]]:
    """Split long text where a sentence certainly ends: (offset, piece)."""
    start = 0
    while len(text) - start > (limit := FIRST_CHUNK_CHARS if start == 0 else CHUNK_CHARS):
        cut = None
        for match in _SENTENCE_END.finditer(text, start + limit // 2):
            cut = match.end()
            break
        if cut is None or cut >= len(text):
            break
        yield start, text[start:cut]
        start = cut
    yield start, text[start:]


class TextFrontEnd:
    """Text -> sentences of Piper phonemes and ids for one espeak-ng voice."""

    def __init__(
        self,
        voice: str,
        phoneme_id_map: Mapping[str, Sequence[int]],
        normalize: bool = True,
        language: str | None = None,
    ) -> None:
        for symbol in (BOS, EOS, PAD):
            if symbol not in phoneme_id_map:
                raise ValueError(f"phoneme_id_map: no id for {symbol!r}; expected Piper's ^ _ $")
        self.voice = voice
        self.phoneme_id_map = {k: list(v) for k, v in phoneme_id_map.items()}
        self.normalize = normalize
        self.language = language or voice.split("-")[0]
        self.unknown_phonemes: Counter[str] = Counter()
        # Runs of text dropped because the voice cannot read their script, by script.
        self.unreadable: Counter[str] = Counter()
        self._unknown_lock = threading.Lock()
        self._client: EspeakClient | None = None

    # --- espeak ------------------------------------------------------------------

    def _espeak(self, text: str) -> list[tuple[str, str, str]]:
        client = self._client or get_client()
        try:
            return client.clauses(self.voice, text)
        except EspeakError as exc:
            raise FrontEndError(str(exc)) from exc

    def _espeak_sentences(self, text: str) -> Iterator[tuple[str, str]]:
        """(source text, phonemes) of each sentence, as piper's espeak phonemizer."""
        for offset, piece in _chunks(text):
            clauses = self._espeak(piece)
            current, begin, carry_start, pos = "", 0, 0, 0
            for index, (ipa, ascii_, consumed) in enumerate(clauses):
                last = index == len(clauses) - 1
                pos += len(consumed)
                span = piece[carry_start:pos]
                terminator, end_of_sentence, end = _clause_end(span, last)
                end += carry_start
                carry_start = end
                phonemes = _LANG_FLAG.sub("", _merge_linking(ipa, ascii_))
                if not phonemes.strip():
                    terminator, end_of_sentence = "", False
                current += phonemes + terminator
                if end_of_sentence:
                    yield piece[begin:end], unicodedata.normalize("NFD", current)
                    current, begin = "", end
            if current:
                yield piece[begin:], unicodedata.normalize("NFD", current)

    # --- public API --------------------------------------------------------------

    def prepare(self, text: str) -> str:
        """The text that goes to espeak: invisible characters and text in a script the
        voice cannot read out, normalised if enabled."""
        return self._prepare(text)[0]

    def _prepare(self, text: str) -> tuple[str, list[Unreadable]]:
        text, dropped = drop_unreadable(strip_invisible(text), self.language)
        if dropped:
            with self._unknown_lock:
                self.unreadable.update(run.script for run in dropped)
        if self.normalize:
            text = normalize_text(text, language=self.language)
        return text, dropped

    def iter_sentences(
        self, text: str, on_unreadable: Callable[[list[Unreadable]], None] | None = None
    ) -> Iterator[Sentence]:
        """Sentences one by one (long text is phonemised piece by piece).

        Text in a script the voice cannot read is dropped; ``on_unreadable`` is then
        called once, before the first sentence, with every run dropped (for a warning
        event, a metric, a CLI message). `unreadable` counts the runs by script.
        """
        prepared, dropped = self._prepare(text)
        if dropped and on_unreadable is not None:
            on_unreadable(dropped)
        for source, phonemes in self._phonemize(prepared):
            if phonemes:
                yield Sentence(source.strip(), phonemes, self.ids(phonemes))

    def sentences(
        self, text: str, on_unreadable: Callable[[list[Unreadable]], None] | None = None
    ) -> list[Sentence]:
        """All non-empty sentences of text (see `iter_sentences`)."""
        return list(self.iter_sentences(text, on_unreadable))

    def phonemize(self, text: str) -> list[str]:
        """One phoneme string per sentence, as piper-tts's PiperVoice.phonemize."""
        return [p for _, p in self._phonemize(self.prepare(text)) if p]

    def _phonemize(self, text: str) -> Iterator[tuple[str, str]]:
        # piper passes [[ raw phonemes ]] through unchanged, joined to their neighbours.
        parts = _RAW_PHONEMES.split(text)
        if len(parts) == 1:
            yield from self._espeak_sentences(text)
            return
        pending: tuple[str, str] | None = None
        prev_raw = False
        for i, part in enumerate(parts):
            if part.startswith("[["):
                src, ph = pending or ("", "")
                if i > 0 and parts[i - 1].endswith(" "):
                    ph += " "
                ph += part[2:-2].strip()
                if i < len(parts) - 1 and parts[i + 1].startswith(" "):
                    ph += " "
                pending, prev_raw = (src + part, ph), True
                continue
            for j, (src, ph) in enumerate(self._espeak_sentences(part)):
                if j == 0 and prev_raw and pending is not None:
                    pending = (pending[0] + src, pending[1] + ph)
                    continue
                if pending is not None:
                    yield pending
                pending = (src, ph)
            prev_raw = False
        if pending is not None:
            yield pending

    def ids(self, phonemes: str | Sequence[str]) -> list[int]:
        """Piper ids ``^ _ (p _)* $``; phonemes missing from the map are skipped."""
        id_map = self.phoneme_id_map
        pad = id_map[PAD]
        ids = id_map[BOS] + pad
        for phoneme in phonemes:
            mapped = id_map.get(phoneme)
            if mapped is None:
                with self._unknown_lock:
                    if phoneme not in self.unknown_phonemes:
                        _LOGGER.warning("phoneme %r is not in the voice's phoneme_id_map", phoneme)
                    self.unknown_phonemes[phoneme] += 1
                continue
            ids.extend(mapped)
            ids.extend(pad)
        ids.extend(id_map[EOS])
        return ids

    def phrase_breaks(self, ids_or_phonemes: str | Sequence[int]) -> list[int]:
        """Indices into the ids after which a phrase ends (see `phrase_breaks`)."""
        ids = self.ids(ids_or_phonemes) if isinstance(ids_or_phonemes, str) else ids_or_phonemes
        return phrase_breaks(ids, self.phoneme_id_map)


def phrase_breaks(ids: Sequence[int], phoneme_id_map: Mapping[str, Sequence[int]]) -> list[int]:
    """Where a caller may split a sentence's ids: after ``, `` ``: `` ``; ``.

    Returns indices ``k`` such that ``ids[: k + 1]`` ends with the pad that follows
    the space after the punctuation; the final ``$`` is never a break.
    """
    punct = {tuple(phoneme_id_map[p]) for p in PHRASE_PUNCTUATION if p in phoneme_id_map}
    space = tuple(phoneme_id_map.get(" ", ()))
    pad = tuple(phoneme_id_map[PAD])
    if not punct or not space:
        return []
    breaks = []
    ids = list(ids)
    for k, value in enumerate(ids):
        if (value,) in punct:
            j = k + 1 + len(pad)
            if tuple(ids[j : j + len(space)]) == space:
                end = j + len(space) + len(pad) - 1
                if end < len(ids) - 2:
                    breaks.append(end)
    return breaks
