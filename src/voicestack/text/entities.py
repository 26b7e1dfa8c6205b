"""Telephone numbers, addresses, flight numbers, acronyms, Roman numerals, web
addresses and symbols: what espeak-ng reads as plain numbers or words.

espeak-ng reads ``+1 (555) 013-2748`` as "plus one five hundred fifty-five zero
thirteen dash two thousand...", ``IL 62704`` as "ill sixty-two thousand...", ``UA
857`` as "you-a eight hundred fifty-seven", ``Henry VIII`` as "Henry roman eight"
and ``5 - 3`` as "five three". Telephone numbers, postcodes, account or serial numbers
and numbers to dial are read digit by digit in their groups, with "zero" for 0 (with
"oh", listeners and recognisers take it for the letter); flight, house and extension
numbers in pairs.
"""

from __future__ import annotations

import re

from voicestack.text.numbers import Rule, cardinal, digits, grouped, ordinal, pairs

__all__ = ["HAS_WEB", "LATE_RULES", "RULES", "WEB_RULES", "roman_value", "spell"]

# --- telephone numbers --------------------------------------------------------------

_EXT = r"(?:,?\s*(?:ext\.?|Ext\.?|x|extension)\s?(?P<ext>\d{1,5}))?"
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"(?P<cc>\+\d{1,3})[\s.-]?(?P<intl>(?:\(\d{1,4}\)|\d{1,4})(?:[\s.-]\d{2,4}){1,4})"  # +1 (555) 013-2748
    r"|(?P<body>\(\d{3}\)\s?\d{3}[\s.-]\d{4}"  # (555) 013-2748
    r"|(?:1[\s.-])?\d{3}[.-]\d{3}[.-]\d{4}"  # 555-013-2748, 1-800-555-0199, 212.555.0147
    r"|(?:1\s)?\d{3}\s\d{3}\s\d{4}"  # 1 800 275 2273
    r"|0\d{2,4}\s\d{3,4}\s\d{3,4}"  # 020 7946 0958, 0161 496 0000
    r"|0\d{4}\s\d{6}"  # 07700 900123
    r"|\d{3}-\d{4})"  # 555-0132
    r")(?![\w-])" + _EXT
)


def _groups(text: str) -> str:
    return ", ".join(grouped(g) for g in re.findall(r"\d+", text))


def _extension(number: str) -> str:
    """An extension as people say one: in pairs ("42" "forty-two", "204" "two oh four")."""
    return "extension " + pairs(number)


def _phone(m: re.Match[str]) -> str:
    if m.group("cc"):
        out = f"plus {digits(m.group('cc'))}, {_groups(m.group('intl'))}"
    else:
        out = _groups(m.group("body"))
    if m.group("ext"):
        out += ", " + _extension(m.group("ext"))
    return out


# Account, order, serial numbers and the like are read digit by digit in groups: after a
# word that names one (four digits or more), or anywhere when eight digits or more are
# written without separators and do not end in a run of zeros (1000000 is a quantity).
_ID_WORDS = ("account", "order", "serial", "tracking", "reference", "confirmation", "booking", "ticket",
             "policy", "invoice", "card", "member", "membership", "customer", "case", "claim", "PIN",
             "ID", "code", "passcode", "password", "pin", "id", "routing", "transaction", "receipt")
_ID_WORD = "|".join(sorted({w for k in _ID_WORDS for w in (k, k.capitalize())}, key=len, reverse=True))
_KEYED_ID = re.compile(
    r"\b(" + _ID_WORD + r")(?P<num>\s+(?:[Nn]umber|[Nn]o\.|#)\s?|\s?#\s?|:\s?|\s+(?:is\s+)?)"
    r"(\d{4,})\b(?![.,]\d|\s?%)"
)
_LONG_ID = re.compile(r"(?<![\w.,$£€¥#+-])(?:0\d{3,}|\d{8,})\b(?![.,]\d|\s?%)")


def _keyed_id(m: re.Match[str]) -> str:
    join = m.group("num")
    if "#" in join or "o." in join:
        join = " number "
    return m.group(1) + join + grouped(m.group(3))


