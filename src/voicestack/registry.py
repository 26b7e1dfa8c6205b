"""Families of extension points: type name -> class, one mechanism for all of them.

Blocks, front-ends, runtimes, transports and importers are each a :class:`Family`.
Built-ins are registered explicitly by the module that defines the family's members;
third-party classes come from the family's entry-point group, and only through an
explicit :meth:`Family.load_entry_points` call (``voicestack.plugins.load_plugins()``
loads every family), so a name means the same thing on every machine that loads the
same plugins. A leaf module: it imports nothing else from voicestack but errors.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from voicestack.errors import SpecError, VoicestackError

T = TypeVar("T")


class PluginError(VoicestackError):
    """An entry point that does not load or is not a class of its family."""


class Family(Generic[T]):
    """Registered classes of one extension point, by type name."""

    def __init__(self, kind: str, group: str, base: type[T], key: Callable[[type[T]], str] | None = None) -> None:
        self.kind = kind  # "component", "frontend", "runtime", ...: used in messages
        self.group = group  # the entry-point group third parties register in
        self.base = base
        self._key = key or (lambda cls: str(getattr(cls, "type_name", "") or cls.__name__))
        self._types: dict[str, type[T]] = {}
        self._lock = threading.Lock()

    def register(self, cls: type[T], name: str | None = None) -> type[T]:
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise TypeError(f"{cls!r} is not a {self.base.__name__} class; cannot register it as a {self.kind}")
        type_name = name or self._key(cls)
        with self._lock:
            existing = self._types.get(type_name)
            if existing is not None and existing is not cls:
                raise ValueError(f"{self.kind} type '{type_name}' is already registered by "
                                 f"{existing.__module__}.{existing.__qualname__}")
            self._types[type_name] = cls
        return cls

    def __call__(self, cls: type[T]) -> type[T]:
        """Use the family as a class decorator: ``@COMPONENTS``."""
        return self.register(cls)

    def get(self, type_name: str, path: str) -> type[T]:
        try:
            return self._types[type_name]
        except (KeyError, TypeError):
            raise SpecError.at(path, f"unknown type {type_name!r}; expected one of "
                                     f"{', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._types)

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._types

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def unregister(self, type_name: str) -> None:
        with self._lock:
            self._types.pop(type_name, None)

    def load_entry_points(self) -> list[str]:
        """Register every class advertised in this family's entry-point group.

        All or nothing: if one entry point fails to load or is not a class of this
        family, none of them is registered and :class:`PluginError` says which.
        """
        found: list[tuple[str, type[T]]] = []
        for ep in entry_points(group=self.group):
            try:
                cls = ep.load()
            except Exception as err:  # a plugin's import may fail in any way; report which one
                raise PluginError(f"entry point '{ep.name}' in group '{self.group}' ({ep.value}) failed to "
                                  f"load: {type(err).__name__}: {err}") from err
            if not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise PluginError(f"entry point '{ep.name}' in group '{self.group}' ({ep.value}) is not a "
                                  f"voicestack {self.base.__name__} class")
            found.append((ep.name, cls))
        with self._lock:
            clashes = [n for n, c in found if n in self._types and self._types[n] is not c]
            if clashes:
                raise PluginError(f"entry point(s) {', '.join(clashes)} in group '{self.group}' clash with "
                                  f"registered {self.kind} types")
            for name, cls in found:
                self._types[name] = cls
        return [n for n, _ in found]


def describe(family: Family[Any]) -> dict[str, str]:
    """Type name -> the class's first docstring line, for listings."""
    out = {}
    for name in family.names():
        doc = (family.get(name, "").__doc__ or "").strip().splitlines()
        out[name] = doc[0] if doc else ""
    return out
