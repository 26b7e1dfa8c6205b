"""The service core: voices (pool), scheduling and the synthesis lifecycle, usable by
any transport. It imports no HTTP or WebSocket framework; transports
(:mod:`voicestack.service.app` for HTTP, :mod:`voicestack.service.ws`) are thin
adapters over :class:`Service`.
"""

from __future__ import annotations

from voicestack.service.core.config import ConfigError, ServiceConfig, VoiceOptions
from voicestack.service.core.errors import ClientGone, ServiceError, bad
from voicestack.service.core.metrics import ServiceMetrics
from voicestack.service.core.pool import Lease, VoiceCatalog, VoicePool
from voicestack.service.core.requests import SpeechRequest, StreamStart, SynthesisParams, parse_json
from voicestack.service.core.scheduler import Budget, ChunkStream, Overloaded, Scheduler
from voicestack.service.core.sentences import SentenceBuffer
from voicestack.service.core.service import OPENAI_FORMATS, STREAMING_FORMATS, Service, Synthesis, until_gone

__all__ = ["OPENAI_FORMATS", "STREAMING_FORMATS", "Budget", "ChunkStream", "ClientGone", "ConfigError", "Lease",
           "Overloaded", "Scheduler", "SentenceBuffer", "Service", "ServiceConfig", "ServiceError", "ServiceMetrics",
           "SpeechRequest", "StreamStart", "SynthesisParams", "Synthesis", "VoiceCatalog", "VoiceOptions", "VoicePool",
           "bad", "parse_json", "until_gone"]
