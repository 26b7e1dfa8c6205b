"""An SSML subset -> a sequence of segments to speak.

Elements: ``speak`` (the root), ``p``, ``s``, ``break`` (``time``: ``700ms``, ``1.5s``;
``strength``: none .. x-strong), ``prosody`` (``rate``: x-slow .. x-fast, ``150%``,
``+20%``, ``0.8``; ``volume``: silent .. x-loud, ``+6dB``, ``-3dB``; ``pitch`` accepted,
not applied), ``say-as`` (``interpret-as``: characters / spell-out, cardinal, ordinal,
digits, date, time, telephone), ``sub`` (``alias``), ``phoneme`` (``alphabet="ipa"``,
``ph``: read by espeak-based voices, the others say the element's text), ``voice``
(``name``: switch voice mid-utterance), ``emphasis`` (accepted; said plainly), ``mark``
(accepted, ignored).

The document is parsed with defusedxml (no entities, no DTDs, no external references).
Every error is one line naming the element, the attribute and the position::

    SSML line 3:5: <break> attribute 'time': '7 parsecs' is not a duration (e.g. 500ms, 1.5s)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any
from xml.sax import SAXParseException
from xml.sax.handler import ContentHandler

from voicestack.errors import RequestError

MAX_BREAK_SECONDS = 10.0
MAX_NESTING = 64
STRENGTHS = {"none": 0.0, "x-weak": 0.1, "weak": 0.2, "medium": 0.4, "strong": 0.7, "x-strong": 1.2}
RATES = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.6}
VOLUMES = {"silent": -60.0, "x-soft": -12.0, "soft": -6.0, "medium": 0.0, "default": 0.0, "loud": 4.0,
           "x-loud": 8.0}
ATTRIBUTES = {
    "speak": {"version", "xmlns", "xml:lang", "xmlns:xsi", "xsi:schemaLocation"},
    "p": {"xml:lang"}, "s": {"xml:lang"}, "break": {"time", "strength"},
    "prosody": {"rate", "volume", "pitch"}, "say-as": {"interpret-as", "format", "detail"},
    "sub": {"alias"}, "phoneme": {"alphabet", "ph"}, "voice": {"name", "xml:lang", "gender", "age", "variant"},
    "emphasis": {"level"}, "mark": {"name"},
}
SAY_AS = ("characters", "spell-out", "cardinal", "number", "ordinal", "digits", "date", "time", "telephone")


def looks_like_ssml(text: str) -> bool:
    """True for a document that starts with ``<speak`` (after an XML declaration)."""
    head = text.lstrip()
    if head.startswith("<?xml"):
        head = head[head.find("?>") + 2:].lstrip() if "?>" in head else head
    return head.startswith("<speak")


@dataclass(frozen=True)
class Segment:
    """Text said with one voice and one setting. ``text`` may hold Piper's raw phonemes
    (``[[ ... ]]``); ``plain`` is the same text with each phoneme element's own words."""

    text: str
    plain: str
    voice: str | None = None  # None: the request's voice
    rate: float = 1.0  # speaking rate (2.0: twice as fast)
    volume_db: float = 0.0


@dataclass(frozen=True)
class Break:
    """Silence, in seconds."""

    seconds: float


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    line: int
    col: int
    children: list[Any] = field(default_factory=list)


class _Builder(ContentHandler):
    def __init__(self) -> None:
        super().__init__()
        self.root: _Node | None = None
        self.stack: list[_Node] = []
        self.locator: Any = None

    def setDocumentLocator(self, locator: Any) -> None:
        self.locator = locator

    def startElement(self, name: str, attrs: Any) -> None:
        line, col = (self.locator.getLineNumber(), self.locator.getColumnNumber() + 1) if self.locator else (0, 0)
        node = _Node(name, dict(attrs.items()), line, col)
        if len(self.stack) >= MAX_NESTING:
            raise RequestError("input", f"SSML line {line}:{col}: <{name}> nested more than {MAX_NESTING} deep")
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)

    def endElement(self, name: str) -> None:
        self.stack.pop()

    def characters(self, content: str) -> None:
        if self.stack:
            self.stack[-1].children.append(content)


def _where(node: _Node) -> str:
    return f"SSML line {node.line}:{node.col}: <{node.tag}>"


def _bad(node: _Node, attr: str | None, message: str) -> RequestError:
    what = f"{_where(node)} attribute '{attr}'" if attr else _where(node)
    return RequestError("input", f"{what}: {message}")


