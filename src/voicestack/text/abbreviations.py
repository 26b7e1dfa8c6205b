"""Titles and abbreviations, and the full stops that do not end a sentence.

An abbreviation espeak-ng reads wrongly is written out (``Dr.`` "Doctor", ``ext.``
"extension", ``Jan.`` "January"). Its full stop stays only where it also ends the
sentence (`stop`, decided by `voicestack.text.sentences`). Last, `join_stops` deletes
every other full stop that does not end a sentence (``U.S. Army``, ``P.O. Box``,
``J. R. R. Tolkien``): espeak reads those abbreviations the same without it, and no
longer speaks them as sentences of their own.
"""

from __future__ import annotations

import re

from voicestack.text.numbers import Rule
from voicestack.text.sentences import LOOKAHEAD, STARTERS, boundaries, ends_after

__all__ = ["RULES", "join_stops", "stop"]


def stop(m: re.Match[str], kind: str = "ambiguous") -> str:
    """``"."`` if the full stop that ends match ``m`` also ends the sentence, else ``""``."""
    after = m.string[m.end() : m.end() + LOOKAHEAD]
    return "." if ends_after(kind, after, final=True) else ""


_TITLES = {
    "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Dr": "Doctor", "Prof": "Professor",
    "Gen": "General", "Capt": "Captain", "Lt": "Lieutenant", "Sgt": "Sergeant",
    "Col": "Colonel", "Gov": "Governor", "Rev": "Reverend", "Sen": "Senator",
    "Rep": "Representative", "Hon": "Honorable", "Mt": "Mount", "Ft": "Fort", "Pres": "President",
    "Cmdr": "Commander", "Adm": "Admiral", "Maj": "Major", "Cpl": "Corporal", "Pvt": "Private",
}
_TITLE = re.compile(r"\b(" + "|".join(_TITLES) + r")\.(?=\s+[A-Z])")
_ST = re.compile(r"(?<![\w.])St\.")
_CAPITALISED = re.compile(r"[A-Z][a-z]+")


def _st(m: re.Match[str]) -> str:
    """"St." is "Saint" before a name, "Street" after one (else left as it is)."""
    after = m.string[m.end() : m.end() + 24]
    nxt = after.split(None, 1)[0] if after.strip() else ""
    name_follows = after[:1] == " " and _CAPITALISED.match(nxt) is not None and nxt.lower() not in STARTERS
    if name_follows:
        return "Saint"
    before = m.string[max(0, m.start() - 24) : m.start()].split()
    if before and _CAPITALISED.fullmatch(before[-1].strip(",")) and m.string[m.start() - 1 : m.start()] == " ":
        return "Street" + stop(m)
    return m.group(0)

_SUFFIX = re.compile(r"\b(Jr|Sr)\.(?=\s*(?:,|$|\s+[a-z]))")
_NUMBER = re.compile(r"\b(No|no|Nos|nos)\.\s*(?=\d)")
# Abbreviations written out wherever they end with a full stop: (pattern, words, kind
# of its full stop for `stop`).
_WORDS = {
    "ext": "extension", "Ext": "Extension", "approx": "approximately", "Approx": "Approximately",
    "Fig": "Figure", "fig": "figure", "Figs": "Figures", "Vol": "Volume", "vol": "volume",
    "Ch": "Chapter", "ch": "chapter", "pp": "pages", "Apt": "Apartment", "apt": "apartment",
    "Ave": "Avenue", "Blvd": "Boulevard", "Rd": "Road", "Ste": "Suite", "Corp": "Corporation",
    "Bros": "Brothers", "Univ": "University", "Dept": "Department", "dept": "department",
    "Jan": "January", "Feb": "February", "Mar": "March", "Apr": "April", "Jun": "June", "Jul": "July",
    "Aug": "August", "Sep": "September", "Sept": "September", "Oct": "October", "Nov": "November",
    "Dec": "December", "Mon": "Monday", "Tue": "Tuesday", "Tues": "Tuesday", "Wed": "Wednesday",
    "Thu": "Thursday", "Thur": "Thursday", "Thurs": "Thursday", "Fri": "Friday", "Sat": "Saturday",
    "Sun": "Sunday", "Tel": "Telephone", "tel": "telephone", "Pt": "Part", "Sec": "Section",
    "Hwy": "Highway", "Ln": "Lane", "Pkwy": "Parkway",
}
_WORD = re.compile(r"(?<![\w.])(" + "|".join(sorted(_WORDS, key=len, reverse=True)) + r")\.(?=\s|$|,)")
_PAGE = re.compile(r"(?<![\w.])p\.\s?(?=\d)")
_PHD = re.compile(r"\bPh\.\s?D\.?(?=\s|$|,)")


def _word(m: re.Match[str]) -> str:
    return _WORDS[m.group(1)] + stop(m)


RULES: list[Rule] = [
    (_TITLE, lambda m: _TITLES[m.group(1)]),
    (_ST, _st),
    (_SUFFIX, lambda m: {"Jr": "Junior", "Sr": "Senior"}[m.group(1)]),
    (_NUMBER, lambda m: "Number " if m.group(1)[0] == "N" else "number "),
    (re.compile(r"\bvs\.?(?=\s)"), "versus"),
    (re.compile(r"\bi\.e\.(?=[\s,])"), "that is"),
    (re.compile(r"\b([eE])\.g\.(?=[\s,])"), lambda m: "for example" if m.group(1) == "e" else "For example"),
    (_PHD, lambda m: "P.H.D" + (stop(m) if m.group(0).endswith(".") else "")),
    (_PAGE, "page "),
    (_WORD, _word),
]

_JOINABLE = frozenset({"never", "ambiguous", "initial", "acronym"})
_KEEP = frozenset({"e.g", "E.g", "i.e", "etc"})  # espeak reads these right only with their stop


def join_stops(text: str) -> str:
    """Delete the full stops after abbreviations that do not end their sentence and are
    followed by a capital or a digit (where espeak-ng would end a clause)."""
    if ". " not in text:
        return text
    out, pos = [], 0
    for start, end, kind, ends in boundaries(text):
        if ends or kind not in _JOINABLE or end != start + 1:
            continue
        nxt = text[end : end + 2].lstrip()[:1]
        if not nxt or nxt.islower():
            continue
        token = text[max(0, start - 6) : start].rsplit(None, 1)[-1] if start else ""
        if token.lstrip("\"'(") in _KEEP:
            continue
        out.append(text[pos:start])
        pos = start + 1
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)
