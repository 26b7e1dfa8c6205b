"""The transport-free core on its own: no HTTP framework behind it, the sentence buffer,
the configuration, the pool and the scheduler's pacing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from service_helpers import TEXT, make_addon

from voicestack.service.core import ConfigError, SentenceBuffer, ServiceConfig, VoiceCatalog, VoicePool

FRAMEWORKS = ("starlette", "uvicorn", "websockets", "h11", "httptools", "wsproto", "fastapi")


def test_the_core_imports_no_wire_framework(data_voices: Path) -> None:
    """Imported with every HTTP/WebSocket framework blocked, the core (and the package's
    public names) still load and run a synthesis end to end."""
    code = f"""
import asyncio, sys
BLOCKED = {FRAMEWORKS!r}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
from voicestack.service import ServiceConfig
from voicestack.service.core import Service, SynthesisParams

async def main():
    service = Service(ServiceConfig(voices_dirs=(sys.argv[1],), builtins=False, default_voice="tiny", workers=1))
    s = await service.start(SynthesisParams("tiny", seed=1), "hello there.", 0.0, "test")
    n = 0
    while (chunk := await s.next()) is not None:
        n += chunk.audio.size
    s.finish("ok")
    service.close()
    print(n, service.idle(), sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))

asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code, str(data_voices)], capture_output=True, text=True,
                         timeout=120, env=_env_without_search_path())
    assert out.returncode == 0, out.stderr
    samples, idle, loaded = out.stdout.split(maxsplit=2)
    assert int(samples) > 0 and idle == "True" and loaded.strip() == "[]"


def _env_without_search_path() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.pop("VOICESTACK_VOICES", None)
    return env


@pytest.fixture
def data_voices(tmp_path: Path) -> Path:
    root = tmp_path / "voices"
    root.mkdir()
    make_addon(root / "tiny")
    return root


def test_sentences_are_cut_as_before() -> None:
    buf = SentenceBuffer(max_phrase=60)
    assert buf.add("Hello Mr. Smith, this is J. R. Tolk") == []
    assert buf.add("ien. And then") == ["Hello Mr. Smith, this is J. R. Tolkien."]
    assert buf.add(" more?! Yes") == ["And then more?!"]
    assert buf.add("\nNext") == ["Yes"]
    assert buf.flush() == ["Next"]
    long = buf.add("word " * 8 + "pause, " + "word " * 20)
    assert long[0].endswith("pause,") and len(long[0]) <= 60
    assert buf.add("3.5 apples") == [] and "3.5 apples" in buf.flush()[0]
    buf = SentenceBuffer()
    assert buf.add("e.g. this. ") == ["e.g. this."]  # after an ordinary word: at once
    assert buf.add("The U.S. ") == [] and buf.add("Army left at 5 p.m. on Jan. 3. No. 5 was ") == [
        "The U.S. Army left at 5 p.m. on Jan. 3."]  # after an abbreviation: the next word decides