# A number to dial is said digit by digit: a service number ("call 911" "nine one one",
# "dial 411", "999", "112") or seven digits and more ("dial 5550132"); "call 100 people"
# stays a number.
_DIAL = re.compile(r"\b((?:[Cc]all|[Dd]ial|[Rr]ing|[Tt]ext|[Ff]ax)(?:s|ed|ing)?\s+(?:us\s+at\s+|me\s+on\s+|me\s+at\s+)?)"
                   r"([2-9]11|999|112|988|\d{7,})\b(?![.,]\d|[\w/:-]|\s?%)")


def _long_id(m: re.Match[str]) -> str:
    text = m.group(m.lastindex or 0)  # the digits (the last group of `_DIAL`)
    if not text.startswith("0") and re.search(r"000$", text):
        return text  # 1500000: a quantity written without commas
    return grouped(text)


# --- addresses ----------------------------------------------------------------------

STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California", "CO": "Colorado",
    "CT": "Connecticut", "DE": "Delaware", "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho",
    "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York", "NC": "North Carolina",
    "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas",
    "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington", "WV": "West Virginia",
    "WI": "Wisconsin", "WY": "Wyoming", "DC": "D.C",
}
_STATE_ZIP = re.compile(r"\b(" + "|".join(STATES) + r")\s+(\d{5})(?:-(\d{4}))?\b")
_SUFFIXES = {
    "St": "Street", "Ave": "Avenue", "Rd": "Road", "Blvd": "Boulevard", "Ln": "Lane", "Dr": "Drive",
    "Ct": "Court", "Pl": "Place", "Pkwy": "Parkway", "Hwy": "Highway", "Sq": "Square", "Ter": "Terrace",
}
_FULL_SUFFIXES = ("Street", "Avenue", "Road", "Boulevard", "Lane", "Drive", "Court", "Place", "Way", "Terrace",
                  "Parkway", "Highway", "Square", "Circle", "Close", "Crescent")
_COMPASS = {"N": "North", "S": "South", "E": "East", "W": "West", "NE": "Northeast", "NW": "Northwest",
            "SE": "Southeast", "SW": "Southwest"}
_ADDRESS = re.compile(
    r"(?<![\w.,$£€-])(\d{1,5})([A-Z])?\s+(?:(N|S|E|W|NE|NW|SE|SW)\.?\s+)?((?:[A-Z][a-z]+\s+){1,3})"
    r"(" + "|".join(_FULL_SUFFIXES) + "|" + "|".join(_SUFFIXES) + r")\b(\.?)"
)


# British postcodes: "SW1A 1AA" is "S.W one A, one A.A" (espeak reads "1AA" as "one ah").
_POSTCODE = re.compile(r"\b([A-Z]{1,2}\d[A-Z\d]?) (\d[A-Z]{2})\b")
_RUNS = re.compile(r"[A-Z]+|\d")


def _postcode_part(part: str) -> str:
    return " ".join(spell(run) if run.isalpha() else cardinal(int(run)) for run in _RUNS.findall(part))


def _postcode(m: re.Match[str]) -> str:
    return f"{_postcode_part(m.group(1))}, {_postcode_part(m.group(2))}"


def _state_zip(m: re.Match[str]) -> str:
    out = f"{STATES[m.group(1)]} {digits(m.group(2))}"
    return out + (f", {digits(m.group(3))}" if m.group(3) else "")


def _address(m: re.Match[str]) -> str:
    from voicestack.text.abbreviations import stop

    number, letter, compass, words, suffix, dot = m.groups()
    out = pairs(number) + (f" {letter}" if letter else "")
    if compass:
        out += " " + _COMPASS[compass]
    out += " " + words + _SUFFIXES.get(suffix, suffix)
    return out + (stop(m) if dot else "")


# --- flight numbers and spelled acronyms --------------------------------------------

