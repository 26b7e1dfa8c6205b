"""Text normalisation: written English as a careful reader says it.

The rules only rewrite what espeak-ng 1.52 reads wrongly (checked against its
phonemes); what it reads well (plain numbers such as "42" or "1,234,567", ordinals
such as "22nd", percentages, decimals, most acronyms) is left alone, so that a
sentence without such forms reaches espeak unchanged ("e.g." is written out as the "for
example" espeak says, so that the text names what is spoken). By category:

* `voicestack.text.entities`: web and e-mail addresses, telephone numbers, US state
  codes with ZIP codes, street addresses, flight numbers, account and serial numbers,
  numbers to dial (first); spelled acronyms, Roman numerals, ``#``, ``&`` (after the
  numbers);
* `voicestack.text.dates`: dates in their written forms, clock times, decades (also
  "the 80s", "her 30s"), years;
* `voicestack.text.units`: temperatures, units of measurement, ``/`` as "per";
* `voicestack.text.numbers`: currencies, versions, fractions, ranges and scores,
  hyphenated chains, a spaced minus, bare decimals;
* `voicestack.text.abbreviations`: titles and abbreviations; last, the full stops that
  do not end a sentence are removed (`voicestack.text.sentences` decides).

Why rules and not NeMo: ``nemo-text-processing`` 1.2.0 (WFST grammars on ``pynini``)
installs here (a 1.1 GB environment) but compiles its English grammars for 45 s on
first use (420 MB resident), then takes 9-44 ms per sentence (110 MB resident): the
front-end has well under a millisecond. It also reads several of the forms above
wrongly ("Henry VIII" unchanged, "60 km/h" "sixty kilometers per H", "3.10.2" "three.
ten point two", "UA 857" "UA eight hundred and fifty seven"). The rules here are
precompiled regular expressions; ordinary sentences skip all number rules unless they
hold a digit.
"""

from __future__ import annotations

import re
import unicodedata

from voicestack.text import abbreviations, dates, entities, numbers, units
from voicestack.text.numbers import Rule

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

# Rules for text with a digit, then rules for any text, in this order.
_DIGIT_RULES: list[Rule] = [
    *entities.RULES, *dates.RULES, *units.RULES, *numbers.RULES, dates.YEAR_RULE,
]
_WORD_RULES: list[Rule] = [*entities.LATE_RULES, *abbreviations.RULES]
_HAS_DIGIT = re.compile(r"\d")
_HAS_SPECIAL = re.compile(r"[.@&#/:]|\b[A-Z]{2}|\b[A-Z][a-z]+\s+[IVX]")


def normalize(text: str, language: str = "en") -> str:
    """Rewrite text so that espeak-ng reads it as a person would.

    Invisible characters are removed, typography and whitespace are tidied for every
    language; the rules for numbers, dates, units, addresses, abbreviations and
    sentence-internal full stops are English only.
    """
    text = strip_invisible(text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(_TYPOGRAPHY)
    text = _PARAGRAPHS.sub("\n\n", text)
    text = _LINE.sub("\n", text)
    text = _SPACES.sub(" ", text).strip()
    if language.split("-")[0].lower() != "en":
        return text
    if entities.HAS_WEB.search(text):
        for pattern, repl in entities.WEB_RULES:
            text = pattern.sub(repl, text)
    if _HAS_DIGIT.search(text):
        for pattern, repl in _DIGIT_RULES:
            text = pattern.sub(repl, text)
    if _HAS_SPECIAL.search(text):
        for pattern, repl in _WORD_RULES:
            text = pattern.sub(repl, text)
        text = abbreviations.join_stops(text)
    return text
