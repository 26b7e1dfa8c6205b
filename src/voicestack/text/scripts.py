"""Text in a script the voice's language does not use (``你好`` for an English voice).

espeak-ng spells such text out by its script's name ("Chinese letter, Chinese letter",
"Arabic meem, Arabic reh..."). It is dropped instead and reported: `drop_unreadable`
returns the text without it and the runs it removed, so the front-end can tell its
caller once per request.

The script of a character is the first word of its Unicode name (``CJK``,
``CYRILLIC``, ``HIRAGANA``...): the standard library has no script property, and this
is exact for letters. Digits, punctuation, symbols and emoji are never dropped (espeak
reads them by name, in the voice's language); letters and combining marks are.
Languages not listed in `SCRIPTS` keep everything.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["SCRIPTS", "Unreadable", "drop_unreadable", "script_of"]

_LATIN = frozenset({"LATIN", "GREEK"})  # Greek letters are read by name in science text
SCRIPTS: dict[str, frozenset[str]] = {
    **{lang: _LATIN for lang in (
        ["en", "af", "ca", "cs", "cy", "da", "de", "eo", "es", "et", "eu", "fi", "fr", "ga", "gd", "hr", "hu", "id", "is", "it", "lt", "lv", "ms", "mt", "nl", "no", "nb", "pl", "pt", "ro", "sk", "sl", "sq", "sv", "sw", "tr", "vi"])},
    **{lang: frozenset({"CYRILLIC", "LATIN"}) for lang in ("ru", "uk", "be", "bg", "mk", "sr", "kk", "ky")},
    "el": frozenset({"GREEK", "LATIN"}),
    "ja": frozenset({"CJK", "HIRAGANA", "KATAKANA", "LATIN", "IDEOGRAPHIC"}),
    "zh": frozenset({"CJK", "LATIN", "IDEOGRAPHIC"}),
    "cmn": frozenset({"CJK", "LATIN", "IDEOGRAPHIC"}),
    "yue": frozenset({"CJK", "LATIN", "IDEOGRAPHIC"}),
    "ko": frozenset({"HANGUL", "CJK", "LATIN"}),
    "ar": frozenset({"ARABIC", "LATIN"}), "fa": frozenset({"ARABIC", "LATIN"}), "ur": frozenset({"ARABIC", "LATIN"}),
    "he": frozenset({"HEBREW", "LATIN"}), "hi": frozenset({"DEVANAGARI", "LATIN"}),
    "mr": frozenset({"DEVANAGARI", "LATIN"}), "ne": frozenset({"DEVANAGARI", "LATIN"}),
    "th": frozenset({"THAI", "LATIN"}), "ka": frozenset({"GEORGIAN", "LATIN"}), "hy": frozenset({"ARMENIAN", "LATIN"}),
}
_WIDTH = ("FULLWIDTH", "HALFWIDTH")
# Name words that are scripts; other letters (MODIFIER LETTER..., MATHEMATICAL...,
# COMBINING marks) belong to no script and are never dropped.
KNOWN_SCRIPTS = frozenset(
    ["LATIN", "GREEK", "CYRILLIC", "ARMENIAN", "HEBREW", "ARABIC", "SYRIAC", "THAANA", "DEVANAGARI", "BENGALI", "GURMUKHI", "GUJARATI", "ORIYA", "TAMIL", "TELUGU", "KANNADA", "MALAYALAM", "SINHALA", "THAI", "LAO", "TIBETAN", "MYANMAR", "GEORGIAN", "HANGUL", "ETHIOPIC", "CHEROKEE", "KHMER", "MONGOLIAN", "HIRAGANA", "KATAKANA", "BOPOMOFO", "CJK", "YI", "JAVANESE", "BALINESE", "TIFINAGH", "NKO"]
)
# Punctuation that belongs to a script (an ideographic full stop) goes with its run.
_SCRIPT_PUNCTUATION = frozenset({"IDEOGRAPHIC", "CJK", "FULLWIDTH", "HALFWIDTH", "KATAKANA", "HIRAGANA",
                                 "ARABIC", "HEBREW", "DEVANAGARI", "THAI"})


@dataclass(frozen=True)
class Unreadable:
    """A run of text the voice cannot read, dropped: the text, its script (the first
    word of its first letter's Unicode name, e.g. ``CJK``) and where it started in the
    text handed to `drop_unreadable`."""

    text: str
    script: str
    offset: int


@lru_cache(maxsize=8192)
def script_of(ch: str) -> str | None:
    """The script of a letter or mark (``LATIN``, ``CJK``...); ``""`` for script-bound
    punctuation; None for what every language reads (digits, ASCII, symbols)."""
    if ch < "\u0080":
        return None
    category = unicodedata.category(ch)
    words = unicodedata.name(ch, "").split()
    if not words:
        return None
    if category[0] == "P":
        return "" if words[0] in _SCRIPT_PUNCTUATION else None
    if words[0] in _WIDTH and len(words) > 1:
        words = words[1:]
    return words[0] if category[0] in "LM" and words[0] in KNOWN_SCRIPTS else None


def drop_unreadable(text: str, language: str) -> tuple[str, list[Unreadable]]:
    """``text`` without the runs the language's voices cannot read, and those runs.

    A run is a sequence of such letters with the spaces, marks and script punctuation
    between them; it is replaced by one space.
    """
    allowed = SCRIPTS.get(language.split("-")[0].lower())
    if allowed is None or text.isascii():
        return text, []
    runs: list[Unreadable] = []
    out: list[str] = []
    pos = 0
    i, n = 0, len(text)
    raw = text.find("[[")
    while i < n:
        if i == raw:  # [[ raw phonemes ]] pass through untouched
            close = text.find("]]", i)
            i = n if close < 0 else close + 2
            raw = text.find("[[", i)
            continue
        script = script_of(text[i])
        if script is None or script in allowed or (script == "" and not _near_run(text, i, allowed)):
            i += 1
            continue
        start, run_script, j = i, script, i
        end = i
        while j < n:
            s = script_of(text[j])
            if s is not None and (s == "" or s not in allowed):
                run_script = run_script or s
                j += 1
                end = j
            elif text[j].isspace() or (s is not None and unicodedata.category(text[j])[0] == "M"):
                j += 1
            else:
                break
        if run_script == "":
            i = end  # script punctuation alone (an ideographic comma in English text) is kept
            continue
        out.append(text[pos:start])
        out.append(" ")
        runs.append(Unreadable(text[start:end], run_script, start))
        pos = i = end
    if not runs:
        return text, []
    out.append(text[pos:])
    return "".join(out), runs


def _near_run(text: str, i: int, allowed: frozenset[str]) -> bool:
    for k in (i - 1, i + 1):
        if 0 <= k < len(text):
            s = script_of(text[k])
            if s and s not in allowed:
                return True
    return False
