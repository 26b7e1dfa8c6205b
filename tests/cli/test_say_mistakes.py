"""Every mistake `voicestack say` can meet ends with one line on stderr, a non-zero exit
and no file left behind (hidden temporary files included)."""

from __future__ import annotations

import json
import os
import pty
import resource
from pathlib import Path

import pytest
from cli_checks import entries, one_line_error


def test_missing_directory(run, tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    line = one_line_error(run("say", "hello", "-v", tiny, "-o", str(tmp_path / "nope" / "out.wav")))
    assert "does not exist" in line and "nope" in line
    assert entries(tmp_path) == []


def test_output_is_a_directory(run, tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    line = one_line_error(run("say", "hello", "-v", tiny, "-o", str(tmp_path)))
    assert "is a directory" in line
    assert entries(tmp_path) == []


def test_empty_output_path(run, tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    line = one_line_error(run("say", "hello", "-v", tiny, "-o", "", cwd=tmp_path))
    assert "output path is empty" in line
    assert entries(tmp_path) == []


def test_read_only_directory(run, tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if os.geteuid() == 0:  # root writes through a mode-0555 directory; sysfs refuses anyone
        target = Path("/sys/voicestack-test.wav")
        before = entries(target.parent)
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        target, before = locked / "out.wav", []
    line = one_line_error(run("say", "hello", "-v", tiny, "-o", str(target)))
    assert "Permission denied" in line and str(target) in line
    assert entries(target.parent) == before


def test_full_disk_file(run, tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A file-size limit fails writes the way a full disk does (EFBIG instead of ENOSPC)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    proc = run("say", "hello there " * 20, "-v", tiny, "-o", str(tmp_path / "out.wav"), preexec_fn=limit)
    line = one_line_error(proc)
    assert "File too large" in line and "out.wav" in line
    assert entries(tmp_path) == []


@pytest.mark.parametrize("how", ["--raw", "-o /dev/full"])
def test_dev_full(run, tiny, how: str) -> None:  # type: ignore[no-untyped-def]
    args = how.split()
    with open("/dev/full", "wb") as full:
        proc = run("say", "hello there " * 20, "-v", tiny, *args, stdout=full)
    assert "No space left on device" in one_line_error(proc)


def test_binary_refused_into_a_terminal(run, tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    main, child = pty.openpty()
    try:
        for args in (["--raw"], ["-o", "-"]):
            proc = run("say", "hello", "-v", tiny, *args, stdout=child)
            assert "into a terminal" in one_line_error(proc)
    finally:
        os.close(main)
        os.close(child)


@pytest.mark.parametrize("args, message", [
    (["-o", "out.xyz"], "cannot tell the audio format from 'out.xyz'"),
    (["-o", "out.wav", "--format", "wma"], "argument --format: invalid choice: 'wma'"),
    ([], "give -o FILE"),
    (["-o", "out.wav", "--bogus"], "unrecognized arguments: --bogus"),
    (["-o", "out.wav", "--length-scale", "fast"], "invalid float value: 'fast'"),
    (["-o", "out.wav", "--length-scale", "100"], "length_scale: 100.0 is out of range"),
    (["-o", "out.wav", "-v", "no-such-voice"], "unknown voice 'no-such-voice'"),
    (["-o", "out.wav", "--profile", "no-such-profile"], "no-such-profile"),
    (["-o", "out.wav", "--profile", '{"runtime": '], "--profile: invalid JSON"),
    (["-o", "out.wav", "--profile", '{"runtime": {"name": "nope"}}'], "profile.runtime"),
    (["-o", "out.wav", "--profile", "missing.json"], "--profile: cannot read missing.json"),
])
def test_command_line_mistakes(run, tiny, tmp_path: Path, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    line = one_line_error(run("say", "hello", "-v", tiny, *args, cwd=tmp_path))
    assert message in line, line
    assert entries(tmp_path) == []


def test_profile_file_with_problems(run, tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "p.json").write_text(json.dumps({"shapes": "wobbly", "threads": -3}))
    line = one_line_error(run("say", "hello", "-v", tiny, "-o", "out.wav", "--profile", "p.json", cwd=tmp_path))
    assert "shapes" in line
    assert entries(tmp_path) == ["p.json"]


@pytest.mark.parametrize("text, message", [(b"", "the text is empty"), (b" \n\t", "the text is empty"),
                                           (b"caf\xe9", "not UTF-8"), (b"123#@", "nothing to speak")])
def test_bad_text(run, tiny, tmp_path: Path, text: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    line = one_line_error(run("say", "-", "-v", tiny, "-o", "out.wav", input=text, cwd=tmp_path))
    assert message in line
    assert entries(tmp_path) == []


def test_existing_file_untouched_by_a_failed_run(run, tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out.wav"
    out.write_bytes(b"keep me")
    one_line_error(run("say", "hello", "-v", tiny, "-o", str(out), "--seed", "x"))
    one_line_error(run("say", "#@", "-v", tiny, "-o", str(out)))  # the tiny voice knows only letters
    assert out.read_bytes() == b"keep me" and entries(tmp_path) == ["out.wav"]


def test_usage_error_is_one_line(run) -> None:  # type: ignore[no-untyped-def]
    line = one_line_error(run("bogus"))
    assert "invalid choice: 'bogus'" in line


def test_non_speech_output_device_is_written_directly(run, tiny) -> None:  # type: ignore[no-untyped-def]
    proc = run("say", "hello", "-v", tiny, "-o", "/dev/null")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("args, message", [
    (["serve", "--port", "99999"], "expected a TCP port 0-65535, got '99999'"),
    (["serve", "--config", "missing.json"], "missing.json"),
    (["addon", "import-piper", "missing.onnx", "-o", "out"], "missing.onnx: no such file"),
    (["addon", "inspect"], "the following arguments are required: ADDON"),
    (["addon", "inspect", "./missing"], "no such directory"),
    (["voices", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_other_commands_mistakes(run, tmp_path: Path, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    line = one_line_error(run(*args, cwd=tmp_path))
    assert message in line, line
    assert entries(tmp_path) == []