# IATA airline codes that are not also common words, state codes or time suffixes.
AIRLINES = ["AA", "UA", "DL", "WN", "B6", "NK", "F9", "HA", "AC", "BA", "VS", "LH", "AF", "KL", "EK", "QR", "EY", "TK", "SQ", "CX", "QF", "NZ", "JL", "NH", "KE", "LX", "OS", "SK", "AY", "IB", "AZ", "EI", "FR", "U2", "TP", "SN", "LO", "AV", "CM", "SV", "WS", "G4", "SY"]
_FLIGHT = re.compile(r"(?:\b([Ff]light)\s+)?\b(" + "|".join(AIRLINES) + r"|[A-Z]{2})\s?(\d{1,4})\b(?![.,]\d)")
# Acronyms espeak-ng reads as a word but people spell out.
SPELLED = frozenset(["NYC", "UA", "AA", "BA", "DL", "NBA", "NHL", "MLB", "NFL", "BMW", "SUV", "CPU", "GPU", "RAM"])
_SPELL = re.compile(r"\b(" + "|".join(sorted(SPELLED)) + r")\b")


def spell(letters: str) -> str:
    """Letters to be spelled, as espeak-ng spells them: joined by full stops ("U.A"); a
    lone capital "A" between spaces would be read as the article."""
    return ".".join(letters)


def _flight(m: re.Match[str]) -> str:
    word, code, num = m.groups()
    if not word and code not in AIRLINES:
        return m.group(0)
    return (f"{word} " if word else "") + spell(code) + " " + pairs(num)


# --- Roman numerals -----------------------------------------------------------------

_ROMAN = re.compile(r"M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})")
_ROMAN_VALUES = {"M": 1000, "D": 500, "C": 100, "L": 50, "X": 10, "V": 5, "I": 1}
KEYWORDS = ["Chapter", "Part", "Volume", "Book", "Act", "Scene", "Section", "Article", "Phase", "Title", "Appendix", "Level", "Stage", "Class", "Type", "Round", "Episode", "Season", "War", "Bowl", "Mark", "Schedule", "Unit", "Grade", "Category", "Vol.", "Ch.", "Pt.", "Figure", "Fig.", "Plate", "Amendment", "Division", "Tier", "Series"]
# A possessive may follow ("Henry VIII's wives" "Henry the eighth's wives").
_KEYWORD_ROMAN = re.compile(r"\b(" + "|".join(re.escape(k) for k in KEYWORDS) + r")\s+([IVXLCDM]+)\b(?!'[^s]|[\w-])")
_REGNAL = re.compile(r"\b([A-Z][a-z]+)\s+([IVX]{2,6}|V|X)\b(?!'[^s]|[\w-]|\.\w)")
# "I" is the pronoun unless a title and a name come first ("King Charles I", "Pope Leo I")
# or "of" and a place follow ("Elizabeth I of England").
_TITLES = ("King", "Queen", "Pope", "Emperor", "Empress", "Tsar", "Czar", "Tsarina", "Kaiser", "Sultan",
           "Pharaoh", "Prince", "Princess", "Duke", "Archduke", "Grand Duke", "Saint", "Shah", "Emir")
_FIRST = re.compile(r"\b((?:" + "|".join(_TITLES) + r")(?:\s+[A-Z][a-z]+)+|[A-Z][a-z]+(?=\s+I\s+of\s+[A-Z]))"
                    r"\s+I\b(?:\.(?=[,;]))?(?!'[^s]|[\w-]|\.\w)")
_NOT_NAMES = frozenset(["The", "A", "An", "In", "On", "At", "It", "Is", "As", "Of", "Or", "And", "But", "For", "To", "By", "With", "From", "Part", "Type", "I", "Number", "No", "Serial", "Room", "Gate", "Platform", "Plan", "Vitamin", "Model", "Form", "Exhibit", "Row", "Seat", "Block", "Size"])


_WORLD_WAR = re.compile(r"\bWW(II|I|1|2)\b")
_CENTURY = re.compile(r"\b([IVXLC]{1,6})(?:th|st|nd|rd)?(?=\s+[Cc]entur(?:y|ies)\b)")


