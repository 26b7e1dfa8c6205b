"""Binding a block to one of the addon's networks: feeds, renames, the session call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voicestack.addon import NetworkDecl
from voicestack.assets import AssetDecl
from voicestack.blocks import Request
from voicestack.components.base import BuildContext, CheckEnv
from voicestack.errors import RequestError
from voicestack.runtime import RuntimeConfig, Session
from voicestack.tensors import DTYPES, TensorDecl, Tensors, resolve_shape


@dataclass(frozen=True)
class NetworkParams:
    network: str
    inputs: Mapping[str, str] = field(default_factory=dict)  # network input -> tensor name
    outputs: Mapping[str, str] = field(default_factory=dict)  # network output -> tensor name


def renamed_needs(net: NetworkDecl, inputs: Mapping[str, str]) -> dict[str, TensorDecl]:
    return {inputs.get(n, n): d for n, d in net.needed_inputs.items()}


def renamed_outputs(net: NetworkDecl, outputs: Mapping[str, str]) -> dict[str, TensorDecl]:
    return {outputs.get(n, n): d for n, d in net.outputs.items()}


def check_renames(net: NetworkDecl, params: Any, env: CheckEnv) -> bool:
    ok = True
    for key, pool in (("inputs", net.inputs), ("outputs", net.outputs)):
        for n in getattr(params, key):
            if n not in pool:
                env.error(f"network '{net.name}' has no {key[:-1]} '{n}' (it has: {', '.join(pool)})", key)
                ok = False
    return ok


class NetworkCall:
    """Calls one network: gathers its inputs (neighbours' tensors or feeds), runs, renames."""

    def __init__(self, net: NetworkDecl, session: Session, inputs: Mapping[str, str], outputs: Mapping[str, str],
                 assets: Mapping[str, AssetDecl] | None = None):
        self.net = net
        self.session = session
        self.inputs = dict(inputs)
        self.outputs = dict(outputs)
        self.assets = dict(assets or {})
        self.config: RuntimeConfig | None = None  # how it runs (set by open), for describe()
        self.addon = ""

    @classmethod
    def open(cls, params: NetworkParams, ctx: BuildContext) -> NetworkCall:
        net = ctx.manifest.networks[params.network]
        session = ctx.sessions.open(net.path, ctx.runtime_for(net.name))
        call = cls(net, session, params.inputs, params.outputs, ctx.manifest.assets)
        call.config, call.addon = ctx.runtime_for(net.name), ctx.manifest.name
        return call

    def describe(self) -> dict[str, Any]:
        """Which addon's network, on which runtime and device, with which shapes."""
        config = self.config or RuntimeConfig()
        return {"addon": self.addon, "network": self.net.name, "shapes": "dynamic", **config.describe()}

    def __call__(self, tensors: Mapping[str, np.ndarray], request: Request, noise_key: str) -> Tensors:
        feeds: dict[str, np.ndarray] = {}
        dims: dict[str, int] = {}
        for name, inp in self.net.inputs.items():
            if inp.feed is None:
                array = tensors[self.inputs.get(name, name)]
                feeds[name] = array
                for d, size in zip(inp.decl.shape, array.shape, strict=False):
                    if isinstance(d, str):
                        dims.setdefault(d, size)
        session = self.session_for(dims)
        for name, inp in self.net.inputs.items():
            if inp.feed is not None:
                feeds[name] = self.feed_value(name, inp, dims, tensors, request, noise_key)
        out = session.run(feeds)
        return {self.outputs.get(n, n): v for n, v in out.items() if n in self.net.outputs}

    def session_for(self, dims: Mapping[str, int]) -> Session:
        """The session to run for these dynamic sizes (static variants pick a compiled copy)."""
        return self.session

    def feed_value(self, name: str, inp: Any, dims: dict[str, int], tensors: Mapping[str, np.ndarray],
                   request: Request, noise_key: str) -> np.ndarray:
        """The value of a framework-fed input (params, seeded noise, a constant)."""
        return self._feed(name, inp.decl, inp.feed.kind, inp.feed.value, dims, request, noise_key, tensors)

    def _asset_row(self, name: str, decl: TensorDecl, value: Mapping[str, Any], shape: tuple[int, ...],
                   tensors: Mapping[str, np.ndarray], request: Request) -> np.ndarray:
        """A row of the request speaker's table in an asset, chosen by a tensor's value."""
        speaker = request.speaker
        if speaker is None or speaker.asset != value["asset"] or speaker.key is None:
            raise RequestError("speaker", f"network '{self.net.name}' input '{name}' reads a row of asset "
                                          f"'{value['asset']}' for the chosen speaker; no such speaker was chosen")
        table = self.assets[value["asset"]].array(speaker.key)
        rows = tensors.get(value["row"])
        if rows is None:
            raise KeyError(f"network '{self.net.name}' input '{name}': tensor '{value['row']}' is not available")
        row = int(np.asarray(rows).reshape(-1)[0]) + int(value.get("offset", 0))
        row = min(max(row, 0), table.shape[0] - 1)
        return np.asarray(table[row], dtype=DTYPES[decl.dtype]).reshape(shape)

    def _feed(self, name: str, decl: TensorDecl, kind: str, value: Any, dims: dict[str, int],
              request: Request, noise_key: str, tensors: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        dtype = DTYPES[decl.dtype]
        shape = resolve_shape(decl.shape, dims, f"network '{self.net.name}' input '{name}'")
        if kind == "params":
            return np.array([request.param(p) for p in value], dtype=dtype).reshape(shape)
        if kind == "param":
            return np.full(shape, request.param(value), dtype=dtype)
        if kind == "fill":
            return np.full(shape, value, dtype=dtype)
        if kind == "speaker_id":
            speaker = request.speaker
            if speaker is None or speaker.id is None:
                raise RequestError("speaker", f"network '{self.net.name}' needs a speaker id; none was chosen")
            return np.full(shape, speaker.id, dtype=dtype)
        if kind == "asset_row":
            return self._asset_row(name, decl, value, shape, tensors or {}, request)
        # noise: keyed by the request seed, the text piece and the block, never the chunking
        return request.rng(f"{noise_key}/{name}{request.part}").standard_normal(shape).astype(dtype)
