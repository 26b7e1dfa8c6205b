"""The five abstractions.

* ``SequenceBlock``: named tensors in, named tensors out, all at once. Override
  :meth:`SequenceBlock.process`.
* ``StreamableBlock``: produces chunks on demand from an upstream stream and/or the
  tensors a SequenceBlock produced. Override :meth:`StreamableBlock.generate` (a plain
  generator: nothing runs until the consumer pulls).
* ``SequenceBlockContainer``: a SequenceBlock made of SequenceBlocks.
* ``StreamableStack``: a StreamableBlock made of a chain of StreamableBlocks.
* ``StreamablePipeline``: a StreamableBlock holding one SequenceBlock and one
  StreamableBlock.

A chunk is a ``dict[str, ndarray]`` whose arrays carry time on their last axis.
Lifecycle (timing, cancellation, error context) lives in the public ``run``/``stream``
wrappers so a component only writes its one method.

Every block class is also a stack *component*: it may declare ``type_name``, a frozen
``Params`` dataclass, child ``slots``, and the class methods ``check(spec, env)`` (tensor
contracts, before weights load) and ``build(spec, children, ctx)``. The composites here
are registered as they are (``"type": "StreamableStack"`` is :class:`StreamableStack`).
Their ``check`` walks children through ``spec.component`` so this module needs nothing
from the layers above it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from voicestack.errors import SynthesisCancelled
from voicestack.tensors import Tensors

Stream = Iterator[Tensors]


@dataclass
class Alignment:
    """Where each input symbol of the current text piece starts, in the frames the
    aligning block emits (an Upsampler from its durations, an attention decoder from its
    attention). ``starts`` grows as symbols are reached; ``frames`` counts the frames
    emitted so far; ``complete`` is set once every symbol's start is known."""

    starts: list[int] = field(default_factory=list)
    frames: int = 0
    complete: bool = False

    def start(self, symbol: int) -> int | None:
        """The frame symbol ``symbol`` starts at (the piece's end past the last), or None if not known yet."""
        if symbol < len(self.starts):
            return self.starts[symbol]
        return self.frames if self.complete else None


