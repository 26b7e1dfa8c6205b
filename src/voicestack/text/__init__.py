"""Text front-end: normalisation, sentence splitting and phonemisation (espeak-ng)."""

from voicestack.text.frontend import FrontEndError, Sentence, TextFrontEnd, phrase_breaks
from voicestack.text.normalize import normalize, strip_invisible
from voicestack.text.scripts import Unreadable, drop_unreadable
from voicestack.text.sentences import SentenceSplitter, split_sentences

__all__ = [
    "FrontEndError", "Sentence", "SentenceSplitter", "TextFrontEnd", "Unreadable", "drop_unreadable",
    "normalize", "phrase_breaks", "split_sentences", "strip_invisible",
]
