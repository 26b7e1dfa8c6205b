"""Text normalisation: what users type that espeak-ng reads wrongly.

Each rule exists because espeak-ng 1.52 gets that case wrong (checked against its
output); what espeak already reads well (plain numbers such as "42" or "1,234,567",
ordinals such as "22nd", percentages, decimals, "e.g.") is left alone.

* invisible characters: control characters and zero-width characters are removed;
* typography: curly quotes, unusual dashes and spaces are mapped to plain ones;
* currency: espeak says "$3.50" as "dollar three point five zero";
* years 1100-1999 ("nineteen hundred eighty four") and decades ("1990s");
* clock times: "7:05" is "seven zero five";
* titles and abbreviations whose full stop espeak takes for a sentence end
  ("Dr. Smith" becomes two sentences), plus "vs." and "i.e.".
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable

__all__ = ["normalize", "strip_invisible"]

_NEWLINE_LIKE = {"\x0b": "\n", "\x0c": "\n", "\x85": "\n", "\u2028": "\n", "\u2029": "\n\n"}
_KEEP_CONTROLS = {"\t", "\n", "\r"}


def strip_invisible(text: str) -> str:
    """Remove control, zero-width and other invisible format characters."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch in _KEEP_CONTROLS:
            out.append(ch)
        elif ch in _NEWLINE_LIKE:
            out.append(_NEWLINE_LIKE[ch])
        elif ch.isprintable() or ch == "\u00a0" or unicodedata.category(ch) == "Zs":
            out.append(ch)
        # else: Cc, Cf (zero-width, bidi marks, soft hyphen), Cs (lone surrogates), Cn
    return "".join(out)


_TYPOGRAPHY = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2212": "-",
        "\u2015": "\u2014",
        "\u2026": "...",
    }
)
_SPACES = re.compile(r"[^\S\n]+")
_PARAGRAPHS = re.compile(r"\s*\n\s*\n\s*")
_LINE = re.compile(r"[^\S\n]*\n[^\S\n]*")


def _words(n: int, **kwargs: str) -> str:
    from num2words import num2words

    return str(num2words(n, lang="en", **kwargs))


# --- currency -----------------------------------------------------------------------

_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
}
_MONEY = re.compile(
    r"([$£€])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d\d?))?"
    r"(?:\s+(thousand|million|billion|trillion)\b)?"
)


def _money(m: re.Match[str]) -> str:
    one, many, sub_one, sub_many = _CURRENCIES[m.group(1)]
    whole = int(m.group(2).replace(",", ""))
    frac, scale = m.group(3), m.group(4)
    if scale:
        number = m.group(2) + ("." + frac if frac else "")
        return f"{number} {scale} {many}"
    parts = []
    if whole or not frac:
        parts.append(f"{_words(whole)} {one if whole == 1 else many}")
    if frac:
        cents = int(frac.ljust(2, "0"))
        if cents:
            parts.append(f"{_words(cents)} {sub_one if cents == 1 else sub_many}")
    return " and ".join(parts)


# --- years, decades, times ----------------------------------------------------------

_DECADE = re.compile(r"\b(1[1-9]\d|20\d)0'?s\b")
_YEAR = re.compile(r"(?<![\d.,:/$£€-])\b(1[1-9]\d\d)\b(?![\d%]|[.,:/]\d)")
_TIME = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b(?!:\d)(\s*([AaPp])\.?[Mm]\b\.?)?")


def _decade(m: re.Match[str]) -> str:
    words = _words(int(m.group(1) + "0"), to="year")
    if words.endswith("y"):
        return words[:-1] + "ies"
    return words + "s"


def _year(m: re.Match[str]) -> str:
    return _words(int(m.group(1)), to="year")


def _time(m: re.Match[str]) -> str:
    hour, minute = int(m.group(1)), int(m.group(2))
    suffix = m.group(3)
    words = _words(hour)
    if minute == 0:
        if not suffix:
            words += " o'clock"
    elif minute < 10:
        words += " oh " + _words(minute)
    else:
        words += " " + _words(minute)
    if suffix:
        words += " " + m.group(4).upper() + "M"
        if suffix.endswith("."):
            words += "."
    return words


# --- abbreviations ------------------------------------------------------------------

_TITLES = {
    "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Dr": "Doctor", "Prof": "Professor",
    "Gen": "General", "Capt": "Captain", "Lt": "Lieutenant", "Sgt": "Sergeant",
    "Col": "Colonel", "Gov": "Governor", "Rev": "Reverend", "Sen": "Senator",
    "Rep": "Representative", "Hon": "Honorable", "Mt": "Mount", "Ft": "Fort",
}
_TITLE = re.compile(r"\b(" + "|".join(_TITLES) + r")\.(?=\s+[A-Z])")
_SAINT = re.compile(r"\bSt\.(?=\s+[A-Z])")
_STREET = re.compile(r"(?<=[a-z]) St\.")
_SUFFIX = re.compile(r"\b(Jr|Sr)\.(?=\s*(?:,|$|\s+[a-z]))")
_NUMBER = re.compile(r"\b(No|no|Nos|nos)\.\s*(?=\d)")
_WORDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bvs\.?(?=\s)"), "versus"),
    (re.compile(r"\bi\.e\.(?=[\s,])"), "that is"),
]


def _title(m: re.Match[str]) -> str:
    return _TITLES[m.group(1)]


_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str] | str]] = [
    (_MONEY, _money),
    (_DECADE, _decade),
    (_TIME, _time),
    (_YEAR, _year),
    (_TITLE, _title),
    (_SAINT, "Saint"),
    (_STREET, " Street"),
    (_SUFFIX, lambda m: {"Jr": "Junior", "Sr": "Senior"}[m.group(1)]),
    (_NUMBER, lambda m: "Number " if m.group(1)[0] == "N" else "number "),
    *_WORDS,
]


def normalize(text: str, language: str = "en") -> str:
    """Rewrite text so that espeak-ng reads it as a person would.

    Invisible characters are removed, typography and whitespace are tidied for every
    language; the number, currency and abbreviation rules are English only.
    """
    text = strip_invisible(text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(_TYPOGRAPHY)
    text = _PARAGRAPHS.sub("\n\n", text)
    text = _LINE.sub("\n", text)
    text = _SPACES.sub(" ", text).strip()
    if language.split("-")[0].lower() == "en":
        for pattern, repl in _RULES:
            text = pattern.sub(repl, text)
    return text
