"""What the CLI does right: formats, stdout, permissions, signals, listings, dry runs."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from cli_checks import entries, one_line_error
from conftest import SCRIPT

from voicestack.cli import build_parser


def decoded(data: bytes) -> tuple[str, int, int]:
    """(container format, rate, samples) as FFmpeg reads the bytes."""
    with av.open(io.BytesIO(data)) as c:
        stream = c.streams.audio[0]
        return c.format.name, stream.rate, sum(f.samples for f in c.decode(stream))


@pytest.mark.parametrize("name, args, container", [
    ("out.wav", [], "wav"), ("out.flac", [], "flac"), ("out.ogg", [], "ogg"), ("out.opus", [], "ogg"),
    ("out.mp3", [], "mp3"), ("out.wav", ["--format", "flac"], "flac"), ("noext", [], "wav"),
])
def test_extension_picks_the_format(run, tiny, tmp_path: Path, name: str, args: list[str],  # type: ignore[no-untyped-def]
                                    container: str) -> None:
    proc = run("say", "hello there", "-v", tiny, "-o", name, "--seed", "1", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    fmt, rate, samples = decoded((tmp_path / name).read_bytes())
    assert fmt == container
    assert rate == (48000 if container == "ogg" else 16000)
    assert samples > 0
    assert entries(tmp_path) == [name]


def test_stdout_and_raw_are_the_same_audio(run, tiny) -> None:  # type: ignore[no-untyped-def]
    wav = run("say", "hello there", "-v", tiny, "-o", "-", "--seed", "4")
    raw = run("say", "hello there", "-v", tiny, "--raw", "--seed", "4")
    assert wav.returncode == raw.returncode == 0, wav.stderr + raw.stderr
    assert wav.stdout[:4] == b"RIFF" and wav.stderr == b""
    audio, rate = sf.read(io.BytesIO(wav.stdout), dtype="int16")
    assert rate == 16000 and audio.size > 100
    assert np.array_equal(audio, np.frombuffer(raw.stdout, "<i2"))


def test_files_honour_the_umask(run, tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for mask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        proc = run("say", "hi", "-v", tiny, "-o", f"out{mask}.wav", cwd=tmp_path, preexec_fn=lambda m=mask: os.umask(m))
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / f"out{mask}.wav").stat().st_mode & 0o777 == mode


@pytest.mark.real_voice
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signals_remove_the_partial_file(joe_built, cli_env, tmp_path: Path, signum: int) -> None:  # type: ignore[no-untyped-def]
    lines = (Path(__file__).resolve().parents[2] / "src/voicestack/data/heldout-texts.txt").read_text().splitlines()
    text = "\n".join(lines[:60])  # about 6 minutes of speech: far from done when the signal comes
    command = [str(SCRIPT), "say", "-", "-o", "long.wav"]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=cli_env) as proc:
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write(text.encode())
        proc.stdin.close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until audio is being written
            parts = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
            if parts and parts[0].stat().st_size > 10000:
                break
            time.sleep(0.05)
        else:
            pytest.fail("no partial file appeared")
        proc.send_signal(signum)
        assert proc.wait(60) == (130 if signum == signal.SIGINT else 128 + signum)
        assert "Traceback" not in proc.stderr.read().decode()
    assert entries(tmp_path) == []


def test_version(run) -> None:  # type: ignore[no-untyped-def]
    proc = run("--version")
    from importlib.metadata import version

    assert proc.returncode == 0 and proc.stdout.decode().strip() == f"voicestack {version('voicestack')}"


def _actions(parser: argparse.ArgumentParser, path: str = "voicestack") -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _actions(sub, f"{path} {name}")
        else:
            found.append((path, action))
    return found


def test_every_option_has_help() -> None:
    actions = _actions(build_parser())
    assert len(actions) > 40
    missing = [f"{path} {'/'.join(a.option_strings) or a.dest}" for path, a in actions if not (a.help or "").strip()]
    assert missing == []


def test_voices_lists_what_each_voice_is_and_flags_broken_addons(run, tiny_copy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = tiny_copy()
    broken = good.parent / "broken"
    broken.mkdir()
    (broken / "addon.json").write_text('{"name": "broken", ')
    env = {"VOICESTACK_VOICES": f"{good.parent}{os.pathsep}{tmp_path / 'missing'}"}
    text = run("voices", env=env)
    assert text.returncode == 0, text.stderr
    out = text.stdout.decode()
    header, *rows = out.split("\n\nbroken addons")[0].splitlines()
    assert header.split() == ["NAME", "LANGUAGE", "ARCHITECTURE", "SPEAKERS", "DESCRIPTION"]
    row = next(r for r in rows if r.startswith("tiny-duration "))
    assert "duration (tiny test network)" in row and "Random weights" in row and " en " in row
    assert any(r.startswith("joe ") and "en-us" in r for r in rows)
    assert not any(r.startswith("broken") for r in rows)
    assert "broken addons (1;" in out and "addon.json is not valid JSON" in out
    assert "VOICESTACK_VOICES" in text.stderr.decode() and "missing is not a directory" in text.stderr.decode()
    listing = json.loads(run("voices", "--json", env=env).stdout)
    by_name = {v["name"]: v for v in listing}
    assert by_name["tiny-duration"]["ok"] and by_name["tiny-duration"]["sample_rate"] == 16000
    assert by_name["broken"]["ok"] is False and "not valid JSON" in by_name["broken"]["error"]
    assert by_name["joe-mel"]["architecture"].startswith("fastspeech")
    assert by_name["tiny-duration"]["speakers"] == [] and by_name["joe"]["speakers"] == []


def test_voices_show_speakers_and_say_takes_one(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = Path(__file__).resolve().parents[1] / "data"
    env = {"VOICESTACK_VOICES": str(data)}
    row = next(r for r in run("voices", env=env).stdout.decode().splitlines() if r.startswith("tiny_speakers_id "))
    assert "alice,bob,carol" in row
    listing = {v["name"]: v for v in json.loads(run("voices", "--json", env=env).stdout)}
    assert listing["tiny_speakers_style"]["speakers"] == ["alto", "bass"]
    voice = str(data / "tiny_speakers_style")
    alto = run("say", "hello there", "-v", voice, "--speaker", "alto", "--seed", "1", "--raw")
    bass = run("say", "hello there", "-v", voice, "--speaker", "bass", "--seed", "1", "--raw")
    assert alto.returncode == bass.returncode == 0, alto.stderr + bass.stderr
    assert alto.stdout and alto.stdout != bass.stdout  # another speaker, other audio
    line = one_line_error(run("say", "hi", "-v", voice, "--speaker", "tenor", "-o", "out.wav", cwd=tmp_path))
    assert "no speaker 'tenor'" in line and "alto, bass" in line
    assert entries(tmp_path) == []


def test_addon_commands_take_voice_names(run, tiny_copy) -> None:  # type: ignore[no-untyped-def]
    ok = run("addon", "validate", "joe-mel")
    assert ok.returncode == 0 and b"addon 'joe-mel'" in ok.stdout and b"is valid" in ok.stdout
    info = json.loads(run("addon", "inspect", "joe-mel", "--json").stdout)
    assert info["name"] == "joe-mel" and "encoder" in info["networks"]
    voices = tiny_copy().parent
    named = run("addon", "inspect", "tiny-duration", env={"VOICESTACK_VOICES": str(voices)})
    assert named.returncode == 0 and named.stdout.startswith(b"tiny-duration 0.1.0")
    line = one_line_error(run("addon", "inspect", "no-such-voice"))
    assert "unknown voice 'no-such-voice'" in line
    line = one_line_error(run("addon", "validate", "./not/here"))
    assert "not/here" in line


def test_dry_run_prints_pieces_and_synthesises_nothing(run, tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proc = run("say", "--dry-run", "Hi there. Bye!", "-v", tiny, "-o", "out.wav", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert lines[0].startswith("voice: tiny-duration")
    assert [line for line in lines if line.startswith("piece")] == ["piece 1: hi there.", "piece 2: bye!"]
    assert lines[2] == "  ids (9): 8 9 27 20 8 5 18 5 29"  # the character front-end's ids
    assert entries(tmp_path) == []


@pytest.mark.real_voice
def test_dry_run_with_joe_shows_normalised_text_and_phonemes(run) -> None:  # type: ignore[no-untyped-def]
    proc = run("say", "--dry-run", "Dr. Smith paid $5. Thanks!")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "normalised: Doctor Smith paid five dollars. Thanks!" in out
    assert "piece 1: dˈɑːktɚ smˈɪθ" in out and "piece 2: θˈæŋks!" in out
    assert "ids (" in out


def test_eval_default_texts_ship_with_the_package_and_a_bad_path_is_one_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from voicestack.evaluate import DEFAULT_TEXTS, read_texts

    assert len(read_texts(DEFAULT_TEXTS, "all", None)) == 630
    line = one_line_error(run("eval", "joe", "--texts", str(tmp_path / "none.txt"), cwd=tmp_path))
    assert "cannot read --texts" in line and "none.txt" in line
