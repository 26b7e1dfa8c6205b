"""Load test of `voicestack serve` on loopback: N concurrent clients, each streaming one
utterance from POST /v1/audio/speech.

    python bench/bench_service.py [--voice joe] [--levels 1,4,8,16] [--rounds 2] [--workers N]
    python bench/bench_service.py --ray 2 ...     # also through Ray Serve (2 replicas), side by side

Starts its own server process on a free loopback port, warms the voice up, then for
each concurrency level runs ``rounds`` rounds of N simultaneous requests and prints:
p50/p95 time to first audio (first body byte), audio seconds delivered per wall second,
the slowest stream's speed (audio seconds / its wall seconds; > 1 is faster than real
time), errors, the server's peak RSS, and its CPU cost: CPU seconds (all its threads) per
second of audio delivered, and cores busy (CPU seconds per wall second). The last line
states the capacity model of docs/scale-out.md from the single-stream CPU cost and checks
its prediction of the throughput at the highest level. With ``--ray N`` a second server,
``voicestack serve --ray`` with N replicas sharing the same cores, is measured level by level
in turn with the plain one (both up at once, only one loaded at a time), and the ratios are
printed. Ratios are measured in this one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

TEXT = ("The quick brown fox jumps over the lazy dog. Streaming speech starts playing while the rest "
        "of the sentence is still being computed. This is how a voice service should feel.")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants (with --ray: Ray's processes and the replicas)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]), []).append(
                    int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [root], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakRss:
    """Samples the server's RSS every 50 ms (VmHWM is process-lifetime, this is per level)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(rss_kib(p) for p in self.pids))
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def one(client: httpx.AsyncClient, url: str, body: dict[str, object]) -> dict[str, float]:
    start = time.perf_counter()
    first = None
    n = 0
    async with client.stream("POST", f"{url}/v1/audio/speech", json=body) as r:
        if r.status_code != 200:
            await r.aread()
            return {"error": 1.0, "status": float(r.status_code)}
        rate = int(r.headers["x-sample-rate"])
        async for part in r.aiter_raw():
            if part and first is None:
                first = time.perf_counter() - start
            n += len(part)
    wall = time.perf_counter() - start
    audio = n / 2 / rate
    return {"error": 0.0, "ttfa": first or wall, "wall": wall, "audio": audio}


async def delayed(seconds: float, coro: Any) -> Any:
    await asyncio.sleep(seconds)
    return await coro


async def level(url: str, clients: int, rounds: int, voice: str, text: str, spread: float) -> dict[str, float]:
    results: list[dict[str, float]] = []
    wall_total = 0.0
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        for r in range(rounds):
            body = {"model": "tts-1", "input": text, "voice": voice, "response_format": "pcm", "seed": r}
            start = time.perf_counter()
            starts = [spread * i / clients for i in range(clients)]  # 0: all at once (a burst)
            outs = await asyncio.gather(*(delayed(t, one(client, url, body)) for t in starts),
                                        return_exceptions=True)
            wall_total += time.perf_counter() - start
            for out in outs:
                results.append(out if isinstance(out, dict) else {"error": 1.0})
    ok = [x for x in results if not x["error"]]
    ttfa = sorted(x["ttfa"] for x in ok) or [float("nan")]

    def pct(p: float) -> float:
        return ttfa[min(len(ttfa) - 1, int(round(p * (len(ttfa) - 1))))]

    return {"clients": clients, "requests": len(results), "errors": len(results) - len(ok),
            "p50": pct(0.5), "p95": pct(0.95), "throughput": sum(x["audio"] for x in ok) / wall_total,
            "audio": sum(x["audio"] for x in ok), "wall": wall_total,
            "slowest": min((x["audio"] / x["wall"] for x in ok), default=float("nan"))}


