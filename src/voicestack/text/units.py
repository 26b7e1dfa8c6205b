"""Units of measurement and temperatures after a number, ``/`` read as "per".

espeak-ng spells unit symbols as letters ("5 kg" is "five K G", "60 km/h" is "sixty
K M slash H", "25°C" is "twenty-five degrees C"). A symbol is rewritten only right
after a number (or a number range), so words that look like symbols stay words.
"""

from __future__ import annotations

import re

from voicestack.text.numbers import Rule, number

__all__ = ["RULES"]

# symbol -> (singular, plural); American spelling.
UNITS: dict[str, tuple[str, str]] = {
    "mm": ("millimeter", "millimeters"), "cm": ("centimeter", "centimeters"), "m": ("meter", "meters"),
    "km": ("kilometer", "kilometers"), "ft": ("foot", "feet"), "yd": ("yard", "yards"), "mi": ("mile", "miles"),
    "mg": ("milligram", "milligrams"), "g": ("gram", "grams"), "kg": ("kilogram", "kilograms"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"), "mL": ("milliliter", "milliliters"), "l": ("liter", "liters"),
    "L": ("liter", "liters"), "gal": ("gallon", "gallons"),
    "ms": ("millisecond", "milliseconds"), "s": ("second", "seconds"), "sec": ("second", "seconds"),
    "min": ("minute", "minutes"), "h": ("hour", "hours"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"), "W": ("watt", "watts"), "kW": ("kilowatt", "kilowatts"),
    "MW": ("megawatt", "megawatts"), "kWh": ("kilowatt hour", "kilowatt hours"), "V": ("volt", "volts"),
    "mA": ("milliamp", "milliamps"), "mAh": ("milliamp hour", "milliamp hours"),
    "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"),
    "Mbps": ("megabit per second", "megabits per second"), "Gbps": ("gigabit per second", "gigabits per second"),
    "mph": ("mile per hour", "miles per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "dB": ("decibel", "decibels"), "ha": ("hectare", "hectares"), "sq ft": ("square foot", "square feet"),
    "m²": ("square meter", "square meters"), "km²": ("square kilometer", "square kilometers"),
    "m³": ("cubic meter", "cubic meters"), "cm³": ("cubic centimeter", "cubic centimeters"),
    "kcal": ("kilocalorie", "kilocalories"), "cal": ("calorie", "calories"),
}
# After "/" ("per"): the singular of these.
PER = {k: v[0] for k, v in UNITS.items()} | {"day": "day", "week": "week", "year": "year", "month": "month"}
_TEMPERATURE = {"C": "Celsius", "F": "Fahrenheit", "K": "kelvin"}

_NUM = r"(-?\d[\d,]*(?:\.\d+)?|-?\.\d+)"
_SYMBOLS = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
_PERS = "|".join(re.escape(u) for u in sorted(PER, key=len, reverse=True))
_UNIT = re.compile(
    r"(?<![\w.,])" + _NUM + r"(?:\s?(?:-|\u2013|to)\s?" + _NUM + r")?\s?(" + _SYMBOLS + r")(?:/(" + _PERS + r"))?"
    r"(?![\w/²³])"
)
_DEGREES = re.compile(r"(?<![\w.,])" + _NUM + r"(?:\s?(?:-|\u2013|to)\s?" + _NUM + r")?\s?°\s?([CFK])?(?![\w])")


def _value(text: str) -> str:
    return ("minus " + number(text[1:])) if text.startswith("-") else number(text)


def _amount(low: str, high: str | None) -> tuple[str, bool]:
    words = _value(low) + (" to " + _value(high) if high else "")
    return words, (high is None and low == "1")


_CAPITAL_NEXT = re.compile(r"\s+[A-Z]")


def _unit(m: re.Match[str]) -> str:
    if len(m.group(3)) == 1 and not m.group(4) and _CAPITAL_NEXT.match(m.string, m.end()):
        return m.group(0)  # "30 W Main Street": a letter, not a unit
    words, one = _amount(m.group(1), m.group(2))
    singular, plural = UNITS[m.group(3)]
    out = f"{words} {singular if one else plural}"
    if m.group(4):
        out += f" per {PER[m.group(4)]}"
    return out


def _degrees(m: re.Match[str]) -> str:
    words, one = _amount(m.group(1), m.group(2))
    out = f"{words} {'degree' if one else 'degrees'}"
    return out + (f" {_TEMPERATURE[m.group(3)]}" if m.group(3) else "")


RULES: list[Rule] = [(_DEGREES, _degrees), (_UNIT, _unit)]
