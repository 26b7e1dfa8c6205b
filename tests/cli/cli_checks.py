"""Checks the CLI tests share."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """Assert the run failed with exactly one line on stderr (no traceback); return it."""
    err = proc.stderr.decode()
    assert proc.returncode != 0, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("voicestack: error: "), err
    return lines[0]


def entries(path: Path) -> list[str]:
    """Every name in a directory, hidden ones included."""
    return sorted(os.listdir(path))
