"""The ``voicestack`` console script run as a user runs it: a subprocess, the test
session's voice cache (building joe takes ~20 s: once per session), no VOICESTACK_VOICES."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
SCRIPT = Path(sys.executable).parent / "voicestack"


@pytest.fixture(scope="session")
def cli_env(_test_cache: Path) -> dict[str, str]:
    """The environment of every CLI run: the suite's temporary voice cache (tests/conftest.py)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VOICESTACK_VOICES", "COLUMNS")}
    env["VOICESTACK_CACHE"] = str(_test_cache)
    return env


Run = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def run(cli_env: dict[str, str]) -> Run:
    """run(*args, input=bytes, env={...}, **popen_kwargs) -> CompletedProcess (bytes)."""

    def call(*args: str, input: bytes | None = None, env: dict[str, str] | None = None,
             timeout: float = 300, **kwargs: Any) -> subprocess.CompletedProcess:
        command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "voicestack.cli"]
        kwargs.setdefault("stdout", subprocess.PIPE)
        return subprocess.run([*command, *args], check=False, input=input, stderr=subprocess.PIPE, timeout=timeout,
                              env={**cli_env, **(env or {})}, **kwargs)

    return call


@pytest.fixture
def tiny() -> str:
    return str(DATA / "tiny_duration")


@pytest.fixture
def tiny_copy(tmp_path: Path) -> Callable[[str], Path]:
    def make(where: str = "voices") -> Path:
        dest = tmp_path / where / "tiny-duration"
        shutil.copytree(DATA / "tiny_duration", dest)
        return dest

    return make


@pytest.fixture(scope="session")
def joe_built(cli_env: dict[str, str]) -> None:
    """joe built into the session's cache (about 20 s the first time), so that tests
    timing a synthesis don't time the build."""
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "voicestack.cli"]
    subprocess.run([*command, "addon", "inspect", "joe"], env=cli_env, check=True, capture_output=True, timeout=600)
