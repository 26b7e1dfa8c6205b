"""Dates, clock times, years and decades in words.

espeak-ng reads ``14 March 2023`` as "fourteen March two thousand twenty three",
``2023-03-14`` as "two thousand twenty three dash zero three dash fourteen",
``7:05`` as "seven zero five" and ``1984`` as "one thousand nine hundred...". Here:
"the fourteenth of March twenty twenty-three", "seven oh five", "nineteen
eighty-four". Numeric dates are month/day/year (American) unless the first number
cannot be a month; dotted ones (``14.03.2023``) are day.month.year.
"""

from __future__ import annotations

import re

from voicestack.text.numbers import Rule, cardinal, ordinal, year

__all__ = ["RULES"]

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
_MONTH_ABBR = {m[:3]: m for m in MONTHS} | {"Sept": "September"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAY_ABBR = {d[:3]: d for d in WEEKDAYS} | {"Tues": "Tuesday", "Thur": "Thursday", "Thurs": "Thursday"}

_MONTH = r"(?P<month>" + "|".join(MONTHS) + r"|Sept|" + "|".join(m[:3] for m in MONTHS if m != "May") + r")\.?"
_WEEKDAY = (r"(?:(?P<weekday>" + "|".join(WEEKDAYS) + "|Tues|Thurs|Thur|"
            + "|".join(d[:3] for d in WEEKDAYS) + r")\.?(?P<wsep>,?)\s+)?")
_DAY = r"(?P<day>[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>1[1-9]\d\d|20\d\d)"
_DMY = re.compile(r"\b" + _WEEKDAY + _DAY + r"\s+(?:of\s+)?" + _MONTH + r"(?:(?P<ysep>,?)\s+" + _YEAR + r")?(?![\w\d])")
_MDY = re.compile(r"\b" + _WEEKDAY + _MONTH + r"\s+" + _DAY + r"(?![\d:])(?:(?P<ysep>,?)\s+" + _YEAR + r")?(?![\w\d])")
_MY = re.compile(r"\b" + _MONTH + r",?\s+" + _YEAR + r"(?![\w\d])")
_ISO = re.compile(r"\b(1[1-9]\d\d|20\d\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\b(?![:\d])")
_NUMERIC = re.compile(r"(?<![\d/.-])(\d{1,2})([/.-])(\d{1,2})\2(1[1-9]\d\d|20\d\d)(?![\d/-]|\.\d)")


def _end(m: re.Match[str]) -> str:
    """The full stop of a month abbreviation that ended the match, if it ends the sentence."""
    from voicestack.text.abbreviations import stop

    return stop(m) if m.group(0).endswith(".") else ""


def _month(name: str) -> str:
    return _MONTH_ABBR.get(name, name)


def _weekday(m: re.Match[str]) -> str:
    day = m.group("weekday")
    return f"{_WEEKDAY_ABBR.get(day, day)}, " if day else ""


def _dmy(m: re.Match[str]) -> str:
    the = "" if m.string[max(0, m.start() - 4) : m.start()].lower() == "the " and not m.group("weekday") else "the "
    out = f"{_weekday(m)}{the}{ordinal(int(m.group('day')))} of {_month(m.group('month'))}"
    if m.group("year"):
        out += f"{m.group('ysep')} {year(int(m.group('year')))}"
    return out + _end(m)


def _mdy(m: re.Match[str]) -> str:
    out = f"{_weekday(m)}{_month(m.group('month'))} {ordinal(int(m.group('day')))}"
    if m.group("year"):
        out += f"{m.group('ysep')} {year(int(m.group('year')))}"
    return out


def _my(m: re.Match[str]) -> str:
    return f"{_month(m.group('month'))} {year(int(m.group('year')))}"


def _spoken(y: int, month: int, day: int, day_first: bool) -> str:
    if day_first:
        return f"the {ordinal(day)} of {MONTHS[month - 1]} {year(y)}"
    return f"{MONTHS[month - 1]} {ordinal(day)}, {year(y)}"


def _iso(m: re.Match[str]) -> str:
    return _spoken(int(m.group(1)), int(m.group(2)), int(m.group(3)), day_first=False)


def _numeric(m: re.Match[str]) -> str:
    a, sep, b, y = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
    day_first = sep == "." or a > 12
    month, day = (b, a) if day_first else (a, b)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group(0)
    return _spoken(y, month, day, day_first)


# --- times, years, decades ----------------------------------------------------------

_TIME = re.compile(
    r"(?<![\d:.])([01]?\d|2[0-3])(?::|\.(?=[0-5]\d\s?[AaPp]\.?[Mm]\b))([0-5]\d)(?![\d:]|\.\d)"
    r"(\s?[AaPp]\.?[Mm]\b\.?)?"
)
_DECADE = re.compile(r"\b(1[1-9]\d|20\d)0'?s\b")
_SHORT_DECADE = re.compile(r"(?<![\w'])'([2-9]0)s\b")
_TENS = {"2": "twenties", "3": "thirties", "4": "forties", "5": "fifties", "6": "sixties", "7": "seventies",
         "8": "eighties", "9": "nineties"}
# "the 80s", "in her 30s", "mid-60s", "the 60s and 70s": a decade or an age, never "eighty
# seconds" (which espeak and the unit rule would make of "80s"); "wait 30s" is left to them.
_BARE_DECADES = re.compile(
    r"\b((?:[Tt]he|[Mm]id|[Ee]arly|[Ll]ate|[Hh]is|[Hh]er|[Tt]heir|[Mm]y|[Yy]our|[Oo]ur|[Ii]ts)[\s-])"
    r"([2-9]0'?s(?:(?:\s(?:and|or|to)\s|\s?[-\u2013]\s?)(?:the\s)?[2-9]0'?s)*)\b"
)
_BARE_DECADE = re.compile(r"([2-9])0'?s")


def _bare_decades(m: re.Match[str]) -> str:
    return m.group(1) + _BARE_DECADE.sub(lambda d: _TENS[d.group(1)], m.group(2))
_YEAR_ALONE = re.compile(r"(?<![\d.,:/$£€¥-])\b(1[1-9]\d\d)\b(?![\d%]|[.,:/]\d|\s?(?:-|\u2013)\s?\d)")
_YEAR_CONTEXT = re.compile(
    r"\b(in|since|by|from|until|till|of|year|circa|before|after|during|around|early|late|mid|spring|summer|"
    r"autumn|fall|winter|In|Since|By|From|Until|Before|After|During|Around)\s+(20[0-9]\d)\b(?![\d%/-]|[.,:]\d)"
)


def _decade(m: re.Match[str]) -> str:
    words = year(int(m.group(1) + "0"))
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _time(m: re.Match[str]) -> str:
    hour, minute = int(m.group(1)), int(m.group(2))
    suffix = m.group(3)
    words = cardinal(hour)
    if minute == 0:
        if not suffix:
            words += " hundred" if hour > 12 or m.group(1).startswith("0") else " o'clock"
    elif minute < 10:
        words += " oh " + cardinal(minute)
    else:
        words += " " + cardinal(minute)
    if suffix:
        words += " " + suffix.strip()  # espeak reads "a.m." "pm" "PM" as letters
    return words


RULES: list[Rule] = [
    (_ISO, _iso),
    (_NUMERIC, _numeric),
    (_DMY, _dmy),
    (_MDY, _mdy),
    (_MY, _my),
    (_TIME, _time),
    (_DECADE, _decade),
    (_SHORT_DECADE, lambda m: _TENS[m.group(1)[0]]),
    (_BARE_DECADES, _bare_decades),
    (_YEAR_CONTEXT, lambda m: f"{m.group(1)} {year(int(m.group(2)))}"),
]
"""Dates and times; the lone-year rule (`YEAR_RULE`) runs after the number rules."""
YEAR_RULE: Rule = (_YEAR_ALONE, lambda m: year(int(m.group(1))))
