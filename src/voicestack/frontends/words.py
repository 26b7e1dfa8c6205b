"""Which ids of a piece belong to which word (and phoneme): the front-end's half of word timings.

A phonemizer gives a sentence's phonemes with spaces between its phoneme words; espeak
joins some written words into one phoneme word ("of the" -> ``ʌvðə``) and reads a
number as several. :func:`label_phoneme_words` matches the written words to the
phoneme words (words said as they are alone anchor the match; between anchors, a small
dynamic programme over groups of up to three, scored by ``difflib`` similarity against
each word phonemised alone) and returns, for each
written word, the span of the phoneme string it is read as. :func:`part_spans` carries
spans given in a sentence's ids over to the pieces the sentence was cut into.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence

from voicestack.frontends.base import Span

WORD = re.compile(r"\w+(?:['\u2019\-.]\w+)*")
_STRESS = str.maketrans("", "", "ˈˌ.,;:!?-'\"ʲ")
STOPS = frozenset("pbtdkgɡʔ")  # closed, hence silent, until released
MAX_GROUP = 3
MAX_GAP = 144  # written x phoneme words of a gap matched word by word; longer gaps are shared out


def text_words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) of each written word of ``text``."""
    return [(m.group(0), m.start(), m.end()) for m in WORD.finditer(text)]


def phoneme_words(phonemes: str) -> list[tuple[int, int]]:
    """[start, end) of each space-separated phoneme word that has a sound in it."""
    out = []
    for m in re.finditer(r"[^ ]+", phonemes):
        if m.group(0).translate(_STRESS):
            out.append((m.start(), m.end()))
    return out


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _groups_dp(alone: Sequence[str], said: Sequence[str]) -> list[tuple[int, int, int, int]]:
    """(i0, i1, j0, j1): written words i0..i1 read as phoneme words j0..j1, in order, by a
    dynamic programme over groups of up to MAX_GROUP on one side (a small gap only)."""
    n, m = len(alone), len(said)
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    moves = [(a, 1) for a in range(1, MAX_GROUP + 1)] + [(1, b) for b in range(2, MAX_GROUP + 1)]
    for i in range(n + 1):
        for j in range(m + 1):
            c = cost[i][j]
            if c == inf:
                continue
            for a, b in moves:
                if i + a > n or j + b > m:
                    continue
                score = c + (a + b - 1) * 0.05 + 1.0 - _similarity("".join(alone[i:i + a]), "".join(said[j:j + b]))
                if score < cost[i + a][j + b]:
                    cost[i + a][j + b], back[i + a][j + b] = score, (a, b)
            if i < n and c + 1.5 < cost[i + 1][j]:  # a word read as nothing
                cost[i + 1][j], back[i + 1][j] = c + 1.5, (1, 0)
            if j < m and c + 1.5 < cost[i][j + 1]:  # sounds with no written word
                cost[i][j + 1], back[i][j + 1] = c + 1.5, (0, 1)
    groups = []
    i, j = n, m
    while i or j:
        step = back[i][j]
        assert step is not None
        groups.append((i - step[0], i, j - step[1], j))
        i, j = i - step[0], j - step[1]
    return groups[::-1]


def _groups_even(n: int, m: int) -> list[tuple[int, int, int, int]]:
    """A long unmatched gap: phoneme words shared out in order, by position."""
    if n == 0 or m == 0:
        return [(0, n, 0, m)]
    if m >= n:
        cuts = [round(k * m / n) for k in range(n + 1)]
        return [(k, k + 1, cuts[k], cuts[k + 1]) for k in range(n) if cuts[k + 1] > cuts[k]]
    cuts = [round(k * n / m) for k in range(m + 1)]
    return [(cuts[k], cuts[k + 1], k, k + 1) for k in range(m) if cuts[k + 1] > cuts[k]]