def _duration(node: _Node, value: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*", value)
    if not m:
        raise _bad(node, "time", f"{value!r} is not a duration (e.g. 500ms, 1.5s)")
    seconds = float(m.group(1)) / (1000.0 if m.group(2) == "ms" else 1.0)
    if seconds > MAX_BREAK_SECONDS:
        raise _bad(node, "time", f"{value!r} is longer than the {MAX_BREAK_SECONDS:g} s allowed")
    return seconds


def _rate(node: _Node, value: str) -> float:
    v = value.strip()
    if v in RATES:
        return RATES[v]
    m = re.fullmatch(r"([+-])?(\d+(?:\.\d+)?)(%)?", v)
    if m:
        x = float(m.group(2))
        rate = (1.0 + (x if m.group(1) == "+" else -x) / 100.0) if m.group(1) and m.group(3) else (
            x / 100.0 if m.group(3) else x)
        if 0.25 <= rate <= 4.0:
            return rate
        raise _bad(node, "rate", f"{value!r} is out of range; expected 25% to 400%")
    raise _bad(node, "rate", f"{value!r} is not a rate (x-slow, slow, medium, fast, x-fast, 120%, +10%, 0.9)")


def _volume(node: _Node, value: str) -> float:
    v = value.strip()
    if v in VOLUMES:
        return VOLUMES[v]
    m = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)\s*dB", v)
    if m and -40.0 <= float(m.group(1)) <= 20.0:
        return float(m.group(1))
    raise _bad(node, "volume", f"{value!r} is not a volume (silent, soft, medium, loud, x-loud, +6dB, -3dB; "
                               "-40dB to +20dB)")


def say_as(kind: str, text: str, fmt: str | None = None) -> str:
    """What ``<say-as interpret-as=kind>`` reads ``text`` as; ValueError if it can't."""
    from voicestack.text import dates, entities, numbers

    t = text.strip()
    if kind in ("characters", "spell-out"):
        return entities.spell("".join(c for c in t if not c.isspace()))
    if kind in ("cardinal", "number", "ordinal"):
        clean = t.replace(",", "")
        if not re.fullmatch(r"-?\d{1,15}", clean):
            raise ValueError(f"{t!r} is not a whole number")
        return numbers.cardinal(int(clean)) if kind != "ordinal" else numbers.ordinal(int(clean))
    if kind == "digits":
        if not re.search(r"\d", t):
            raise ValueError(f"{t!r} has no digits")
        return numbers.digits(t)
    if kind == "telephone":
        said = entities._PHONE.sub(entities._phone, t)
        return said if said != t else entities._groups(t)
    if kind == "time":
        said = dates._TIME.sub(dates._time, t)
        if said == t:
            raise ValueError(f"{t!r} is not a time (e.g. 7:05, 19:30, 9:15 pm)")
        return said
    if kind == "date":
        if fmt in ("dmy", "mdy", "ymd") and re.fullmatch(r"\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}", t):
            parts = [int(x) for x in re.split(r"[/.-]", t)]
            y, m, d = {"dmy": (parts[2], parts[1], parts[0]), "mdy": (parts[2], parts[0], parts[1]),
                       "ymd": (parts[0], parts[1], parts[2])}[fmt]
            if not (1 <= m <= 12 and 1 <= d <= 31):
                raise ValueError(f"{t!r} is not a date in the format {fmt}")
            return f"{dates.MONTHS[m - 1]} {numbers.ordinal(d)}, {numbers.year(y)}"
        said = t
        for pattern, fn in dates.RULES:
            said = pattern.sub(fn, said)
        if said == t:
            raise ValueError(f"{t!r} is not a date this reader knows (e.g. 2024-03-14, 3/14/2024, 14 March 2024)")
        return said
    raise ValueError(f"unknown interpret-as {kind!r}")


@dataclass(frozen=True)
class _Style:
    voice: str | None = None
    rate: float = 1.0
    volume_db: float = 0.0


