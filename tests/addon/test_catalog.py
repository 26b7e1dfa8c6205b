"""Where voices come from: built-ins cached by key, the search path, vocoders never listed as voices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voicestack import catalog


def _fake_builtin(key: list[str], made: list[str], name: str) -> catalog.Builtin:
    def build(out: Path) -> None:
        made.append(name)
        (out / "addon.json").write_text(json.dumps({"name": name}))

    return catalog.Builtin(lambda: key[0], build)


def test_rebuilding_a_voice_keeps_another_voice_whose_name_it_prefixes(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    joe_key, voc_key = ["k1"], ["v1"]
    monkeypatch.setitem(catalog.BUILTINS, "joe", _fake_builtin(joe_key, made, "joe"))
    monkeypatch.setitem(catalog.BUILTINS, "joe-vocoder", _fake_builtin(voc_key, made, "joe-vocoder"))
    first = catalog.builtin_dir("joe")
    vocoder = catalog.builtin_dir("joe-vocoder")
    joe_key[0] = "k2"  # joe's source package changed: joe is rebuilt ...
    second = catalog.builtin_dir("joe")
    assert second != first and not first.exists() and made == ["joe", "joe-vocoder", "joe"]
    assert (vocoder / "addon.json").is_file()  # ... and joe-vocoder's build is untouched
    assert catalog.builtin_dir("joe-vocoder") == vocoder and made.count("joe-vocoder") == 1


def test_vocoders_are_not_voices() -> None:
    assert "joe-vocoder" in catalog.BUILTINS and catalog.BUILTINS["joe-vocoder"].kind == "vocoder"
    assert "joe-vocoder" not in catalog.voice_names()
    assert "joe" in catalog.voice_names()


def test_the_service_lists_no_vocoder_with_builtins_on() -> None:
    from voicestack.service.pool import VoiceCatalog

    names = VoiceCatalog((), builtins=True).names()
    assert "joe" in names and "joe-vocoder" not in names
