"""A plain ``pip install -e .`` (no extras): the command line works, and ``serve`` names the
extra a listener needs. The extras' libraries are made unimportable in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXTRAS_ONLY = ("prometheus_client", "starlette", "uvicorn", "websockets", "wyoming", "httpx")
BLOCK = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {EXTRAS_ONLY!r}:
            raise ImportError(f"{{name}} is not installed (blocked by the test)")
        return None
sys.meta_path.insert(0, Block())
import importlib.util
importlib.util.find_spec = lambda name, package=None: (None if name.split(".")[0] in {EXTRAS_ONLY!r}
                                                       else _find(name, package))
"""


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = ("import importlib.util; _find = importlib.util.find_spec\n" + BLOCK +
            "from voicestack.cli import main\nsys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "VOICESTACK_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False, env=env,
                          timeout=120)


def test_the_cli_needs_no_extra(tmp_path: Path) -> None:
    proc = cli(tmp_path, "serve", "--help")
    assert proc.returncode == 0 and "--wyoming ADDRESS" in proc.stdout, proc.stderr
    proc = cli(tmp_path, "say", "--dry-run", "hello there")
    assert proc.returncode == 0 and "hello" in proc.stdout.lower(), proc.stderr


@pytest.mark.parametrize("args, extra", [
    (["--wyoming", "tcp://127.0.0.1:0"], "voicestack[wyoming]"),
    (["--port", "0"], "voicestack[serve]"),
])
def test_serve_names_the_missing_extra(tmp_path: Path, args: list[str], extra: str) -> None:
    proc = cli(tmp_path, "serve", *args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("voicestack: error: --") and f"pip install '{extra}'" in lines[0]
