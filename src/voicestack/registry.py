"""Type name -> component class.

Built-ins are listed explicitly; third-party components come from the entry-point
group ``voicestack.components`` and only through an explicit
:func:`load_entry_points` call, so a stack means the same thing on every machine
that loads the same plugins.
"""

from __future__ import annotations

import threading
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from voicestack.errors import SpecError

if TYPE_CHECKING:
    from voicestack.components.base import Component

ENTRY_POINT_GROUP = "voicestack.components"


class Registry:
    def __init__(self) -> None:
        self._types: dict[str, type[Component]] = {}
        self._lock = threading.Lock()
        self._plugins_loaded = False

    def register(self, cls: type[Component], name: str | None = None) -> type[Component]:
        type_name = name or cls.type_name or cls.__name__
        with self._lock:
            existing = self._types.get(type_name)
            if existing is not None and existing is not cls:
                raise ValueError(
                    f"component type '{type_name}' is already registered by "
                    f"{existing.__module__}.{existing.__qualname__}"
                )
            self._types[type_name] = cls
        return cls

    def get(self, type_name: str, path: str) -> type[Component]:
        try:
            return self._types[type_name]
        except KeyError:
            raise SpecError.at(
                path, f"unknown type '{type_name}'; expected one of {', '.join(sorted(self._types))}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._types)

    def __contains__(self, type_name: str) -> bool:
        return type_name in self._types

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[str]:
        """Register every component advertised in ``group``; returns their names.

        An entry point's name is the type name; its object is the component class.
        """
        from voicestack.components.base import Component

        added = []
        for ep in entry_points(group=group):
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Component)):
                raise TypeError(
                    f"entry point '{ep.name}' in group '{group}' ({ep.value}) is not a voicestack Component class"
                )
            self.register(cls, ep.name)
            added.append(ep.name)
        self._plugins_loaded = True
        return added


REGISTRY = Registry()


def register(cls: type[Component]) -> type[Component]:
    """Class decorator: register a component under its ``type_name``."""
    return REGISTRY.register(cls)


def load_plugins() -> list[str]:
    """Load third-party components from the ``voicestack.components`` entry points."""
    return REGISTRY.load_entry_points()
