"""An attention decoder that steps a Tacotron-style network and guards its attention.

``AttentionDecoder`` runs a single-step network (previous frame(s) + explicit state ->
new frame(s) + stop probability + attention weights over the input symbols), hands the
frames downstream in chunks as they come, and watches the attention for the known
failures of attention models. Every utterance ends with one event in
``request.events``::

    {"block": "AttentionDecoder", "event": "end", "status": STATUS, "frames": ...,
     "steps": ..., "symbols": ..., "position": ..., "detail": "..."}

STATUS is ``stop_token`` (a clean end) or one of the failures:

* ``attention_stalled``: the attention peak made no forward progress for ``stall_steps``
  steps before reaching the last ``end_margin`` symbols (a drone or a loop on one sound);
* ``attention_backwards``: the peak fell more than ``back_tolerance`` symbols behind the
  furthest symbol reached, for ``patience`` steps in a row (repeated words);
* ``attention_skipped``: the peak ran more than ``max_jump`` symbols ahead of the furthest
  symbol reached, for ``patience`` steps in a row; or the stop token fired before the
  peak reached the last ``end_margin`` symbols; or (``max_hole`` > 0) the utterance ended
  with a run of more than ``max_hole`` symbols that got less than ``hole_mass`` attention
  in total (skipped words);
* ``max_length``: ``max_frames_per_symbol`` frames per input symbol were made without a
  stop (never reaches the end).

On a failure the utterance ends cleanly: the frames made so far are handed on (minus the
``patience`` steps that showed a backwards or forward jump, which are held back for that
reason) and the stream stops; ``on_failure: "raise"`` raises :class:`AttentionFailure`
instead. With ``hold: "word"`` the decoder holds back every frame of the word the
attention is on and releases a word's frames only once the attention has moved past
it, so a failure drops exactly the word it happened in: the end event then says where
to resume (``resume``, the symbol index where that word starts), and a voice with a
declared ``fallback`` speaks the rest from there (see ``voicestack.voice``). ``request.check_cancelled()`` runs every step, so nothing loops forever. The
frames never depend on ``chunk_frames``: chunking only groups them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voicestack.blocks import Request, Stream
from voicestack.components.base import BuildContext, CheckEnv
from voicestack.components.decoders import AutoregressiveDecoder, AutoregressiveParams
from voicestack.errors import VoicestackError
from voicestack.components.base import register
from voicestack.spec import BlockSpec
from voicestack.tensors import TensorDecl, Tensors

STATUSES = ("stop_token", "attention_stalled", "attention_backwards", "attention_skipped", "max_length")
FAILURES = STATUSES[1:]


class AttentionFailure(VoicestackError):
    """An attention guard fired and the block is configured with ``on_failure: "raise"``."""

    def __init__(self, block: str, status: str, detail: str) -> None:
        self.status = status
        super().__init__(f"{block}: {status}: {detail}")


@dataclass(frozen=True)
class AttentionParams(AutoregressiveParams):
    network: str = "decoder_step"
    weights_output: str = "weights"  # network output: attention weights over symbols [1, T]
    initial: dict[str, float] = field(default_factory=dict)  # carried input -> fill value at step 0 (else 0)
    max_frames_per_symbol: float = 10.0
    first_chunk_frames: int = 0  # frames in the first chunk (0: chunk_frames); small = early first audio
    stall_steps: int = 20
    back_tolerance: int = 4
    max_jump: int = 10
    patience: int = 2
    end_margin: int = 4
    max_hole: int = 0  # 0 disables the coverage-hole check
    hole_mass: float = 0.02
    on_failure: str = "end"  # "end" | "raise"
    hold: str = "steps"  # "steps": the last `patience` steps; "word": the word the attention is on

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("stall_steps", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("back_tolerance", "max_jump", "end_margin", "max_hole", "first_chunk_frames"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_frames_per_symbol <= 0:
            raise ValueError(f"max_frames_per_symbol must be > 0, got {self.max_frames_per_symbol}")
        if self.on_failure not in ("end", "raise"):
            raise ValueError(f"on_failure must be 'end' or 'raise', got {self.on_failure!r}")
        if self.hold not in ("steps", "word"):
            raise ValueError(f"hold must be 'steps' or 'word', got {self.hold!r}")


class AttentionGuard:
    """Watches the attention peak step by step; says which failure (if any) happened."""

    def __init__(self, p: AttentionParams, symbols: int) -> None:
        self.p = p
        self.symbols = symbols
        self.furthest = 0
        self.since_progress = 0
        self.back = 0
        self.ahead = 0
        self.coverage = np.zeros(symbols, np.float64)
        self.detail = ""

    @property
    def near_end(self) -> bool:
        return self.furthest >= self.symbols - 1 - self.p.end_margin

    @property
    def suspect_steps(self) -> int:
        """Recent steps that count towards a backwards/forward failure."""
        return max(self.back, self.ahead)

    def step(self, weights: np.ndarray) -> str | None:
        p = self.p
        w = np.asarray(weights, np.float64).reshape(-1)[: self.symbols]
        self.coverage[: w.size] += w
        peak = int(np.argmax(w))
        self.back = self.back + 1 if peak < self.furthest - p.back_tolerance else 0
        self.ahead = self.ahead + 1 if peak > self.furthest + p.max_jump else 0
        if self.back >= p.patience:
            self.detail = f"attention peak at symbol {peak}, behind symbol {self.furthest} already reached"
            return "attention_backwards"
        if self.ahead >= p.patience:
            self.detail = f"attention peak jumped from symbol {self.furthest} to {peak}"
            return "attention_skipped"
        if self.ahead == 0 and peak > self.furthest:
            self.furthest = peak
            self.since_progress = 0
        else:
            self.since_progress += 1
        if self.since_progress >= p.stall_steps and not self.near_end:
            self.detail = f"no progress past symbol {self.furthest} of {self.symbols} for {self.since_progress} steps"
            return "attention_stalled"
        return None

    def at_stop(self) -> str:
        """The status when the stop token fires: a clean stop, or a premature/holey one."""
        p = self.p
        if not self.near_end:
            self.detail = f"stop token at symbol {self.furthest} of {self.symbols}"
            return "attention_skipped"
        if p.max_hole > 0:
            run = longest = 0
            for mass in self.coverage:
                run = run + 1 if mass < p.hole_mass else 0
                longest = max(longest, run)
            if longest > p.max_hole:
                self.detail = f"{longest} consecutive symbols got less than {p.hole_mass} attention"
                return "attention_skipped"
        return "stop_token"


@register
class AttentionDecoder(AutoregressiveDecoder):
    """Steps an attention network frame group by frame group, with attention guards.

    The network makes ``R`` frames a step (its frame output is ``[1, C, R]`` or
    ``[1, C]``); its ``weights_output`` gives the attention over the input symbols.
    State tensors named in ``state`` are carried from step to step (zeros at first, or
    the value in ``initial``); every other input comes from the sequence tensors.
    """

    type_name = "AttentionDecoder"
    Params = AttentionParams
    frontend: Any = None  # set by build: it says where the words of a piece start

    def word_starts(self, tensors: Tensors, symbols: int) -> list[int]:
        """Symbol indices where a word starts (0 first), from the front-end's cut points."""
        ids_name = getattr(self.frontend, "ids_tensor", "input")
        if self.frontend is None or ids_name not in tensors:
            return [0]
        ids = [int(v) for v in np.asarray(tensors[ids_name]).reshape(-1)[:symbols]]
        return [0, *sorted(c for c, _ in self.frontend.cut_points(ids) if 0 < c < symbols)]

    aligns = True

    def generate(self, source: Stream | None, tensors: Tensors, request: Request) -> Stream:
        p: AttentionParams = self.params  # type: ignore[assignment]
        symbols = int(np.asarray(tensors[p.lengths]).reshape(-1)[0])
        frame_limit = max(p.min_frames, int(np.ceil(symbols * p.max_frames_per_symbol)))
        state = self.initial_state(tensors, p.initial)
        guard = AttentionGuard(p, symbols)
        held: deque[np.ndarray] = deque()  # frames not yet released (see `hold`)
        ready: list[np.ndarray] = []
        n_ready = frames = step = 0
        words = self.word_starts(tensors, symbols) if p.hold == "word" else [0]
        resume = 0  # where the frames not yet released start, in symbols (hold "word")
        target = p.first_chunk_frames or p.chunk_frames
        status = "max_length"
        def release() -> None:
            nonlocal n_ready
            while held:
                part = held.popleft()
                ready.append(part)
                n_ready += part.shape[-1]

        while frames < frame_limit:
            request.check_cancelled()
            out = self.call({**tensors, **state}, request, f"{self.name}/{step}")
            step += 1
            frame = out[p.frame_output]
            frame = frame if frame.ndim == 3 else frame[..., None]
            frames += frame.shape[-1]
            state[p.frame_input] = out[p.frame_output]
            for o, i in p.state.items():
                state[i] = out[o]
            failure = guard.step(out[p.weights_output])
            align = request.alignment
            if align is not None:  # a symbol starts at the step the attention peak first reaches it
                while len(align.starts) <= min(guard.furthest, symbols - 1):
                    align.starts.append(frames - frame.shape[-1])
                align.frames = frames
            if failure is not None:
                status = failure
                if status in ("attention_backwards", "attention_skipped") or p.hold == "word":
                    # the suspect steps (hold "steps") or the failed word (hold "word") are dropped
                    held.clear()
                    frame = frame[..., :0]
            elif p.hold == "word":
                current = max(w for w in words if w <= guard.furthest)
                if current > resume:  # the attention moved past a word: what was held is safe now
                    release()
                    resume = current
            held.append(frame)
            stopped = failure is None and p.stop_output is not None and frames >= p.min_frames and \
                float(np.asarray(out[p.stop_output]).reshape(-1)[0]) >= p.stop_threshold
            if stopped:
                status = guard.at_stop()
            done = failure is not None or stopped
            if p.hold == "word":
                if status == "stop_token" and stopped:
                    release()
                elif stopped:
                    held.clear()  # a premature stop: the word it stopped in is said again
            else:
                while held and (done or len(held) > p.patience):
                    part = held.popleft()
                    ready.append(part)
                    n_ready += part.shape[-1]
            if n_ready >= target or (done and n_ready):
                yield {p.output: np.concatenate(ready, axis=-1)}
                ready, n_ready, target = [], 0, p.chunk_frames
            if done:
                break
        else:
            guard.detail = f"{frames} frames for {symbols} symbols without a stop"
        if status == "max_length" and p.hold == "word":
            held.clear()  # a drone or a loop in the word it ran out in
        if status == "max_length":
            ready.extend(held)
            if ready:
                joined = np.concatenate(ready, axis=-1)
                if joined.shape[-1]:
                    yield {p.output: joined}
        if request.alignment is not None:
            request.alignment.complete = True
        request.events.append({"block": self.name, "event": "end", "status": status, "frames": frames,
                               "steps": step, "symbols": symbols, "position": guard.furthest,
                               "detail": guard.detail, **({"resume": resume} if p.hold == "word" else {})})
        if status in FAILURES and p.on_failure == "raise":
            raise AttentionFailure(self.name, status, guard.detail)

    @classmethod
    def build(cls, spec: BlockSpec, children: dict[str, Any], ctx: BuildContext) -> AttentionDecoder:
        block = super().build(spec, children, ctx)
        assert isinstance(block, AttentionDecoder)
        block.frontend = ctx.frontend
        return block

    @classmethod
    def check(cls, spec: BlockSpec, env: CheckEnv) -> dict[str, TensorDecl]:
        p = spec.params
        emitted = super().check(spec, env)
        net = env.manifest.networks.get(p.network)
        if net is None:
            return emitted
        if p.weights_output not in net.outputs:
            env.error(f"network '{net.name}' has no output '{p.weights_output}' (the attention weights); "
                      f"outputs: {', '.join(net.outputs)}", "weights_output")
        carried = set(p.state.values()) | {p.frame_input}
        for name in p.initial:
            if name not in carried:
                env.error(f"'{name}' is not a carried input (frame_input or a state input): {', '.join(sorted(carried))}",
                          "initial")
        return emitted

    def describe(self) -> dict[str, Any]:
        p: AttentionParams = self.params  # type: ignore[assignment]
        return {**super().describe(), "network": self.call.net.name,
                "guards": {"stall_steps": p.stall_steps, "back_tolerance": p.back_tolerance, "max_jump": p.max_jump,
                           "patience": p.patience, "max_frames_per_symbol": p.max_frames_per_symbol,
                           "stop_threshold": p.stop_threshold}}
