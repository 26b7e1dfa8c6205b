"""Encoding one piece in parts, the same way under every profile.

A piece longer than the voice's encoder limit (``FrontEnd.encode_limit``: the voice's,
not the profile's) is cut where the front-end allows -- a phrase break near an even
share, else a word boundary -- each part is encoded on its own and the parts' outputs
are joined along the id axis before the upsampler. The decoder then runs across the
join with its usual context: no pause and no sentence-final tone where the text has
none. Static-shape encoders do the same cuts and only pad each part to a bucket, so a
static profile says what the default profile says.

Noise drawn for a part is keyed by the part (``Request.part``), so the draws are the
same under every profile, and a piece that needs no cut draws what it always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from voicestack.addon import NetworkDecl
from voicestack.blocks import Request, SequenceBlock
from voicestack.frontends.base import choose_cuts
from voicestack.tensors import Tensors


def stats(request: Request) -> dict[str, int]:
    """Counters of computed work in this request: ids/frames, real and padding, parts."""
    return request.state.setdefault("static", {"ids": 0, "ids_padding": 0, "frames": 0, "frames_padding": 0,
                                               "encoder_calls": 0, "decoder_calls": 0, "splits": 0})


def split_points(ids: np.ndarray, limit: int, frontend: Any) -> tuple[list[tuple[int, int]], int]:
    """Cut ``ids`` into [start, end) parts of at most ``limit`` ids where the front-end
    allows (after a phrase break, else between words); see ``frontends.choose_cuts``."""
    cuts = frontend.cut_points([int(v) for v in ids]) if frontend is not None else []
    return choose_cuts(len(ids), cuts, limit)


def id_axis(net: NetworkDecl, ids_name: str) -> str | None:
    """The symbolic name of a network's id length (the last dim of its id input)."""
    inp = net.inputs.get(ids_name)
    if inp is None or inp.feed is not None or not inp.decl.shape or not isinstance(inp.decl.shape[-1], str):
        return None
    return inp.decl.shape[-1]


class PartsMixin:
    """Encodes a piece in parts of at most ``limit`` ids (see the module docstring).

    Subclasses call :meth:`setup_parts` when built and may override :meth:`encode_part`
    (the static encoders pad to a bucket there)."""

    blocks: list[SequenceBlock]
    name: str
    limit: int | None = None
    frontend: Any = None
    ids_name: str = "input"
    lengths_name: str | None = "input_lengths"  # None: the networks read every id given
    joins: dict[str, list[int]]  # set by setup_parts

    def setup_parts(self, nets: Sequence[NetworkDecl], limit: int | None, frontend: Any) -> None:
        self.limit, self.frontend = limit, frontend  # the front-end owns where its ids may be cut
        if frontend is not None:
            self.ids_name, self.lengths_name = frontend.ids_tensor, frontend.lengths_tensor
        self.joins = {}  # output tensor -> its axes along the ids
        for net in nets:
            dim = id_axis(net, self.ids_name)
            for oname, decl in net.outputs.items():
                self.joins[oname] = [i for i, d in enumerate(decl.shape) if dim is not None and d == dim]

    def run_children(self, tensors: Tensors, request: Request) -> Tensors:
        raise NotImplementedError

    def encode_part(self, tensors: Tensors, request: Request, n: int) -> Tensors:
        """Encode one part of ``n`` ids (``tensors`` holds it as the piece's ids)."""
        return self.run_children(tensors, request)

    def process(self, tensors: Tensors, request: Request) -> Tensors:
        if self.ids_name not in tensors:  # not an id front-end: nothing to cut
            return self.run_children(tensors, request)
        ids = np.asarray(tensors[self.ids_name])
        real = ids.shape[-1]
        if self.lengths_name is not None and self.lengths_name in tensors:
            real = min(real, int(np.asarray(tensors[self.lengths_name]).reshape(-1)[0]))
        if self.limit is None or real <= self.limit:
            return self.encode_part(tensors, request, real)
        flat = ids.reshape(-1)[:real]
        parts, forced = split_points(flat, self.limit, self.frontend)
        if forced:
            request.events.append({"block": self.name, "event": "split_inside_word", "count": forced})
        stats(request)["splits"] += len(parts) - 1
        results = []
        try:
            for k, (a, b) in enumerate(parts):
                request.part = f"#{k}"
                part = dict(tensors)
                part[self.ids_name] = flat[a:b].reshape(1, -1)
                if self.lengths_name is not None:
                    part[self.lengths_name] = np.asarray([b - a], dtype=np.int64)
                results.append(self.encode_part(part, request, b - a))
        finally:
            request.part = ""
        joined: Tensors = {}
        for name in results[0]:
            axes = self.joins.get(name) or []
            joined[name] = np.concatenate([r[name] for r in results], axis=axes[-1]) if axes else results[0][name]
        return joined
