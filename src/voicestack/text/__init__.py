"""Text front-end: normalisation, sentence splitting and phonemisation (espeak-ng)."""

from voicestack.text.frontend import FrontEndError, Sentence, TextFrontEnd, phrase_breaks
from voicestack.text.normalize import normalize

__all__ = ["FrontEndError", "Sentence", "TextFrontEnd", "normalize", "phrase_breaks"]
