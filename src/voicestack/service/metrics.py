"""Prometheus metrics, written in the text exposition format (no client library needed).

Thread-safe: the synthesis workers observe block latencies while the event loop
renders ``/metrics``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BLOCK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(label_names)
        self._lock = threading.Lock()

    def _labels(self, labels: Labels, extra: Iterable[tuple[str, str]] = ()) -> str:
        pairs = list(zip(self.label_names, labels, strict=True)) + list(extra)
        if not pairs:
            return ""
        return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"

    def render(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}", *self._samples()]

    def _samples(self) -> list[str]:
        raise NotImplementedError


class _Values(_Metric):
    """A float per label set, rendered with ``suffix`` after the name."""

    suffix = ""

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, label_names)
        self._values: dict[Labels, float] = {}

    def _add(self, amount: float, labels: Labels) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        with self._lock:
            return self._values.get(labels, 0.0)

    def _samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        if not items and not self.label_names:
            items = [((), 0.0)]
        return [f"{self.name}{self.suffix}{self._labels(k)} {_fmt(v)}" for k, v in items]


class Counter(_Values):
    kind = "counter"
    suffix = "_total"

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self._add(amount, labels)


class Gauge(_Values):
    kind = "gauge"

    def set(self, value: float, *labels: str) -> None:
        with self._lock:
            self._values[labels] = float(value)

    def add(self, amount: float, *labels: str) -> None:
        self._add(amount, labels)


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = (),
                 buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        super().__init__(name, help_text, label_names)
        self.buckets = tuple(sorted(buckets)) + (math.inf,)
        self._series: dict[Labels, list[float]] = {}  # bucket counts..., sum, count

    def observe(self, value: float, *labels: str) -> None:
        with self._lock:
            series = self._series.get(labels)
            if series is None:
                series = self._series[labels] = [0.0] * (len(self.buckets) + 2)
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    series[i] += 1
                    break
            series[-2] += value
            series[-1] += 1

    def count(self, *labels: str) -> int:
        with self._lock:
            series = self._series.get(labels)
            return int(series[-1]) if series else 0

    def total_count(self) -> int:
        with self._lock:
            return int(sum(s[-1] for s in self._series.values()))

    def _samples(self) -> list[str]:
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._series.items())
        out: list[str] = []
        for labels, series in items:
            cumulative = 0.0
            for bound, n in zip(self.buckets, series, strict=False):
                cumulative += n
                out.append(f"{self.name}_bucket{self._labels(labels, [('le', _fmt(bound))])} {_fmt(cumulative)}")
            out.append(f"{self.name}_sum{self._labels(labels)} {_fmt(series[-2])}")
            out.append(f"{self.name}_count{self._labels(labels)} {_fmt(series[-1])}")
        return out


class ServiceMetrics:
    """Every metric the service exports, by attribute."""

    def __init__(self) -> None:
        self.first_audio = Histogram(
            "voicestack_time_to_first_audio_seconds",
            "From request arrival to the first audio chunk ready to send.", ["voice"])
        self.rtf = Histogram(
            "voicestack_real_time_factor",
            "Per stream: synthesis wall time / audio duration (below 1 is faster than real time).",
            ["voice"], RTF_BUCKETS)
        self.block = Histogram(
            "voicestack_block_seconds",
            "Time inside one call of a block (exclusive of the blocks it pulls from).",
            ["voice", "block"], BLOCK_BUCKETS)
        self.requests = Counter("voicestack_requests", "Requests answered, by endpoint and HTTP status.",
                                ["endpoint", "status"])
        self.errors = Counter("voicestack_errors", "Errors by kind (bad_request, overloaded, voice_load, "
                              "synthesis, internal).", ["kind"])
        self.utterance_ends = Counter(
            "voicestack_utterance_ends",
            "How autoregressive decoders ended each sentence: stop_token is normal; attention_stalled, "
            "attention_backwards, attention_skipped and max_length are guarded failures.",
            ["voice", "block", "status"])
        self.cancelled = Counter("voicestack_streams_cancelled", "Streams stopped because the client went away.")
        self.audio_seconds = Counter("voicestack_audio_seconds", "Audio produced, in seconds.", ["voice"])
        self.chunks = Counter("voicestack_chunks", "Audio chunks produced.", ["voice"])
        self.active_streams = Gauge("voicestack_active_streams", "Streams holding a synthesis slot.")
        self.queue_depth = Gauge("voicestack_queue_depth", "Streams waiting for a synthesis slot.")
        self.pending_pulls = Gauge("voicestack_pending_chunks",
                                   "Chunk computations waiting for a worker thread.")
        self.voices_loaded = Gauge("voicestack_voices_loaded", "Voices held in memory.")
        self.voice_bytes = Gauge("voicestack_voice_memory_bytes",
                                 "Bytes of distinct network files held by loaded voices.")
        self.unloads = Counter("voicestack_voice_unloads", "Voices unloaded to stay within the memory budget.")
        self.loads = Counter("voicestack_voice_loads", "Voices loaded.", ["voice"])

    def all(self) -> list[_Metric]:
        return [m for m in vars(self).values() if isinstance(m, _Metric)]

    def render(self) -> str:
        lines: list[str] = []
        for metric in self.all():
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"
