"""Fixtures of the service tests (helpers live in service_helpers.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("websockets")

from service_helpers import config, make_voices, serve  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _service_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The service tests never touch the user's voice cache (one cache for the session)."""
    before = os.environ.get("VOICESTACK_CACHE")
    os.environ["VOICESTACK_CACHE"] = str(tmp_path_factory.mktemp("voicestack-cache"))
    yield
    if before is None:
        os.environ.pop("VOICESTACK_CACHE", None)
    else:
        os.environ["VOICESTACK_CACHE"] = before


@pytest.fixture
def voices_dir(tmp_path: Path) -> Path:
    return make_voices(tmp_path / "voices")


@pytest.fixture
def server(voices_dir: Path) -> Iterator[tuple[str, Any]]:
    with serve(config(voices_dir)) as s:
        yield s