def capacity_check(single: dict[str, float], top: dict[str, float], cores: float) -> None:
    """The capacity model (docs/scale-out.md) from the single-stream cost, and its
    predictions for the highest level: throughput = min(N x single-stream speed, cores / cost),
    with the nominal cores, and with the cores the server was actually given there (on a
    shared machine the difference is other people's load)."""
    cost = single["cpu_per_audio"]
    speed = single["audio"] / single["wall"]  # one stream's audio s per wall s, alone
    nominal = min(top["clients"] * speed, cores / cost)
    given = min(top["clients"] * speed, top["cores"] / cost)
    print(f"capacity model: {cost:.3f} CPU s per audio s (1 stream) -> {cores:g} cores sustain "
          f"{cores / cost:.1f} real-time streams at full use, {0.7 * cores / cost:.1f} at 70 %")
    print(f"  at {top['clients']:.0f} clients: measured {top['throughput']:.2f} audio s/s, "
          f"{top['cpu_per_audio']:.3f} CPU s per audio s, {top['cores']:.2f} cores busy; predicted "
          f"{nominal:.2f} with {cores:g} cores ({top['throughput'] / nominal:.2f}x), {given:.2f} with the "
          f"{top['cores']:.2f} cores it got ({top['throughput'] / given:.2f}x); per stream predicted "
          f"{given / top['clients']:.2f}x real time, measured slowest {top['slowest']:.2f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voice", default="joe")
    ap.add_argument("--voices-dir", help="addon directory to serve (default: the built-ins only)")
    ap.add_argument("--levels", default="1,4,8,16")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--threads", type=int, default=0,
                    help="runtime threads per network run (profile 'threads'; 0: the runtime's default)")
    ap.add_argument("--spread", type=float, default=0.0,
                    help="start a level's clients evenly over this many seconds (default 0: all at once)")
    ap.add_argument("--text", default=TEXT)
    ap.add_argument("--ray", type=int, default=0, metavar="REPLICAS",
                    help="serve through `voicestack serve --ray` with this many replicas (CPU and RSS then count "
                         "every process of the deployment, Ray's own included)")
    ap.add_argument("--cores", type=float, default=0,
                    help="cores the capacity model may count on (default: this machine's CPU count)")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    with ExitStack() as stack:
        servers = [stack.enter_context(server(args, levels, 0))]
        if args.ray:
            servers.append(stack.enter_context(server(args, levels, args.ray)))
        if any(sv is None for sv in servers):
            return 1
        tables: list[list[dict[str, float]]] = [[] for _ in servers]
        for clients in levels:  # level by level, each server in turn: the same machine load for both
            for sv, rows in zip(servers, tables, strict=True):
                rows.append(measure_level(args, sv, clients))
    for sv, rows in zip(servers, tables, strict=True):
        print_table(args, sv, rows)
    if args.ray:
        print(f"through Ray ({args.ray} replicas) / direct, measured level by level in this run:")
        for d, r in zip(tables[0], tables[1], strict=True):
            print(f"  {d['clients']:>3.0f} clients: CPU s per audio s {r['cpu_per_audio'] / d['cpu_per_audio']:.2f}x, "
                  f"throughput {r['throughput'] / d['throughput']:.2f}x, p50 TTFA {r['p50'] / d['p50']:.2f}x")
    return 0


@dataclass
class Server:
    url: str
    tree: list[int]
    workers: int
    replicas: int


