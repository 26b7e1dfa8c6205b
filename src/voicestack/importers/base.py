"""Importers: a third-party model becomes a streaming addon. One class, one registration.

An importer subclasses :class:`Importer`, sets ``name`` (used as ``voicestack addon
import NAME``) and implements :meth:`Importer.run`; it joins with
``IMPORTERS.register(MyImporter)`` or an entry point in the group ``voicestack.importers``.
It must find its cut points from the graph's structure, refuse a graph it doesn't
understand with a clear error, and write nothing on failure (build in a temporary
directory, rename at the end: ``voicestack.paths.build_dir_atomic``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from voicestack.registry import Family


class Importer:
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""  # one line for `voicestack addon import --help`

    @classmethod
    def run(cls, source: Path, out_dir: Path, name: str | None = None, **options: Any) -> Path:
        """Write the addon for ``source`` into the new directory ``out_dir``; return it."""
        raise NotImplementedError(f"{cls.__name__}.run")


IMPORTERS: Family[Importer] = Family("importer", "voicestack.importers", Importer, key=lambda cls: cls.name)