@pytest.mark.parametrize("text", ["Mr. " * 25_000, "a." * 50_000, "x" * 100_000, "Mr. " * 3000 + "End. "])
def test_hostile_text_is_cut_into_bounded_pieces_keeping_every_word(text: str) -> None:
    buf = SentenceBuffer()
    pieces = buf.add(text) + buf.flush()
    assert all(len(p) <= 250 for p in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")


@pytest.mark.parametrize("unit", ["Mr. ", "a.", "word, ", "x"])
def test_sentence_buffer_scans_each_character_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch,
                                                                         unit: str) -> None:
    """A quadratic buffer ("Mr. " * 3000 once froze the event loop for 18 s) would rescan the
    whole text per message; every scan here covers a bounded window around the new text."""
    from voicestack.text import sentences

    scanned = [0]
    real = sentences.boundaries

    def counting(text: str, start: int = 0, **kwargs: Any) -> Any:
        scanned[0] += len(text) - start
        return real(text, start, **kwargs)

    monkeypatch.setattr(sentences, "boundaries", counting)
    text = unit * (100_000 // len(unit))
    buf = SentenceBuffer()
    for start in range(0, len(text), 5000):  # in messages, as a client sends it
        buf.add(text[start : start + 5000])
    buf.flush()
    assert 0 < scanned[0] <= 20 * len(text)


def test_config_is_validated_with_paths_in_messages(tmp_path: Path) -> None:
    path = tmp_path / "service.json"
    path.write_text(json.dumps({"voices_dir": str(tmp_path), "memory_budget_bytes": 1000, "workers": 3,
                                "voices": {"joe": {"profile": "static"}}}))
    cfg = ServiceConfig.load(path)
    assert cfg.voices_dirs == (tmp_path,) and cfg.memory_budget_bytes == 1000 and cfg.workers == 3
    assert cfg.voice_options("joe").profile == "static"
    for bad, key in [({"workers": 0}, "workers: got a number 0, expected >= 1"),
                     ({"max_queue": "x"}, "max_queue: got a string 'x', expected an integer"),
                     ({"wrkers": 1}, "wrkers: unknown parameter"),
                     ({"voices": {"joe": {"prof": 1}}}, "voices.joe.prof: unknown parameter"),
                     ({"voices_dirs": "x"}, "voices_dirs: got a string 'x'"),
                     ({"default_voice": ""}, "default_voice: got a string '', expected a non-empty string"),
                     ({"max_audio_seconds": 1e400}, "max_audio_seconds: got a number inf")]:
        path.write_text(json.dumps(bad))
        with pytest.raises(ConfigError) as err:
            ServiceConfig.load(path)
        assert key in str(err.value) and str(path) in str(err.value)
    path.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        ServiceConfig.load(path)
    path.write_text("[" * 100_000)
    with pytest.raises(ConfigError, match="not valid JSON"):
        ServiceConfig.load(path)


def test_vocoder_addons_are_not_voices(tmp_path: Path) -> None:
    root = tmp_path / "voices"
    root.mkdir()
    make_addon(root / "tiny")
    vocoder = make_addon(root / "voc")
    manifest = json.loads((vocoder / "addon.json").read_text())
    manifest["kind"] = "vocoder"
    (vocoder / "addon.json").write_text(json.dumps(manifest))
    names = VoiceCatalog((root,), builtins=True).names()
    assert "tiny" in names and "voc" not in names
    assert "joe" in names and "joe-vocoder" not in names


def _bytes(addon: Path) -> int:
    return sum(p.stat().st_size for p in addon.glob("*.onnx"))


def test_lru_unloading_under_a_byte_budget(tmp_path: Path) -> None:
    import onnx

    root = tmp_path / "voices"
    root.mkdir()
    a = make_addon(root / "a")
    make_addon(root / "b")  # the same network files as a: shared, counted once
    c = make_addon(root / "c", "tiny_autoregressive")
    d = make_addon(root / "d")
    model = onnx.load(str(d / "decoder.onnx"))
    model.producer_name = "a distinct copy"  # same function, different bytes
    onnx.save(model, str(d / "decoder.onnx"))
    budget = _bytes(a) + _bytes(c)
    pool = VoicePool(VoiceCatalog((root,), builtins=False), budget)

    for name in ("a", "b", "c"):
        pool.acquire(name).release()
    assert pool.loaded() == ["a", "b", "c"] and pool.memory_bytes() == budget  # a and b share their files
    pool.acquire("a").release()  # a is now the most recently used
    pool.acquire("d").release()  # over budget: unload least recently used first (b, then c)
    assert list(pool.unloaded) == ["b", "c"]
    assert pool.loaded() == ["a", "d"] and pool.memory_bytes() <= budget

    # a voice in use is never unloaded, even over budget; it goes when its lease closes
    tight = VoicePool(VoiceCatalog((root,), builtins=False), 1)
    held = tight.acquire("c")
    tight.acquire("a").release()
    assert tight.loaded() == ["c"] and list(tight.unloaded) == ["a"]
    assert held.voice.synthesize(TEXT, seed=1).audio.size > 0
    held.release()
    assert tight.loaded() == []


def _window_limits(samples: int, cpu_seconds: float, chunks: int = 6) -> list[float]:
    """The window_limit the scheduler sets before each pull of a stream whose chunks hold
    ``samples`` at 16 kHz and cost ``cpu_seconds`` of CPU each (max_job 0.1 s)."""
    import asyncio

    import numpy as np

    from voicestack.blocks import Request
    from voicestack.service.core import Scheduler
    from voicestack.voice import AudioChunk

    limits: list[float] = []
    req = Request()

    def pulls():
        for _ in range(chunks):
            limits.append(req.window_limit or 0.0)
            spin = time.thread_time() + cpu_seconds
            while time.thread_time() < spin:
                pass
            yield AudioChunk(np.zeros(samples, np.float32), 16000)

    async def main() -> None:
        sched = Scheduler(1, 4, 4, max_job=0.1)
        stream = sched.open(pulls(), req)
        while await stream.next() is not None:
            pass
        sched.shutdown()

    asyncio.run(main())
    return limits


def test_first_window_is_small_and_windows_grow_with_the_lead() -> None:
    """The scheduler's pacing: window_limit 1 for the first chunk, then bounded by the
    job budget and the lead over real time."""
    limits = _window_limits(8000, 0.005)  # 0.5 s of audio for 5 ms: 100x faster than real time
    assert limits[0] == 1.0
    assert all(x >= 1.0 for x in limits)
    # a lead of ~0.5 s per chunk: a step may take min(0.1 s, lead/2), i.e. ~10 chunks' worth
    assert max(limits[1:]) > 1.5


def test_a_stream_behind_real_time_keeps_efficient_windows() -> None:
    """A stream with no lead (its audio costs more than real time) still gets windows
    worth half a step's budget: shrinking them to the first window's size would spend
    the step on context frames and fall further behind."""
    limits = _window_limits(160, 0.02)  # 10 ms of audio for 20 ms of CPU: never any lead
    assert limits[0] == 1.0
    # rate 2 CPU s per audio s, unit 10 ms: half of max_job (0.05 s) buys 2.5 units
    assert min(limits[1:]) >= 2.0, limits


def test_the_service_shares_the_cores_among_its_workers() -> None:
    import os

    from voicestack.service.core import ServiceConfig

    cpus = os.cpu_count() or 1
    assert ServiceConfig(workers=cpus).threads_per_run == 1
    assert ServiceConfig(workers=1).threads_per_run == cpus
    assert ServiceConfig(workers=1, threads=3).threads_per_run == 3
