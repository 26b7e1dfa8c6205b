"""Numbers in words, and the number forms espeak-ng reads wrongly.

espeak-ng reads plain numbers (``42``, ``1,234,567``, ``3.14``), ordinals (``22nd``)
and percentages well; those are left alone. Rewritten here: currencies with minor
units (espeak says "$3.50" as "dollar three point five zero"), fractions ("1/2" is
"one slash two"), ranges and scores ("10-20" is "ten dash twenty"), a spaced minus
("5 - 3" is "five three"), version numbers ("3.10.2" is "three point one zero point
two") and a decimal without its leading zero (".5" is "dot five").

Words come from ``num2words`` (a dependency), cleaned to American usage: no "and"
inside numbers, no commas (a comma would make the voice pause).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

__all__ = ["RULES", "Rule", "cardinal", "digits", "grouped", "number", "ordinal", "pairs", "year"]

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str] | str]
"""A pattern and its replacement (as for ``Pattern.sub``)."""

_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _clean(words: str) -> str:
    return words.replace(",", "").replace(" and ", " ")


_LONGEST = 10**15  # past a quadrillion, digits are read one by one


@lru_cache(maxsize=4096)
def cardinal(n: int) -> str:
    from num2words import num2words

    if abs(n) >= _LONGEST:
        return digits(str(abs(n)))
    return _clean(str(num2words(n, lang="en")))


@lru_cache(maxsize=1024)
def ordinal(n: int) -> str:
    from num2words import num2words

    if n >= _LONGEST:
        return digits(str(n))
    return _clean(str(num2words(n, lang="en", to="ordinal")))


@lru_cache(maxsize=1024)
def year(n: int) -> str:
    """A year as it is said: 1984 "nineteen eighty-four", 2005 "two thousand five",
    2023 "twenty twenty-three", 1900 "nineteen hundred"."""
    if 2000 <= n <= 2009 or n < 1000:
        return cardinal(n)
    from num2words import num2words

    return _clean(str(num2words(n, lang="en", to="year")))


def digits(text: str) -> str:
    """Each digit of text as a word ("062" -> "zero six two"); other characters dropped."""
    return " ".join(_DIGITS[int(c)] for c in text if c.isdigit())


def grouped(text: str) -> str:
    """A long digit string read digit by digit in groups of three or four, the way people
    read out account or serial numbers ("4839201847" -> "four eight three, nine two
    zero, one eight four seven"); five digits or fewer stay one group."""
    run = "".join(c for c in text if c.isdigit())
    if len(run) <= 5:
        return digits(run)
    count = -(-len(run) // 4)  # as few groups as fit in fours, as even as can be, longer ones last
    small, extra = divmod(len(run), count)
    sizes = [small] * (count - extra) + [small + 1] * extra
    out, pos = [], 0
    for size in sizes:
        out.append(digits(run[pos : pos + size]))
        pos += size
    return ", ".join(out)


def number(text: str) -> str:
    """A written number (``1,200``, ``3.5``, ``.5``) in words."""
    text = text.replace(",", "")
    whole, _, frac = text.partition(".")
    words = cardinal(int(whole)) if whole else "zero"
    return f"{words} point {digits(frac)}" if frac else words


# --- currencies ---------------------------------------------------------------------

_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "US$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "", ""),
    "₹": ("rupee", "rupees", "paisa", "paise"),
}
_CODES = {"USD": "US dollars", "EUR": "euros", "GBP": "pounds", "JPY": "yen", "CAD": "Canadian dollars",
          "AUD": "Australian dollars", "CHF": "Swiss francs"}
_SCALES = {"k": "thousand", "K": "thousand", "m": "million", "M": "million", "mn": "million",
           "bn": "billion", "b": "billion", "B": "billion", "tn": "trillion", "thousand": "thousand",
           "million": "million", "billion": "billion", "trillion": "trillion"}
_AMOUNT = r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?"
_MONEY = re.compile(
    r"(US\$|[$£€¥₹])\s?" + _AMOUNT
    + r"(?:\s?(?:-|\u2013|to)\s?(?:US\$|[$£€¥₹])?" + _AMOUNT + r")?"
    + r"(?:\s?(k|K|mn|m|M|bn|b|B|tn)\b|\s+(thousand|million|billion|trillion)\b"
    + r"|-(thousand|million|billion|trillion)\b)?"
)
_CODE_AFTER = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s?(" + "|".join(_CODES) + r")\b")
_CODE_BEFORE = re.compile(r"\b(" + "|".join(_CODES) + r")\s?(\d[\d,]*(?:\.\d+)?)(?![\d.])")


def _amount(symbol: str, whole_text: str, frac: str | None) -> str:
    one, many, sub_one, sub_many = _CURRENCIES[symbol]
    whole = int(whole_text.replace(",", ""))
    parts = []
    cents = int(frac.ljust(2, "0")[:2]) if frac and sub_one and len(frac) <= 2 else 0
    if frac and (not sub_one or len(frac) > 2):
        return f"{number(whole_text + '.' + frac)} {many}"
    if whole or not cents:
        parts.append(f"{cardinal(whole)} {one if whole == 1 else many}")
    if cents:
        parts.append(f"{cardinal(cents)} {sub_one if cents == 1 else sub_many}")
    return " and ".join(parts)


def _money(m: re.Match[str]) -> str:
    symbol, whole, frac, whole2, frac2 = m.group(1, 2, 3, 4, 5)
    scale = _SCALES.get(m.group(6) or m.group(7) or m.group(8) or "")
    # "a $10-million deal" is "a ten million dollar deal"
    many = _CURRENCIES[symbol][0 if m.group(8) else 1]
    if scale:
        low = number(whole + ("." + frac if frac else ""))
        if whole2:
            low += " to " + number(whole2 + ("." + frac2 if frac2 else ""))
        return f"{low} {scale} {many}"
    if whole2:
        if not frac and not frac2:
            return f"{cardinal(int(whole.replace(',', '')))} to {_amount(symbol, whole2, None)}"
        return f"{_amount(symbol, whole, frac)} to {_amount(symbol, whole2, frac2)}"
    return _amount(symbol, whole, frac)


# A code's minor unit, for an amount written with two decimals ("3.50 EUR").
_CODE_MINOR = {"USD": ("cent", "cents"), "EUR": ("cent", "cents"), "GBP": ("penny", "pence"),
               "CAD": ("cent", "cents"), "AUD": ("cent", "cents")}


def _code_money(amount: str, code: str) -> str:
    """"500 USD" five hundred US dollars, "1 EUR" one euro, "3.50 EUR" three euros and
    fifty cents."""
    many = _CODES[code]
    one = many if code in ("JPY", "CHF") else many[:-1]  # "yen", "Swiss francs" stay
    whole, _, frac = amount.replace(",", "").partition(".")
    if frac and (len(frac) != 2 or code not in _CODE_MINOR):
        return f"{number(amount)} {many}"
    n = int(whole)
    out = f"{cardinal(n)} {one if n == 1 else many}"
    cents = int(frac) if frac else 0
    if cents:
        sub_one, sub_many = _CODE_MINOR[code]
        cent_words = f"{cardinal(cents)} {sub_one if cents == 1 else sub_many}"
        return cent_words if n == 0 else f"{out} and {cent_words}"
    return out


# --- fractions, ranges, minus, versions, decimals -----------------------------------

_DENOMINATORS = {2: ("half", "halves"), 4: ("quarter", "quarters")}
_MIXED = re.compile(r"(?<![\d/.])(\d+)\s+(\d{1,2})/(\d{1,2})(?![\d/])")
_FRACTION = re.compile(r"(?<![\d/.:])(\d{1,2})/(\d{1,2})(?![\d/])")
_SPECIAL_FRACTIONS = {"24/7": "twenty-four seven", "9/11": "nine eleven", "50/50": "fifty-fifty"}


def _fraction_words(num: int, den: int) -> str | None:
    if not 2 <= den <= 16 and den not in (32, 64, 100) or num == 0 or num >= 10 * den:
        return None
    one, many = _DENOMINATORS.get(den, (ordinal(den), ordinal(den) + "s"))
    return f"{cardinal(num)} {one if num == 1 else many}"


def _fraction(m: re.Match[str]) -> str:
    special = _SPECIAL_FRACTIONS.get(m.group(0))
    if special:
        return special
    words = _fraction_words(int(m.group(1)), int(m.group(2)))
    return words if words else f"{cardinal(int(m.group(1)))} over {cardinal(int(m.group(2)))}"


def _mixed(m: re.Match[str]) -> str:
    num, den = int(m.group(2)), int(m.group(3))
    if num >= den or _fraction_words(num, den) is None:
        return m.group(0)
    part = ("a half" if den == 2 else "a quarter" if den == 4 else f"one {ordinal(den)}") if num == 1 \
        else _fraction_words(num, den)
    return f"{cardinal(int(m.group(1)))} and {part}"


# "10-20", "1990-1995", "3-2", "10–20": not a phone number (3-4 digits), a date or a
# word with a number ("COVID-19").
_RANGE = re.compile(r"(?<![\w.,/:-])(\d{1,4})(?:\.(\d+))?\s?[-\u2013]\s?(\d{1,4})(?:\.(\d+))?(?![\w/:-]|[.,]\d)")
_MINUS = re.compile(r"(?<=\d) - (?=\d)")
# "4-4-2", "3-2-1": three small numbers or more joined by hyphens, which espeak reads
# with "dash" between them, are numbers said one after the other.
_CHAIN = re.compile(r"(?<![\w.,/:-])\d{1,2}(?:-\d{1,2}){2,}(?![\w/:-]|[.,]\d)")
_VERSION = re.compile(r"(?<![\w.])(?:(v|version |Version )(\d+(?:\.\d+)+)|(\d+\.\d+\.\d+(?:\.\d+)*))(?!\w|\.\d)")
_BARE_DECIMAL = re.compile(r"(?<![\w.])\.(\d+)\b")


def _range(m: re.Match[str]) -> str:
    low, low_frac, high, high_frac = m.group(1, 2, 3, 4)
    if len(low) == 3 and len(high) == 4 and not low_frac and not high_frac:
        return m.group(0)  # 555-0132: a telephone number, read elsewhere
    if len(low) == 4 and len(high) in (2, 4) and 1000 <= int(low) <= 2099 and not low_frac and not high_frac:
        if len(high) == 2:  # 1990-95
            high = low[:2] + high
        return f"{year(int(low))} to {year(int(high))}"
    a = number(low + ("." + low_frac if low_frac else ""))
    b = number(high + ("." + high_frac if high_frac else ""))
    return f"{a} to {b}"


def _version_part(part: str) -> str:
    """One part of a version: "10" "ten", "04" "oh four" (as in "22.04"), "0" "zero"."""
    if len(part) > 1 and part.startswith("0"):
        return "oh " + cardinal(int(part)) if len(part) == 2 else digits(part)
    return cardinal(int(part))


def _version(m: re.Match[str]) -> str:
    prefix, body = (m.group(1), m.group(2)) if m.group(2) else ("", m.group(3))
    spoken = " point ".join(_version_part(p) for p in body.split("."))
    return ("version " if prefix else "") + spoken


# "Python 3.11", "Ubuntu 22.04", "iOS 17.10", "Section 4.12": a number with two parts after
# a name, its second part of two digits or more, is a version or a section and its parts
# are numbers ("three point eleven"), where espeak reads a decimal ("three point one one").
# Not after the first word of a sentence ("About 3.14"), a month or a currency code.
_NAMED_VERSION = re.compile(
    r"(?<=[\w,;:)] )(?!(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|USD|EUR|GBP|JPY|CAD|AUD|CHF)\w*\s)"
    r"((?:[A-Z][A-Za-z]*|[a-z]+[A-Z][A-Za-z]*)\s)(\d+)\.(\d{2,})(?!\w|[.,]\d|\s?%)"
)


def _named_version(m: re.Match[str]) -> str:
    return f"{m.group(1)}{cardinal(int(m.group(2)))} point {_version_part(m.group(3))}"


RULES: list[Rule] = [
    (_MONEY, _money),
    (_CODE_AFTER, lambda m: _code_money(m.group(1), m.group(2))),
    (_CODE_BEFORE, lambda m: _code_money(m.group(2), m.group(1))),
    (_VERSION, _version),
    (_NAMED_VERSION, _named_version),
    (_MIXED, _mixed),
    (_FRACTION, _fraction),
    (_CHAIN, lambda m: " ".join(cardinal(int(n)) for n in m.group(0).split("-"))),
    (_MINUS, " minus "),
    (_RANGE, _range),
    (_BARE_DECIMAL, lambda m: "point " + digits(m.group(1))),
]
"""(pattern, replacement) in the order they apply; dates, times and telephone numbers
run before these (see ``normalize``)."""


def _after_hundreds(tail: int) -> str:
    return "hundred" if tail == 0 else f"oh {cardinal(tail)}" if tail < 10 else cardinal(tail)


def pairs(text: str) -> str:
    """A house, flight or room number read in pairs: 857 "eight fifty-seven", 1600
    "sixteen hundred", 105 "one oh five", 12 "twelve"; five digits or more, or a
    leading zero, one by one."""
    n = int(text)
    if text.startswith("0") and n:
        return digits(text)
    if len(text) <= 2:
        return cardinal(n)
    if len(text) == 3:
        return f"{cardinal(n // 100)} {_after_hundreds(n % 100)}"
    if len(text) == 4:
        if (n // 100) % 10 == 0 and n % 100 < 10:
            return cardinal(n)  # 2005 "two thousand five"
        return f"{cardinal(n // 100)} {_after_hundreds(n % 100)}"
    return digits(text)
