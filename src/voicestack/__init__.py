"""voicestack: text-to-speech models of any architecture, streamed through one framework.

>>> import voicestack
>>> voice = voicestack.load_voice("joe")
>>> for chunk in voice.stream("Hello there."):
...     chunk.audio, chunk.sample_rate
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from voicestack.voice import AudioChunk, Voice

__all__ = ["AudioChunk", "Voice", "load_voice", "__version__"]
__version__ = "0.1.0"


def load_voice(name: str | os.PathLike[str], profile: str | Mapping[str, Any] | None = None) -> Voice:
    """Load a voice by name (built-in or on the addon search path) or by addon path.

    ``profile`` picks how its networks run: a name (``default``, the addon's own) or
    an object of profile fields.
    """
    from voicestack.catalog import resolve

    return Voice.load(resolve(name), profile=profile)
