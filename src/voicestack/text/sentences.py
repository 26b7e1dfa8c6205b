"""Where an English sentence really ends: abbreviations, initials and numbers.

espeak-ng ends a clause at every full stop followed by a space and a capital or a
digit, so ``U.S. Army``, ``Dept. of``, ``No. 5``, ``Jan. 2022`` and ``J. R. R.
Tolkien`` are each spoken as several sentences (falling tone, pause). The rules here
decide each full stop from its two neighbours only: the token before it (a known
abbreviation, an initial, a dotted acronym, an ordinary word) and the first word after
it (lower case, a digit, a capital, a word that typically starts a sentence). That
locality makes one decision serve a whole text (`boundaries`, used by the normaliser
and the front-end) and text that arrives in pieces (`SentenceSplitter`, for the
service's streamed text), in time linear in the text.

Why not a library: ``pysbd`` (the rule-based detector TTS front-ends cite) is
unmaintained since 2021, re-scans the whole text on every call (nothing incremental
for streamed text) and has no notion of abbreviations that take a number (``No. 5``,
``ext. 12``); NLTK's Punkt needs trained parameters from a data download.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["SentenceSplitter", "boundaries", "ends_after", "kind_of", "split_sentences"]

# Never end a sentence when a word follows: titles before a name, "vs.", "e.g.".
NEVER = frozenset(
    ["mr", "mrs", "ms", "mx", "dr", "prof", "gen", "capt", "lt", "sgt", "col", "gov", "rev", "sen", "rep", "hon", "mt", "ft", "pres", "supt", "messrs", "mme", "mlle", "cmdr", "adm", "maj", "cpl", "pvt", "fr", "vs", "e.g", "i.e", "cf", "viz", "approx", "ca"]
)
# Ambiguous: an end only before a capitalised word that typically starts a sentence.
AMBIGUOUS = frozenset(
    ["no", "nos", "fig", "figs", "vol", "vols", "ch", "chap", "p", "pp", "ext", "tel", "art", "sec", "para", "op", "pt", "ref", "refs", "ed", "eds", "est", "dept", "univ", "ave", "blvd", "rd", "apt", "ste", "st", "etc", "inc", "ltd", "co", "corp", "jr", "sr", "bros", "al", "llc", "plc", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun"]
)
STARTERS = frozenset(
    ["the", "a", "an", "it", "its", "he", "she", "we", "they", "i", "you", "this", "that", "these", "those", "there", "then", "but", "and", "or", "so", "if", "when", "while", "what", "why", "how", "where", "who", "in", "on", "at", "for", "after", "before", "as", "our", "my", "his", "her", "their", "your", "some", "many", "most", "all", "yes", "now", "however", "also", "today", "yesterday", "tomorrow", "meanwhile", "still", "later", "please", "thanks", "thank", "here", "each", "every", "both", "such", "not"]
)
_CLOSERS = "\"')]}\u201d\u2019\u00bb"
_CANDIDATE = re.compile(r"([.!?\u2026]+)([" + re.escape(_CLOSERS) + r"]*)(?=\s|$)")
_TOKEN_BEFORE = re.compile(r"\S{1,32}$")
_DOTTED = re.compile(r"(?:[A-Za-z]{1,2}\.)+[A-Za-z]{1,2}")  # U.S, a.m, P.O, Ph.D (last dot is the candidate)
_NEXT_WORD = re.compile(r"\s*[\"'(\[\u201c\u2018]*(\w{0,13})")
_OPENERS = "\"'([\u201c\u2018"
LOOKAHEAD = 48  # characters after a full stop that can matter for its decision
CONTEXT = 40  # characters before a full stop that can matter (the token before it)


def kind_of(token: str) -> str:
    """The token before a full stop: ``never``, ``ambiguous``, ``initial``, ``acronym``
    (abbreviations) or ``word``."""
    bare = token.lstrip(_OPENERS)
    low = bare.lower()
    if low in NEVER:
        return "never"
    if low in AMBIGUOUS:
        return "ambiguous"
    if len(bare) == 1 and bare.isalpha() and bare.isupper():
        return "initial"
    if _DOTTED.fullmatch(bare):
        return "acronym"
    return "word"


def ends_after(kind: str, after: str, final: bool) -> bool | None:
    """Whether a full stop after a token of ``kind`` ends its sentence, given the text
    after it; None when more text must arrive first."""
    stripped = after.lstrip()
    if not stripped:
        return True if final or "\n" in after else None
    if "\n\n" in after[: len(after) - len(stripped)]:
        return True  # a paragraph ends every sentence
    first = stripped[0]
    if first.islower():
        return False  # "a.m. we", "He left. then": espeak does not end these either
    if kind == "word":
        return True
    if kind == "never":
        return False
    if first.isdigit():
        return False  # "Jan. 2022", "No. 5", "ext. 12"
    match = _NEXT_WORD.match(after)
    assert match is not None
    if match.end() == len(after) and not final:
        return None  # the next word is not complete yet
    word = match.group(1)
    if len(word) == 1 and after[match.end() : match.end() + 1] == ".":
        return False  # "R. A. Reid": initials in a row
    return word.lower() in STARTERS


def _decide(text: str, match: re.Match[str], final: bool) -> tuple[str, bool | None]:
    run = match.group(1)
    after = text[match.end() : match.end() + LOOKAHEAD]
    final = final or len(after) == LOOKAHEAD
    if run != ".":
        if run.strip(".\u2026"):
            return "word", True  # ? ! and runs such as ?! or !!!
        stripped = after.lstrip()  # an ellipsis ends a sentence before a capital
        if not stripped:
            return "word", True if final or "\n" in after else None
        return "word", not stripped[0].islower()
    before = _TOKEN_BEFORE.search(text, max(0, match.start() - CONTEXT), match.start())
    if before is None:
        return "word", True  # a lone full stop
    kind = kind_of(before.group(0))
    return kind, ends_after(kind, after, final)


def boundaries(text: str, start: int = 0, final: bool = True) -> Iterator[tuple[int, int, str, bool | None]]:
    """Every terminator run of ``text`` from ``start`` that is followed by a space or
    the end: (index of its first character, index after its closing quotes/brackets,
    the kind of token before it, whether it ends the sentence). With ``final`` False
    (text still arriving), a decision may be None: wait for more text."""
    for match in _CANDIDATE.finditer(text, start):
        kind, decision = _decide(text, match, final)
        yield match.start(1), match.end(), kind, decision


def split_sentences(text: str) -> list[str]:
    """The sentences of a whole text (stripped, empty ones dropped)."""
    splitter = SentenceSplitter()
    out = splitter.feed(text)
    rest = splitter.flush()
    return out + ([rest] if rest else [])


class SentenceSplitter:
    """Sentences of text that arrives in pieces (an LLM's tokens).

    ``feed(piece)`` returns the sentences completed by that piece; ``flush()`` returns
    what is left and starts afresh. A sentence is released as soon as the word after its
    full stop decides it; ``newline_ends``: a line break ends a sentence too. With
    ``max_chars``, a run that long without an end is cut at its last ``, ; :`` (else
    its last space) so that speech can start.

    Linear time: every character is scanned once plus a bounded window around the
    piece boundary; the unfinished text is kept as a list of pieces, joined only when
    sentences are released.
    """

    def __init__(self, max_chars: int | None = None, newline_ends: bool = True, eager: bool = False) -> None:
        if max_chars is not None and max_chars < 16:
            raise ValueError(f"max_chars: expected at least 16, got {max_chars}")
        self.max_chars = max_chars
        self.newline_ends = newline_ends
        # eager: a stop after an ordinary word ends its sentence at once, without waiting
        # for the next word (speech starts sooner; "He left. then ..." is the rare loss)
        self.eager = eager
        self._reset()

    def _reset(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._tail = ""  # the unfinished text from _tail_start on
        self._tail_start = 0
        self._scan = 0  # where scanning resumes (everything before it is decided)
        self._rebased = False

    def feed(self, piece: str) -> list[str]:
        """Add text; return the sentences it completes (stripped, never empty)."""
        if not piece:
            return []
        self._parts.append(piece)
        self._size += len(piece)
        window, base = self._tail + piece, self._tail_start
        ends: list[int] = []
        scan = self._scan
        for start, end, kind, decision in boundaries(window, scan - base, final=False):
            if decision is None and self.eager and kind == "word":
                decision = True
            if self.newline_ends:
                ends.extend(base + i + 1 for i in _newlines(window, scan - base, start))
            if decision is None:
                scan = base + start
                break
            if decision:
                ends.append(base + end)
            scan = base + end
        else:
            if self.newline_ends:
                ends.extend(base + i + 1 for i in _newlines(window, scan - base, len(window)))
            scan = base + len(window)
        self._scan = scan
        out = self._release(sorted(set(ends))) if ends else []
        if self.max_chars is not None:
            out = [part for sentence in out for part in cut_long(sentence, self.max_chars)]
            if self._size > self.max_chars:
                out.extend(self._force_cut())
        self._retail(window, base)
        return out

    def flush(self) -> str:
        """What is left (stripped); the splitter starts afresh."""
        rest = self._joined().strip()
        self._reset()
        return rest

    def _joined(self) -> str:
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def _release(self, ends: list[int]) -> list[str]:
        text = self._joined()
        out, pos = [], 0
        for end in ends:
            sentence = text[pos:end].strip()
            if sentence:
                out.append(sentence)
            pos = end
        rest = text[pos:]
        self._parts, self._size = ([rest] if rest else []), len(rest)
        self._scan = max(0, self._scan - pos)
        self._rebased = True  # offsets now count from `pos`: _retail rebuilds the tail
        return out

    def _force_cut(self) -> list[str]:
        """Cut the unfinished text into runs of at most ``max_chars`` until less is left."""
        assert self.max_chars is not None
        text = self._joined()
        out, pos = _runs(text, self.max_chars)
        rest = text[pos:]
        self._parts, self._size = ([rest] if rest else []), len(rest)
        self._scan = max(0, self._scan - pos)
        self._rebased = True
        return out

    def _retail(self, window: str, base: int) -> None:
        """Keep the bounded tail that the next piece is scanned with."""
        start = max(0, self._scan - CONTEXT)
        if self._rebased or start < base:
            # After a release (the unfinished text is the rest of the last piece) or at
            # the start (it is shorter than CONTEXT): cheap to join.
            self._tail, self._tail_start, self._rebased = self._joined()[start:], start, False
        else:
            self._tail, self._tail_start = window[start - base :], start


_PHRASE_END = re.compile(r"[,;:](?=\s)")
_SPACE = re.compile(r"\s+")


def _cut_at(text: str, pos: int, limit: int) -> int:
    """Where to cut a run of ``text`` from ``pos`` that is longer than ``limit``: after its
    last ``, ; :`` within the limit, else its last space, else at the limit (a cut
    keeps at least a quarter of the limit)."""
    end = pos + limit
    for pattern in (_PHRASE_END, _SPACE):
        last = None
        for last in pattern.finditer(text, pos + limit // 4, end):
            pass
        if last is not None:
            return last.end()
    return end


def _runs(text: str, limit: int) -> tuple[list[str], int]:
    """Runs of at most ``limit`` cut from ``text`` while more than ``limit`` is left, and
    where the rest starts."""
    out, pos = [], 0
    while len(text) - pos > limit:
        cut = _cut_at(text, pos, limit)
        if text[pos:cut].strip():
            out.append(text[pos:cut].strip())
        pos = cut
    return out, pos


def cut_long(sentence: str, limit: int) -> list[str]:
    """``sentence`` in runs of at most ``limit`` characters, cut as :class:`SentenceSplitter` does."""
    out, pos = _runs(sentence, limit)
    rest = sentence[pos:].strip()
    return [*out, rest] if rest else out


def _newlines(text: str, start: int, stop: int) -> Iterator[int]:
    pos = text.find("\n", start, stop)
    while pos >= 0:
        yield pos
        pos = text.find("\n", pos + 1, stop)
