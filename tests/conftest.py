from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_duration() -> Path:
    return DATA / "tiny_duration"


@pytest.fixture
def tiny_ar() -> Path:
    return DATA / "tiny_autoregressive"


@pytest.fixture
def addon_copy(tmp_path: Path):
    """Copy a tiny addon to tmp_path so a test may break it."""

    def make(name: str = "tiny_duration") -> Path:
        dest = tmp_path / name
        shutil.copytree(DATA / name, dest)
        return dest

    return make


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the user's addon search path out of tests; share one voice cache per session."""
    monkeypatch.delenv("VOICESTACK_VOICES", raising=False)