def roman_value(text: str) -> int | None:
    """The value of a well-formed Roman numeral, else None."""
    if not text or not _ROMAN.fullmatch(text):
        return None
    total = 0
    for i, ch in enumerate(text):
        value = _ROMAN_VALUES[ch]
        total += -value if i + 1 < len(text) and _ROMAN_VALUES[text[i + 1]] > value else value
    return total


def _keyword_roman(m: re.Match[str]) -> str:
    value = roman_value(m.group(2))
    return f"{m.group(1)} {cardinal(value)}" if value else m.group(0)


def _regnal(m: re.Match[str]) -> str:
    value = roman_value(m.group(2))
    if not value or m.group(1) in _NOT_NAMES or (len(m.group(2)) == 1 and m.string[m.end() : m.end() + 1] == "."):
        # "Forrest V. Sorrels": an initial
        return m.group(0)
    return f"{m.group(1)} the {ordinal(value)}"


# --- web addresses, e-mail, symbols -------------------------------------------------

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_DOMAIN = re.compile(r"(?<![\w@./-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|edu|gov|io|dev|app|ai)\b"
                     r"(?:/[^\s<>\"']*[^\s<>\"'.,;:!?)\]])?")
_URL_SYMBOLS = {".": "dot", "/": "slash", "@": "at", "-": "dash", "_": "underscore", ":": "colon",
                "?": "question mark", "=": "equals", "&": "and", "#": "hash", "~": "tilde", "+": "plus",
                "%": "percent"}
_URL_PART = re.compile(r"[A-Za-z]+|\d+|.")


def _say_address(text: str) -> str:
    text = re.sub(r"^https?://", "", text)
    words = []
    for part in _URL_PART.findall(text):
        if part == "www":
            words.append("W W W")
        elif part.isdigit():
            words.append(digits(part) if len(part) > 2 else part)
        elif part in _URL_SYMBOLS:
            words.append(_URL_SYMBOLS[part])
        elif part.strip():
            words.append(part)
    return " ".join(words)


_HASH_NUMBER = re.compile(r"(?<![\w&])#\s?(\d+)\b")
_AMPERSAND = re.compile(r"(?<=\s)&(?=\s)")
_BY = re.compile(r"(?<=\d)\s?[x×]\s?(?=\d)")
_AND_OR = re.compile(r"\band/or\b")

WEB_RULES: list[Rule] = [
    (_URL, lambda m: _say_address(m.group(0))),
    (_EMAIL, lambda m: _say_address(m.group(0))),
    (_DOMAIN, lambda m: _say_address(m.group(0))),
]
"""First, when the text has an ``@``, ``://``, ``www.`` or a known top-level domain."""
HAS_WEB = re.compile(r"@|://|\bwww\.|\.(?:com|org|net|edu|gov|io|dev|app|ai)\b")
_EXTENSION = re.compile(r"\b([Ee]xt\.?|[Ee]xtension)\s?(\d{1,5})\b")
RULES: list[Rule] = [
    (_PHONE, _phone),
    (_EXTENSION, lambda m: _extension(m.group(2))),
    (_KEYED_ID, _keyed_id),
    (_STATE_ZIP, _state_zip),
    (_POSTCODE, _postcode),
    (_ADDRESS, _address),
    (_FLIGHT, _flight),
    (_LONG_ID, _long_id),
    (_DIAL, lambda m: m.group(1) + _long_id(m)),
]
"""Before the date and number rules (they hold digits those would read)."""
LATE_RULES: list[Rule] = [
    (_SPELL, lambda m: spell(m.group(1))),
    (_KEYWORD_ROMAN, _keyword_roman),
    (_REGNAL, _regnal),
    (_WORLD_WAR, lambda m: "World War " + ("one" if m.group(1) in ("I", "1") else "two")),
    (_CENTURY, lambda m: ordinal(value) if (value := roman_value(m.group(1))) else m.group(0)),
    (_FIRST, lambda m: f"{m.group(1)} the first"),
    (_HASH_NUMBER, lambda m: f"number {cardinal(int(m.group(1)))}"),
    (_AMPERSAND, "and"),
    (_BY, " by "),
    (_AND_OR, "and or"),
]
"""After the number rules."""
