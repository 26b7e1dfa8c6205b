"""Importers of third-party models (a family: ``IMPORTERS``). Importing this package
registers the built-ins (an explicit list)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voicestack.importers.base import IMPORTERS, Importer


class PiperImporter(Importer):
    """A Piper VITS voice (``MODEL.onnx`` + ``MODEL.onnx.json``), split to stream inside the sentence."""

    name = "piper"
    summary = "a Piper voice (.onnx + .onnx.json)"

    @classmethod
    def run(cls, source: Path, out_dir: Path, name: str | None = None, **options: Any) -> Path:
        from voicestack.importers.piper import import_piper

        return import_piper(Path(source), options.get("config"), Path(out_dir), name=name)


IMPORTERS.register(PiperImporter)

__all__ = ["IMPORTERS", "Importer", "PiperImporter"]
