"""Built-in components. Importing this package registers them (an explicit list)."""

from voicestack.components import attention  # noqa: F401,I001  (AttentionDecoder; its own line)
from voicestack.components import containers, decoders, effects, piece_decoder, probes, static, static_encoders
from voicestack.components import upsampler, vocoders

__all__ = ["containers", "decoders", "effects", "piece_decoder", "probes", "static", "static_encoders", "upsampler",
           "vocoders"]