@dataclass
class Request:
    """Per-request state shared by all blocks of one synthesis.

    ``params`` holds inference settings (noise_scale, length_scale, ...); ``piece``
    counts the text pieces (sentences/phrases) so randomness depends on the seed and
    the piece only, never on the chunk schedule.
    """

    params: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    piece: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)
    timings: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # per-block state that spans text pieces
    _clock: threading.local = field(default_factory=threading.local, repr=False)
    observer: Callable[[str, float], None] | None = None
    speaker: Any = None  # the chosen speaker (voicestack.assets.SpeakerDecl), read by speaker feeds
    # pacing, set by whoever pulls (the service's scheduler) between pulls: a streaming
    # decoder's next window covers at most this many times its first window; None: no limit
    window_limit: float | None = None
    part: str = ""  # while a piece is encoded in parts, which one ("#k"): it keys the part's noise
    word_timings: bool = True  # work out word and phoneme timings (False: the caller never reads them)
    # the current piece's symbol -> frame alignment, recorded by the aligning block (None: nobody asked)
    alignment: Alignment | None = None

    def rng(self, stream_name: str) -> np.random.Generator:
        """A generator keyed by (seed, piece, name): the same draws whatever the chunking."""
        key = [self.seed & 0xFFFFFFFF, self.piece] + list(stream_name.encode())
        return np.random.default_rng(key)

    def param(self, name: str) -> float:
        try:
            return float(self.params[name])
        except KeyError:
            raise KeyError(f"inference parameter '{name}' is not set for this request") from None

    def timed(self, block: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` and record the time it spent in ``block`` itself: the time of blocks
        it called on this thread (upstream pulls, children) is subtracted, so the figures
        per block add up to the request's compute time."""
        stack: list[float] = self._clock.__dict__.setdefault("stack", [])
        stack.append(0.0)
        start = time.perf_counter()
        try:
            return fn()
        finally:
            elapsed = time.perf_counter() - start
            children = stack.pop()
            if stack:
                stack[-1] += elapsed
            self.record(block, elapsed - children)

    def record(self, block: str, seconds: float) -> None:
        self.timings[block] = self.timings.get(block, 0.0) + seconds
        self.calls[block] = self.calls.get(block, 0) + 1
        if self.observer is not None:
            self.observer(block, seconds)

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise SynthesisCancelled("synthesis cancelled by the consumer")


@dataclass(frozen=True)
class EmptyParams:
    """For components that take no parameters."""


@dataclass(frozen=True)
class Slot:
    """A child position of a composite: the abstraction it takes, one or a list."""

    kind: str  # "sequence" | "streamable"
    many: bool = False
    required: bool = True


def check_child(spec: Any, env: Any) -> dict[str, Any]:
    """Check one child spec (``voicestack.components.base.check_block``, without importing it)."""
    result: dict[str, Any] = spec.component.check(spec, env.at(spec.path))
    return result


class Block:
    """Common base: a name (for metrics and errors) and validated parameters."""

    type_name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    Params: ClassVar[type] = EmptyParams
    slots: ClassVar[Mapping[str, Slot]] = {}

    @classmethod
    def check(cls, spec: Any, env: Any) -> dict[str, Any]:
        """Validate ``spec`` (a BlockSpec) against ``env`` (a CheckEnv); return produced/emitted tensors."""
        raise NotImplementedError(f"{cls.__name__}.check")

    @classmethod
    def build(cls, spec: Any, children: dict[str, Any], ctx: Any) -> Block:
        """Instantiate from a checked spec, its built children and a BuildContext."""
        raise NotImplementedError(f"{cls.__name__}.build")

    def __init__(self, name: str | None = None) -> None:
        self.name = name or self.type_name or type(self).__name__

    def describe(self) -> dict[str, Any]:
        """A JSON-able tree of this block, for `addon inspect`."""
        return {"type": self.type_name or type(self).__name__, "name": self.name}


class SequenceBlock(Block):
    """Named tensors in, named tensors out, all at once."""

    kind = "sequence"

    def process(self, tensors: Tensors, request: Request) -> Tensors:
        """Override: compute this block's outputs from ``tensors``."""
        raise NotImplementedError

    def run(self, tensors: Tensors, request: Request) -> Tensors:
        request.check_cancelled()
        out: Tensors = request.timed(self.name, lambda: self.process(tensors, request))
        return out


class StreamableBlock(Block):
    """Produces chunks lazily. ``source`` is the upstream stream (None for a source)."""

    kind = "streamable"
    # output steps per input step along time (a vocoder's hop length); an aligning block
    # (symbols -> frames) sets ``aligns``: word timings count frames from there on
    time_ratio: float = 1
    aligns: ClassVar[bool] = False

    def generate(self, source: Stream | None, tensors: Tensors, request: Request) -> Stream:
        """Override: yield chunks, pulling from ``source`` only as far as needed."""
        raise NotImplementedError

    def stream(self, source: Stream | None, tensors: Tensors, request: Request) -> Stream:
        inner = self.generate(source, tensors, request)
        done = object()
        while True:
            request.check_cancelled()
            chunk = request.timed(self.name, lambda: next(inner, done))
            if chunk is done:
                return
            yield chunk


class SequenceBlockContainer(SequenceBlock):
    """A SequenceBlock of SequenceBlocks run in order; each sees all earlier outputs."""

    type_name = "SequenceBlockContainer"
    slots = {"blocks": Slot("sequence", many=True)}

    @classmethod
    def check(cls, spec: Any, env: Any) -> dict[str, Any]:
        return check_sequence(list(spec.children["blocks"]), env)

    @classmethod
    def build(cls, spec: Any, children: dict[str, Any], ctx: Any) -> Block:
        return cls(children["blocks"], spec.name or cls.type_name)

    def __init__(self, blocks: Sequence[SequenceBlock], name: str | None = None) -> None:
        super().__init__(name)
        self.blocks = list(blocks)

    def process(self, tensors: Tensors, request: Request) -> Tensors:
        available = dict(tensors)
        produced: Tensors = {}
        for block in self.blocks:
            out = block.run(available, request)
            available.update(out)
            produced.update(out)
        return produced

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "blocks": [b.describe() for b in self.blocks]}


class ParallelSequenceBlockContainer(SequenceBlockContainer):
    """Runs children whose inputs are ready at the same time on a thread pool.

    Children are grouped into waves by their declared inputs: a child runs in the first
    wave after every tensor it needs exists. Output equals the sequential container's.
    """

    def __init__(
        self,
        blocks: Sequence[SequenceBlock],
        needs: Sequence[frozenset[str]],
        max_workers: int = 2,
        name: str | None = None,
    ) -> None:
        super().__init__(blocks, name)
        self.needs = list(needs)
        self.max_workers = max_workers
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="voicestack-enc")

    def process(self, tensors: Tensors, request: Request) -> Tensors:
        available = dict(tensors)
        produced: Tensors = {}
        pending = list(zip(self.blocks, self.needs, strict=True))
        while pending:
            ready = [(b, n) for b, n in pending if n <= available.keys()]
            if not ready:
                missing = sorted(set().union(*(n for _, n in pending)) - available.keys())
                raise RuntimeError(f"{self.name}: no encoder can run; missing tensors {missing}")
            snapshot = dict(available)
            results = list(self._pool.map(lambda block, seen=snapshot: block.run(seen, request), [b for b, _ in ready]))
            for out in results:
                available.update(out)
                produced.update(out)
            pending = [p for p in pending if p not in ready]
        return produced


class StreamableStack(StreamableBlock):
    """A chain of StreamableBlocks: each one's output stream is the next one's source."""

    type_name = "StreamableStack"
    slots = {"stack": Slot("streamable", many=True)}

    @classmethod
    def check(cls, spec: Any, env: Any) -> dict[str, Any]:
        stream = env.stream
        for child in spec.children["stack"]:
            stream = check_child(child, env.with_(stream=stream))
        return stream or {}

    @classmethod
    def build(cls, spec: Any, children: dict[str, Any], ctx: Any) -> Block:
        return cls(children["stack"], spec.name or cls.type_name)

    def __init__(self, blocks: Sequence[StreamableBlock], name: str | None = None) -> None:
        super().__init__(name)
        self.blocks = list(blocks)

    def generate(self, source: Stream | None, tensors: Tensors, request: Request) -> Stream:
        stream = source
        for block in self.blocks:
            stream = block.stream(stream, tensors, request)
        if stream is not None:
            yield from stream

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "stack": [b.describe() for b in self.blocks]}


class StreamablePipeline(StreamableBlock):
    """Exactly one SequenceBlock and one StreamableBlock: the whole model."""

    type_name = "StreamablePipeline"
    slots = {"sequence_block": Slot("sequence"), "streamable_block": Slot("streamable")}

    @classmethod
    def check(cls, spec: Any, env: Any) -> dict[str, Any]:
        produced = check_child(spec.children["sequence_block"], env.with_(stream=None))
        return check_child(spec.children["streamable_block"], env.with_(tensors={**env.tensors, **produced}))

    @classmethod
    def build(cls, spec: Any, children: dict[str, Any], ctx: Any) -> Block:
        return cls(children["sequence_block"], children["streamable_block"], spec.name or cls.type_name)

    def __init__(self, sequence_block: SequenceBlock, streamable_block: StreamableBlock, name: str | None = None):
        super().__init__(name)
        self.sequence_block = sequence_block
        self.streamable_block = streamable_block

    def generate(self, source: Stream | None, tensors: Tensors, request: Request) -> Stream:
        encoded = {**tensors, **self.sequence_block.run(dict(tensors), request)}
        yield from self.streamable_block.stream(source, encoded, request)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "sequence_block": self.sequence_block.describe(),
            "streamable_block": self.streamable_block.describe(),
        }


def frame_ratio(block: StreamableBlock) -> tuple[bool, float]:
    """(whether ``block`` holds an aligning block, output samples per frame of the last
    aligner in it, or per input step if it holds none): how word timings turn frames into
    samples."""
    if isinstance(block, StreamablePipeline):
        return frame_ratio(block.streamable_block)
    if isinstance(block, StreamableStack):
        aligned, ratio = False, 1.0
        for child in block.blocks:
            found, r = frame_ratio(child)
            aligned, ratio = (True, r) if found else (aligned, ratio * r)
        return aligned, ratio
    return (True, 1.0) if block.aligns else (False, float(block.time_ratio))


def check_sequence(children: Sequence[Any], env: Any) -> dict[str, Any]:
    """Check SequenceBlock specs run in order, each seeing the tensors of those before it."""
    available = dict(env.tensors)
    produced: dict[str, Any] = {}
    for child in children:
        out = check_child(child, env.with_(tensors=available, stream=None))
        available.update(out)
        produced.update(out)
    return produced


def concat_chunks(chunks: Sequence[Mapping[str, np.ndarray]], name: str) -> np.ndarray:
    """Join the ``name`` tensor of several chunks along time (the last axis)."""
    return np.concatenate([c[name] for c in chunks], axis=-1)
