"""docs/architecture.md: every worked example runs, in order, from the repository's root."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from voicestack.components.base import COMPONENTS
from voicestack.frontends import FRONTENDS
from voicestack.importers import IMPORTERS
from voicestack.runtime import RUNTIMES
from voicestack.service.transports import TRANSPORTS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"


def test_worked_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 6  # block, front-end, runtime, transport (core, listener), importer
    monkeypatch.chdir(ROOT)
    module = types.ModuleType("architecture_doc")  # dataclasses look their module up in sys.modules
    monkeypatch.setitem(sys.modules, module.__name__, module)
    try:
        for code in blocks:
            exec(compile(code, str(DOC), "exec"), module.__dict__)  # noqa: S102 - our own documentation
    finally:
        COMPONENTS.unregister("Half")
        FRONTENDS.unregister("Vowels")
        RUNTIMES.unregister("logged")
        IMPORTERS.unregister("copy")
        TRANSPORTS.unregister("line")
