"""Every metric the service exports, through prometheus-client, in a registry per
service (so several services in one process, as in tests, never mix their counts)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BLOCK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServiceMetrics:
    """The metrics, by attribute; :meth:`render` is the ``/metrics`` body."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.first_audio = Histogram(
            "voicestack_time_to_first_audio_seconds",
            "From request arrival to the first audio chunk ready to send.", ["voice"],
            buckets=LATENCY_BUCKETS, registry=r)
        self.rtf = Histogram(
            "voicestack_real_time_factor",
            "Per stream: synthesis wall time / audio duration (below 1 is faster than real time).",
            ["voice"], buckets=RTF_BUCKETS, registry=r)
        self.block = Histogram(
            "voicestack_block_seconds",
            "Time inside one call of a block (exclusive of the blocks it pulls from).",
            ["voice", "block"], buckets=BLOCK_BUCKETS, registry=r)
        self.underrun = Histogram(
            "voicestack_underrun_seconds",
            "Per chunk handed to a client after its first: how late it was for real-time playback.",
            ["voice"], buckets=LATENCY_BUCKETS, registry=r)
        self.requests = Counter("voicestack_requests", "Requests answered, by endpoint and HTTP status.",
                                ["endpoint", "status"], registry=r)
        self.errors = Counter("voicestack_errors", "Errors by kind (bad_request, overloaded, voice_load, "
                              "synthesis, budget, stalled, internal).", ["kind"], registry=r)
        self.utterance_ends = Counter(
            "voicestack_utterance_ends",
            "How autoregressive decoders ended each sentence: stop_token is normal; attention_stalled, "
            "attention_backwards, attention_skipped and max_length are guarded failures.",
            ["voice", "block", "status"], registry=r)
        self.voice_events = Counter(
            "voicestack_voice_events",
            "What a voice reported while speaking: fallback (its declared fallback finished an utterance "
            "it failed inside), unreadable_text (text in a script it cannot read was skipped).",
            ["voice", "event"], registry=r)
        self.cancelled = Counter("voicestack_streams_cancelled", "Streams stopped because the client went away.",
                                 registry=r)
        self.audio_seconds = Counter("voicestack_audio_seconds", "Audio produced, in seconds.", ["voice"],
                                     registry=r)
        self.chunks = Counter("voicestack_chunks", "Audio chunks produced.", ["voice"], registry=r)
        self.active_streams = Gauge("voicestack_active_streams", "Streams holding a synthesis slot.", registry=r)
        self.queue_depth = Gauge("voicestack_queue_depth", "Streams waiting for a synthesis slot.", registry=r)
        self.pending_pulls = Gauge("voicestack_pending_chunks",
                                   "Streams ready for their next step, waiting for a worker thread.", registry=r)
        self.open_streams = Gauge("voicestack_open_streams",
                                  "Synthesis generators not yet closed (0 when idle: nothing leaked).", registry=r)
        self.leases = Gauge("voicestack_voice_leases", "Voices pinned by running streams or open connections.",
                            registry=r)
        self.voices_loaded = Gauge("voicestack_voices_loaded", "Voices held in memory.", registry=r)
        self.voice_bytes = Gauge("voicestack_voice_memory_bytes",
                                 "Bytes of distinct network files held by loaded voices.", registry=r)
        self.unloads = Counter("voicestack_voice_unloads", "Voices unloaded to stay within the memory budget.",
                               registry=r)
        self.loads = Counter("voicestack_voice_loads", "Voices loaded.", ["voice"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
