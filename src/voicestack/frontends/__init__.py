"""Front-ends: a component family (text -> pieces of named tensors). Importing this
package registers the built-ins (an explicit list)."""

from voicestack.frontends import espeak, kokoro, simple
from voicestack.frontends.base import (
    FRONTENDS,
    FrontEnd,
    FrontEndPart,
    FrontEndSpec,
    IdMap,
    Normalizer,
    Phonemes,
    Phonemizer,
    Piece,
    build_frontend,
    choose_cuts,
    frontend_contracts,
    id_piece,
    parse_frontend,
    register_frontend,
    separator_cuts,
)

__all__ = ["FRONTENDS", "FrontEnd", "FrontEndPart", "FrontEndSpec", "IdMap", "Normalizer", "Phonemes", "Phonemizer",
           "Piece", "build_frontend", "choose_cuts", "espeak", "frontend_contracts", "id_piece", "kokoro", "parse_frontend",
           "register_frontend", "separator_cuts", "simple"]
