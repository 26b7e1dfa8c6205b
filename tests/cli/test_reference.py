"""docs/reference.md is run: its ```python blocks by doctest, its ```console blocks as
one shell session (commands on `$` lines, the output expected below them; `...` matches
any text, runs of spaces match any spaces). Both run in an empty directory with the
session's voice cache. Every option of the command is named on the page."""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_checks import entries

from voicestack.cli import build_parser

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def blocks(kind: str) -> list[str]:
    return re.findall(rf"^```{kind}\n(.*?)^```", REFERENCE.read_text(encoding="utf-8"), re.DOTALL | re.MULTILINE)


def matches(expected: list[str], actual: str) -> bool:
    pattern = "".join(
        r"[ \t]*" + r"\s+".join(".*?".join(re.escape(part) for part in word.split("...")) for word in line.split()) + r"\s*\n"
        for line in expected)
    return re.fullmatch(pattern, actual + ("\n" if actual and not actual.endswith("\n") else ""), re.DOTALL) is not None


def shell_session(text: str) -> list[tuple[str, list[str]]]:
    """[(command, expected output lines)] of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
    return steps


@pytest.mark.real_voice
def test_python_examples(cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICESTACK_CACHE", cli_env["VOICESTACK_CACHE"])
    monkeypatch.chdir(tmp_path)
    source = "\n".join(blocks("python"))
    test = doctest.DocTestParser().get_doctest(source, {}, "docs/reference.md", str(REFERENCE), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted >= 15
    assert result.failed == 0
    assert entries(tmp_path) == ["hello.flac"]


@pytest.mark.real_voice
def test_console_examples(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cli_env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{cli_env.get('PATH', '')}"}
    steps = [step for block in blocks("console") for step in shell_session(block)]
    assert len(steps) >= 12
    for command, expected in steps:
        proc = subprocess.run(["bash", "-c", command], check=False, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=300)
        output = proc.stdout
        assert proc.returncode == 0, f"$ {command}\n{output}"
        assert matches(expected, output), f"$ {command}\nexpected:\n" + "\n".join(expected) + f"\ngot:\n{output}"
    assert {"hello.wav", "hello.mp3", "from-stdin.ogg", "hello.pcm", "profile.wav"} <= set(entries(tmp_path))
    assert "missing" not in entries(tmp_path)


def test_every_option_is_on_the_page() -> None:
    page = REFERENCE.read_text(encoding="utf-8")
    parser = build_parser()
    missing = []
    stack = [parser]
    while stack:
        p = stack.pop()
        for action in p._actions:
            if action.choices and isinstance(action.choices, dict):  # subcommands
                stack.extend(action.choices.values())
            for option in action.option_strings:
                if option.startswith("--") and option not in ("--help",) and option not in page:
                    missing.append(f"{p.prog} {option}")
    assert missing == []


def test_the_matcher() -> None:
    assert matches(["a ... b", "c"], "a xyz  b\nc\n")
    assert not matches(["a ... b"], "a xyz c\n")
    assert matches(["x", "  y ..."], "x\n  y z\n")
    assert matches([], "")
    assert not matches([], "unexpected output\n")