@contextmanager
def server(args: argparse.Namespace, levels: list[int], replicas: int) -> Iterator[Server | None]:
    """A server process (``replicas``: 0 a plain one, else through Ray), warmed up."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workers = max(1, args.workers // replicas) if replicas else args.workers  # the same cores in total
    cfg = {"workers": workers, "max_active_streams": max(levels) + 4, "max_queue": max(levels) + 4,
           "default_voice": args.voice, "voices_dirs": [args.voices_dir] if args.voices_dir else []}
    if args.threads:
        cfg["voices"] = {args.voice: {"profile": {"threads": args.threads}}}
    files = []
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(cfg, f)
        files.append(f.name)
    cmd = [sys.executable, "-m", "voicestack.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--config", f.name]
    if replicas:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as r:
            json.dump({"replicas": replicas, "replica_cpus": (os.cpu_count() or 1) / replicas,
                       "ingress_cpus": 0}, r)
            files.append(r.name)
        cmd += ["--ray", r.name]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + (240 if replicas else 60)
        while True:
            try:
                if replicas:
                    if len(httpx.get(f"{url}/v1/replicas", timeout=10).json()["data"]) == replicas:
                        break
                elif httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except (httpx.TransportError, ValueError, KeyError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                print("the server did not start", file=sys.stderr)
                yield None
                return
            time.sleep(0.2)
        for _ in range(max(1, replicas)):  # with Ray, let each replica load the voice
            warm = httpx.post(f"{url}/v1/audio/speech", json={"input": args.text, "voice": args.voice}, timeout=120)
            warm.raise_for_status()
        yield Server(url, process_tree(proc.pid), workers, replicas)
    finally:
        proc.terminate()  # with --ray, the command shuts Ray down on SIGTERM
        try:
            proc.wait(120 if replicas else 10)
        except subprocess.TimeoutExpired:
            proc.kill()
        for name in files:
            os.unlink(name)


def measure_level(args: argparse.Namespace, sv: Server, clients: int) -> dict[str, float]:
    cpu0 = sum(cpu_seconds(p) for p in sv.tree)
    with PeakRss(sv.tree) as peak:
        row = asyncio.run(level(sv.url, clients, args.rounds, args.voice, args.text, args.spread))
    row["rss_mb"] = peak.peak / 1024
    cpu = sum(cpu_seconds(p) for p in sv.tree) - cpu0
    row["cpu_per_audio"] = cpu / row["audio"] if row["audio"] else float("nan")
    row["cores"] = cpu / row["wall"]
    return row


def print_table(args: argparse.Namespace, sv: Server, rows: list[dict[str, float]]) -> None:
    mode = f"ray replicas={sv.replicas} processes={len(sv.tree)} " if sv.replicas else ""
    print(f"{mode}voice={args.voice} workers={sv.workers} threads={args.threads or 'default'} rounds={args.rounds} "
          f"spread={args.spread}s cpus={os.cpu_count()} text={len(args.text)} chars")
    print(f"{'clients':>7} {'reqs':>5} {'p50 TTFA':>9} {'p95 TTFA':>9} {'audio s/s':>9} "
          f"{'slowest x RT':>12} {'errors':>6} {'peak RSS':>9} {'CPU s/audio s':>13} {'cores busy':>10}")
    for row in rows:
        print(f"{row['clients']:>7} {row['requests']:>5} {row['p50'] * 1000:>7.0f}ms {row['p95'] * 1000:>7.0f}ms "
              f"{row['throughput']:>9.2f} {row['slowest']:>12.2f} {row['errors']:>6} {row['rss_mb']:>7.0f}MB "
              f"{row['cpu_per_audio']:>13.3f} {row['cores']:>10.2f}")
    single = next((r for r in rows if r["clients"] == 1), None)
    if single and rows[-1] is not single:
        capacity_check(single, rows[-1], args.cores or os.cpu_count() or 1)
    eight = next((r for r in rows if r["clients"] == 8), None) if not sv.replicas else None
    if single and eight:
        ratio = eight["p95"] / single["p50"]
        verdict = "met" if ratio <= 3 and eight["errors"] == 0 and eight["slowest"] > 1 else "NOT met"
        print(f"target at 8 streams (p95 TTFA <= 3x single-stream, 0 errors, every stream faster than real "
              f"time): p95/single = {ratio:.2f}x, errors {eight['errors']}, slowest {eight['slowest']:.2f}x "
              f"real time -> {verdict}")
    print()


if __name__ == "__main__":
    sys.exit(main())
