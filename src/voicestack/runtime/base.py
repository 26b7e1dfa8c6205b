"""What a runtime is: one class with the profile fields it supports and how it opens a network.

A runtime subclasses :class:`Runtime`, sets ``name`` and an ``Options`` dataclass (its
fields are exactly the profile fields it understands, parsed by ``voicestack.params``:
a field it doesn't have is an error naming it), and implements ``open``. It joins with
one registration: ``RUNTIMES.register(MyRuntime)`` or an entry point in the group
``voicestack.runtimes``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from voicestack.registry import Family


class Session(Protocol):
    path: Path
    nbytes: int

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class NoOptions:
    """For runtimes that take no profile fields."""


class Runtime:
    """One way of running networks (onnxruntime, OpenVINO, a user's own)."""

    name: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    install_hint: ClassVar[str] = ""  # how to install it, said when it is missing

    @classmethod
    def missing(cls) -> str | None:
        """Why this runtime can't run here (not installed), or None."""
        return None

    @classmethod
    def check(cls, options: Any, path: str, problems: list[tuple[str, str]]) -> None:
        """Validate parsed options against this machine (devices, providers); append problems."""

    @classmethod
    def open(cls, path: Path, options: Any, static_shapes: Mapping[str, tuple[int, ...]] | None) -> Session:
        """A session on the network at ``path`` (compiled for ``static_shapes`` when given)."""
        raise NotImplementedError(f"{cls.__name__}.open")

    @classmethod
    def describe(cls, options: Any) -> dict[str, Any]:
        """Where and how it runs, for ``addon inspect``."""
        return {"runtime": cls.name, **{f.name: _jsonable(getattr(options, f.name))
                                        for f in dataclasses.fields(options)}}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


RUNTIMES: Family[Runtime] = Family("runtime", "voicestack.runtimes", Runtime, key=lambda cls: cls.name)


@dataclass(frozen=True)
class RuntimeConfig:
    """How one network runs: a registered runtime, its parsed options, compiled shapes."""

    runtime: str = "onnxruntime"
    options: Any = None  # an instance of the runtime's Options (None: its defaults)
    static_shapes: Mapping[str, tuple[int, ...]] | None = None  # input name -> compiled shape
    batch: int = 1  # > 1: concurrent same-shaped calls run as one, up to this many (runtime.batching)
    batch_wait: float = 0.0  # seconds a call waits for others to join its batch

    @property
    def resolved_options(self) -> Any:
        return self.options if self.options is not None else RUNTIMES.get(self.runtime, "runtime").Options()

    def key(self) -> tuple[Any, ...]:
        static = tuple(sorted((k, tuple(v)) for k, v in (self.static_shapes or {}).items()))
        return (self.runtime, repr(_jsonable(dataclasses.asdict(self.resolved_options))), static, self.batch,
                self.batch_wait)

    def describe(self) -> dict[str, Any]:
        info = RUNTIMES.get(self.runtime, "runtime").describe(self.resolved_options)
        if self.static_shapes:
            info["shapes"] = {k: list(v) for k, v in self.static_shapes.items()}
        if self.batch > 1:
            info["batch"] = {"max": self.batch, "wait_ms": round(self.batch_wait * 1000, 3)}
        return info

    def option(self, name: str, default: Any = None) -> Any:
        return getattr(self.resolved_options, name, default)
