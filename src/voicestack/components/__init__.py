"""Built-in components. Importing this package registers them (an explicit list)."""

from voicestack.components import attention  # noqa: F401,I001  (AttentionDecoder; its own line)
from voicestack.components import containers, decoders, effects, piece_decoder, probes, static, upsampler, vocoders

__all__ = ["containers", "decoders", "effects", "piece_decoder", "probes", "static", "upsampler", "vocoders"]