class _Walker:
    def __init__(self) -> None:
        self.out: list[Segment | Break] = []
        self.text: list[str] = []
        self.plain: list[str] = []
        self.style = _Style()

    def flush(self) -> None:
        text, plain = "".join(self.text).strip(), "".join(self.plain).strip()
        if plain or text:
            s = self.style
            self.out.append(Segment(_tidy(text), _tidy(plain), s.voice, s.rate, s.volume_db))
        self.text, self.plain = [], []

    def say(self, text: str, plain: str | None = None) -> None:
        self.text.append(text)
        self.plain.append(text if plain is None else plain)

    def children(self, node: _Node) -> None:
        for child in node.children:
            if isinstance(child, str):
                self.say(child)
            else:
                self.element(child)

    def restyled(self, node: _Node, style: _Style) -> None:
        self.flush()
        outer, self.style = self.style, style
        self.children(node)
        self.flush()
        self.style = outer

    def element(self, node: _Node) -> None:
        tag, attrs = node.tag, node.attrs
        if tag not in ATTRIBUTES or tag == "speak":
            known = ", ".join(f"<{t}>" for t in ATTRIBUTES if t != "speak")
            raise _bad(node, None, f"not supported here; expected one of {known}")
        for name in attrs:
            if name not in ATTRIBUTES[tag]:
                raise _bad(node, name, f"unknown attribute; <{tag}> takes {', '.join(sorted(ATTRIBUTES[tag]))}")
        if tag in ("p", "s"):
            self.flush()
            self.children(node)
            self.flush()
        elif tag == "break":
            seconds = _duration(node, attrs["time"]) if "time" in attrs else None
            if seconds is None:
                strength = attrs.get("strength", "medium")
                if strength not in STRENGTHS:
                    raise _bad(node, "strength", f"{strength!r}; expected one of {', '.join(STRENGTHS)}")
                seconds = STRENGTHS[strength]
            self.flush()
            if seconds > 0:
                self.out.append(Break(seconds))
        elif tag == "prosody":
            style = self.style
            if "rate" in attrs:
                style = replace(style, rate=style.rate * _rate(node, attrs["rate"]))
            if "volume" in attrs:
                style = replace(style, volume_db=style.volume_db + _volume(node, attrs["volume"]))
            self.restyled(node, style)
        elif tag == "voice":
            name = attrs.get("name", "").strip()
            if not name:
                raise _bad(node, "name", "missing; <voice> needs the name of a voice")
            self.restyled(node, replace(self.style, voice=name))
        elif tag == "say-as":
            kind = attrs.get("interpret-as")
            if kind not in SAY_AS:
                raise _bad(node, "interpret-as", f"{kind!r}; expected one of {', '.join(SAY_AS)}")
            try:
                self.say(" " + say_as(kind, _text_of(node), attrs.get("format")) + " ")
            except ValueError as err:
                raise _bad(node, None, str(err)) from None
        elif tag == "sub":
            if "alias" not in attrs:
                raise _bad(node, "alias", "missing; <sub> needs the text to say")
            self.say(attrs["alias"])
        elif tag == "phoneme":
            if attrs.get("alphabet", "ipa") != "ipa":
                raise _bad(node, "alphabet", f"{attrs['alphabet']!r}; only 'ipa' is supported")
            ph = attrs.get("ph", "").strip()
            if not ph or "[[" in ph or "]]" in ph:
                raise _bad(node, "ph", "missing or empty; <phoneme> needs the IPA to say" if not ph else
                           "must not hold '[[' or ']]'")
            self.say(f" [[ {ph} ]] ", " " + _text_of(node) + " ")
        else:  # emphasis, mark
            self.children(node)


def _tidy(text: str) -> str:
    return re.sub(r"\s+([,.;:!?])", r"\1", re.sub(r"\s+", " ", text))


def _text_of(node: _Node) -> str:
    return "".join(c if isinstance(c, str) else _text_of(c) for c in node.children)


def parse_ssml(document: str) -> list[Segment | Break]:
    """The segments and breaks of an SSML document; RequestError (field ``input``) naming
    the element, attribute and line:column when it is not valid."""
    import defusedxml.sax
    from defusedxml import DefusedXmlException

    builder = _Builder()
    try:
        defusedxml.sax.parseString(document.encode("utf-8"), builder)
    except SAXParseException as err:
        raise RequestError("input", f"SSML line {err.getLineNumber()}:{err.getColumnNumber() + 1}: "
                                    f"{err.getMessage()}") from None
    except DefusedXmlException as err:
        raise RequestError("input", f"SSML: {type(err).__name__}: entities, DTDs and external references "
                                    "are not allowed") from None
    root = builder.root
    if root is None or root.tag != "speak":
        where = f"line {root.line}:{root.col}: <{root.tag}>" if root else "line 1:1"
        raise RequestError("input", f"SSML {where}: the document must be a <speak> element")
    for name in root.attrs:
        if name not in ATTRIBUTES["speak"]:
            raise _bad(root, name, f"unknown attribute; <speak> takes {', '.join(sorted(ATTRIBUTES['speak']))}")
    walker = _Walker()
    walker.children(root)
    walker.flush()
    return walker.out