def _groups(alone: Sequence[str], said: Sequence[str]) -> list[tuple[int, int, int, int]]:
    """Words said as they are alone anchor the match (difflib over the two sequences); the
    gaps between anchors, short as a rule, are matched by :func:`_groups_dp`."""
    out: list[tuple[int, int, int, int]] = []
    i = j = 0
    blocks = difflib.SequenceMatcher(None, list(alone), list(said), autojunk=False).get_matching_blocks()
    for block in blocks:
        gi, gj = block.a - i, block.b - j
        if gi or gj:
            inner = _groups_dp(alone[i:block.a], said[j:block.b]) if gi * gj <= MAX_GAP else _groups_even(gi, gj)
            out.extend((a + i, b + i, c + j, d + j) for a, b, c, d in inner)
        out.extend((block.a + k, block.a + k + 1, block.b + k, block.b + k + 1) for k in range(block.size))
        i, j = block.a + block.size, block.b + block.size
    return out


def label_phoneme_words(words: Sequence[str], phonemes: str,
                        isolated: Callable[[Sequence[str]], Sequence[str]]) -> list[tuple[str, int, int]]:
    """Each written word with the [start, end) of ``phonemes`` it is read as (in order;
    a word read as nothing is left out). ``isolated`` phonemises words one by one."""
    spans = phoneme_words(phonemes)
    if not words or not spans:
        return []
    if len(words) == len(spans):  # the usual case: one phoneme word per written word
        return [(w, a, b) for w, (a, b) in zip(words, spans, strict=True)]
    alone = [p.translate(_STRESS).replace(" ", "") for p in isolated(words)]
    said = [phonemes[a:b].translate(_STRESS) for a, b in spans]
    out: list[tuple[str, int, int]] = []
    for i0, i1, j0, j1 in _groups(alone, said):
        if i1 == i0 or j1 == j0:
            continue
        start, end = spans[j0][0], spans[j1 - 1][1]
        if i1 - i0 == 1:
            out.append((words[i0], start, end))
            continue
        # several written words in one phoneme word: shared out by their lengths read alone
        weights = [max(1, len(alone[k])) for k in range(i0, i1)]
        total, pos = sum(weights), start
        for k, w in zip(range(i0, i1), weights, strict=True):
            stop = end if k == i1 - 1 else min(end, pos + max(1, round((end - start) * w / total)))
            out.append((words[k], pos, stop))
            pos = stop
    return out


def phoneme_spans(phonemes: str, positions: Sequence[int | None], widths: Sequence[int],
                  words: Sequence[tuple[str, int, int]]) -> tuple[list[Span], list[Span]]:
    """Word and phoneme spans in a sentence's ids, from each phoneme character's first id
    (``positions``, None: no id) and id count (``widths``). A phoneme spans its own ids; a
    word spans from where it is first heard (:func:`heard_from`) to its last sound's end."""
    phones = [Span(ch, p, p + w) for ch, p, w in zip(phonemes, positions, widths, strict=True)
              if p is not None and ch.translate(_STRESS).strip()]
    out = []
    for text, a, b in words:
        inside = [(ch, p, w) for ch, p, w in zip(phonemes[a:b], positions[a:b], widths[a:b], strict=True)
                  if p is not None and ch.translate(_STRESS).strip()]
        if inside:
            out.append(Span(text, heard_from(inside), inside[-1][1] + inside[-1][2]))
    return out, phones


def heard_from(sounds: Sequence[tuple[str, int, int]]) -> int:
    """The id a word is first heard at, from its sounds (phoneme, first id, id count): its
    first sound (a stress mark, a space or a pad before it is none), unless that is a stop,
    whose closure is silence: then the id after the stop's own, where its release is."""
    first, start, width = sounds[0]
    return start + width if first in STOPS and len(sounds) > 1 else start


def part_spans(ids: Sequence[int], parts: Sequence[Sequence[int]], spans: Sequence[Span]) -> list[tuple[Span, ...]]:
    """The spans (given in ``ids``) that start in each part, re-indexed into that part.
    The parts are ``ids`` cut in order, each perhaps re-wrapped with ids of its own (a
    start and end symbol): ids are matched greedily, in order."""
    where: list[dict[int, int]] = []
    i = 0
    for part in parts:
        found: dict[int, int] = {}
        for j, v in enumerate(part):
            if i < len(ids) and int(ids[i]) == int(v):
                found[i] = j
                i += 1
        where.append(found)
    out = []
    for found in where:
        inside = []
        last = max(found) if found else -1
        for s in spans:
            if s.start in found:
                end = found[min(s.end - 1, last)] + 1
                inside.append(Span(s.text, found[s.start], end))
        out.append(tuple(inside))
    return out
