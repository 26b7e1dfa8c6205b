"""What the Wyoming transport says about the voices (``describe`` -> ``info``) and how a
Wyoming ``voice`` selection (name + speaker, or a language) becomes
:class:`~voicestack.service.core.SynthesisParams`.

Languages are advertised the way Wyoming servers for Piper do (``en_US``); a requested
language matches a voice whatever its case or separator (``en-us``, ``en_US``); a bare
language (``en``) matches any of its regions, and a voice tagged with a bare language
serves every region of it. The default voice wins a tie.
"""

from __future__ import annotations

import asyncio
from typing import Any

from wyoming.info import Attribution, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker
from wyoming.tts import SynthesizeVoice

import voicestack
from voicestack.service.core import Service, ServiceError, SynthesisParams, bad

ATTRIBUTION = Attribution(name="voicestack", url="")  # Wyoming asks for a link; there is none to give


def wyoming_language(tag: str) -> str:
    """``en-us`` -> ``en_US`` (language lower case, region upper case)."""
    parts = tag.replace("-", "_").split("_")
    return "_".join([parts[0].lower(), *(p.upper() if len(p) == 2 else p for p in parts[1:])])


def _key(tag: str) -> str:
    return tag.replace("-", "_").lower()


def matches(requested: str, tag: str | None) -> bool:
    if not tag:
        return False
    want, have = _key(requested), _key(tag)
    return have == want or have.split("_")[0] == want or have == want.split("_")[0]


async def voice_infos(service: Service) -> list[dict[str, Any]]:
    """Every readable voice's manifest facts (read off the event loop)."""
    names = service.catalog.names()
    infos = await asyncio.get_running_loop().run_in_executor(None, lambda: [service.catalog.info(n) for n in names])
    return [i for i in infos if i.get("available", True)]


async def describe(service: Service) -> Info:
    voices = []
    for info in await voice_infos(service):
        speakers = [TtsVoiceSpeaker(name=s) for s in info.get("speakers") or []]
        voices.append(TtsVoice(
            name=info["id"], attribution=ATTRIBUTION, installed=True,
            description=info.get("description") or info.get("name"), version=info.get("version"),
            languages=[wyoming_language(info["language"])] if info.get("language") else [],
            speakers=speakers or None))
    program = TtsProgram(name="voicestack", attribution=ATTRIBUTION, installed=True,
                         description="voicestack text to speech", version=voicestack.__version__, voices=voices,
                         supports_synthesize_streaming=True)
    return Info(tts=[program])


async def select(service: Service, data: dict[str, Any], where: str) -> SynthesisParams:
    """The ``voice`` object of a synthesize (or synthesize-start) event -> parameters."""
    raw = data.get("voice")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise bad("voice", f"{where}.voice: expected an object with 'name' (and 'speaker') or 'language'")
    for key in ("name", "speaker", "language"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 256):
            raise bad("voice", f"{where}.voice.{key}: expected a non-empty string of at most 256 characters")
    choice = SynthesizeVoice.from_dict(raw) or SynthesizeVoice()
    if raw.get("speaker") is not None and choice.name is None:
        raise bad("voice", f"{where}.voice.speaker: a speaker needs the voice's 'name'")
    if choice.name is not None:
        try:
            service.check_voice(choice.name)
        except ServiceError as err:
            raise bad("voice", f"{where}.voice.name: {err.message.removeprefix('voice: ')}") from None
        return SynthesisParams(choice.name, speaker=choice.speaker)
    default = service.config.default_voice
    if choice.language is None:
        return SynthesisParams(default)
    infos = await voice_infos(service)
    found = sorted((i["id"] != default, i["id"]) for i in infos if matches(choice.language, i.get("language")))
    if not found:
        known = sorted({wyoming_language(i["language"]) for i in infos if i.get("language")})
        raise bad("voice", f"{where}.voice.language: no voice speaks {choice.language!r}; languages: "
                           f"{', '.join(known) or '(none)'}")
    return SynthesisParams(found[0][1])
