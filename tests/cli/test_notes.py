"""What the voice reports while speaking reaches the CLI user once, as a note on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.real_voice
def test_text_the_voice_cannot_read_is_reported_once(joe_built, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proc = run("say", "Hello 你好 there. And 再见 again.", "-o", str(tmp_path / "out.wav"))
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.decode().splitlines() if line.startswith("note: ")]
    assert notes == ["note: skipped text in a script this voice cannot read (CJK)"]
    assert (tmp_path / "out.wav").stat().st_size > 1000
