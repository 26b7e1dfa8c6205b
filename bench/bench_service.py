"""Load test of `voicestack serve` on loopback: N concurrent clients, each streaming one
paragraph from POST /v1/audio/speech and playing it as it arrives.

    python bench/bench_service.py [--voice joe] [--levels 1,4,8,16] [--rounds 2] [--workers N]
    python bench/bench_service.py --ray 2 ...     # also through Ray Serve (2 replicas), side by side
    python bench/bench_service.py --batch 8 ...   # also with cross-request batching, side by side

Starts its own server process on a free loopback port, warms the voice up, then for
each concurrency level runs ``rounds`` rounds of N simultaneous requests. Every client
gets its own paragraph of 80-150 words (consecutive held-out sentences of the LJ corpus,
``--words`` to change the range; ``--text`` gives every client one fixed text instead).
Each client is a listener that starts playing at the first byte: "dry" is the longest
time its buffer ran empty after playback started (the audio received so far was all
played before the next bytes came). Printed per level: p50/p95 time to first audio
(first body byte), the longest dry time of any listener, audio seconds delivered per
wall second, the slowest stream's speed (audio seconds / its wall seconds; > 1 is faster
than real time), errors, the server's peak RSS, and its CPU cost: CPU seconds (all its
threads) per second of audio delivered, and cores busy (CPU seconds per wall second).
Then an overload burst (``--overload``, default: twice what the server holds) checks that
clients beyond its slots and queue get 503 with Retry-After at once, and none hangs. The last line
states the capacity model of docs/scale-out.md from the single-stream CPU cost and checks
its prediction of the throughput at the highest level. With ``--ray N`` a second server,
``voicestack serve --ray`` with N replicas sharing the same cores, is measured level by level
in turn with the plain one (both up at once, only one loaded at a time), and the ratios are
printed. With ``--batch N`` the second server's voice has the profile ``{"batch": N}`` and
``--batch-workers`` workers (default N: a batch needs that many streams in a step at once).
Ratios are measured in this one run.
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

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ROOT / "src" / "voicestack" / "data" / "heldout-texts.txt"
SHORT = "The quick brown fox jumps over the lazy dog."


def paragraphs(lo: int, hi: int) -> list[str]:
    """Paragraphs of lo..hi words: runs of consecutive held-out lines that are whole
    sentences (a capital first, a stop last), each paragraph different."""
    lines = [ln.strip() for ln in SENTENCES.read_text(encoding="utf-8").splitlines()]
    whole = [ln for ln in lines if ln[:1].isupper() and ln.endswith((".", "?", "!"))]
    out: list[str] = []
    run: list[str] = []
    for line in whole:
        if sum(len(x.split()) for x in run) + len(line.split()) > hi:
            run = []
        run.append(line)
        if sum(len(x.split()) for x in run) >= lo:
            out.append(" ".join(run))
            run = []
    return out


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
    """One listener: plays from the first byte on; ``dry`` is its longest silence after that."""
    start = time.perf_counter()
    first = None
    n = 0
    played_from = 0.0  # when playback (re)started, shifted by every underrun
    dry = 0.0
    async with client.stream("POST", f"{url}/v1/audio/speech", json=body) as r:
        if r.status_code != 200:
            await r.aread()
            return {"error": 1.0, "status": float(r.status_code),
                    "retry_after": 1.0 if r.headers.get("retry-after") else 0.0}
        rate = int(r.headers["x-sample-rate"])
        async for part in r.aiter_raw():
            if not part:
                continue
            now = time.perf_counter()
            if first is None:
                first, played_from = now - start, now
            else:
                gap = now - played_from - n / 2 / rate  # > 0: everything received was played already
                if gap > 0:
                    dry = max(dry, gap)
                    played_from += gap
            n += len(part)
    wall = time.perf_counter() - start
    audio = n / 2 / rate
    return {"error": 0.0, "ttfa": first or wall, "wall": wall, "audio": audio, "dry": dry}


async def delayed(seconds: float, coro: Any) -> Any:
    await asyncio.sleep(seconds)
    return await coro


async def level(url: str, clients: int, rounds: int, voice: str, texts: list[str],
                spread: float) -> dict[str, float]:
    results: list[dict[str, float]] = []
    wall_total = 0.0
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        for r in range(rounds):
            bodies = [{"model": "tts-1", "input": texts[(r * clients + i) % len(texts)], "voice": voice,
                       "response_format": "pcm", "seed": r} for i in range(clients)]
            start = time.perf_counter()
            starts = [spread * i / clients for i in range(clients)]  # 0: all at once (a burst)
            outs = await asyncio.gather(*(delayed(t, one(client, url, b)) for t, b in zip(starts, bodies, strict=True)),
                                        return_exceptions=True)
            wall_total += time.perf_counter() - start
            for out in outs:
                results.append(out if isinstance(out, dict) else {"error": 1.0})
    ok = [x for x in results if not x["error"]]
    ttfa = sorted(x["ttfa"] for x in ok) or [float("nan")]

    def pct(p: float) -> float:
        return ttfa[min(len(ttfa) - 1, int(round(p * (len(ttfa) - 1))))]

    return {"clients": clients, "requests": len(results), "errors": len(results) - len(ok),
            "p50": pct(0.5), "p95": pct(0.95), "dry": max((x["dry"] for x in ok), default=float("nan")),
            "throughput": sum(x["audio"] for x in ok) / wall_total,
            "audio": sum(x["audio"] for x in ok), "wall": wall_total,
            "slowest": min((x["audio"] / x["wall"] for x in ok), default=float("nan"))}


def describe(texts: list[str]) -> str:
    words = sorted(len(t.split()) for t in texts)
    if len(texts) == 1:
        return f"text={len(texts[0])} chars, {words[0]} words"
    return f"texts={len(texts)} paragraphs of {words[0]}-{words[-1]} words (median {words[len(words) // 2]})"


async def overload_burst(sv: Server, clients: int, voice: str) -> dict[str, float]:
    """``clients`` requests at once, more than the server holds: each must end (200, or
    503 with Retry-After) within the timeout; none may hang."""
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    timeout = 60.0
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        start = time.perf_counter()
        body = {"input": SHORT, "voice": voice, "response_format": "pcm"}
        outs = await asyncio.gather(*(one(client, sv.url, body) for _ in range(clients)), return_exceptions=True)
        wall = time.perf_counter() - start
    done = [o for o in outs if isinstance(o, dict)]
    refused = [o for o in done if o["error"] and o.get("status") == 503]
    return {"clients": clients, "ok": sum(1 for o in done if not o["error"]), "refused": len(refused),
            "retry_after": sum(o["retry_after"] for o in refused), "hung": len(outs) - len(done),
            "other": sum(1 for o in done if o["error"] and o.get("status") != 503), "wall": wall}


def print_overload(sv: Server, o: dict[str, float]) -> None:
    verdict = ("met" if o["hung"] == 0 and o["other"] == 0 and o["refused"] >= o["clients"] - sv.holds
               and o["retry_after"] == o["refused"] else "NOT met")
    print(f"overload: {o['clients']:.0f} clients at once, the server holds {sv.holds} (slots + queue): "
          f"{o['ok']:.0f} served, {o['refused']:.0f} refused 503 ({o['retry_after']:.0f} with Retry-After), "
          f"{o['other']:.0f} other errors, {o['hung']:.0f} hung or failed, all done in {o['wall']:.1f} s -> {verdict}")


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
                    help="intra-op threads per network run (the service's `threads`; 0: its default, the "
                         "cores shared out among the workers)")
    ap.add_argument("--spread", type=float, default=0.0,
                    help="start a level's clients evenly over this many seconds (default 0: all at once)")
    ap.add_argument("--text", help="one fixed text for every client (default: a paragraph each)")
    ap.add_argument("--words", default="80,150", help="paragraph length range in words (default 80,150)")
    ap.add_argument("--overload", type=int, default=-1,
                    help="clients in the overload burst (default: twice the server's slots + queue; 0: skip)")
    ap.add_argument("--ray", type=int, default=0, metavar="REPLICAS",
                    help="serve through `voicestack serve --ray` with this many replicas (CPU and RSS then count "
                         "every process of the deployment, Ray's own included)")
    ap.add_argument("--batch", type=int, default=0, metavar="N",
                    help="also measure a server whose voice batches up to N calls (profile batch: N), side by side")
    ap.add_argument("--batch-workers", type=int, default=0, help="its workers (default: N)")
    ap.add_argument("--batch-wait-ms", type=float, default=2.0, help="its profile's batch_wait_ms")
    ap.add_argument("--cores", type=float, default=0,
                    help="cores the capacity model may count on (default: this machine's CPU count)")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    lo, hi = (int(x) for x in args.words.split(","))
    args.texts = [args.text] if args.text else paragraphs(lo, hi)

    with ExitStack() as stack:
        servers = [stack.enter_context(server(args, levels, 0))]
        if args.ray:
            servers.append(stack.enter_context(server(args, levels, args.ray)))
        elif args.batch > 1:
            servers.append(stack.enter_context(server(args, levels, 0, batch=args.batch)))
        if any(sv is None for sv in servers):
            return 1
        tables: list[list[dict[str, float]]] = [[] for _ in servers]
        for clients in levels:  # level by level, each server in turn: the same machine load for both
            for sv, rows in zip(servers, tables, strict=True):
                rows.append(measure_level(args, sv, clients))
                row = rows[-1]
                print(f"[{'batch' if sv.batch else 'ray' if sv.replicas else 'plain'} {clients} clients: p50 "
                      f"{row['p50'] * 1000:.0f} ms, p95 {row['p95'] * 1000:.0f} ms, dry {row['dry'] * 1000:.0f} ms, "
                      f"{row['throughput']:.2f} audio s/s, load average {os.getloadavg()[0]:.2f}]",
                      file=sys.stderr, flush=True)
        burst = args.overload if args.overload >= 0 else 2 * servers[0].holds
        overload = asyncio.run(overload_burst(servers[0], burst, args.voice)) if burst and not args.ray else None
    for sv, rows in zip(servers, tables, strict=True):
        print_table(args, sv, rows)
    if overload:
        print_overload(servers[0], overload)
    if args.batch > 1 and not args.ray:
        print(f"batching (batch {args.batch}, {servers[1].workers} workers) / plain ({servers[0].workers} workers), "
              "measured level by level in this run:")
        for d, b in zip(tables[0], tables[1], strict=True):
            print(f"  {d['clients']:>3.0f} clients: CPU s per audio s {b['cpu_per_audio'] / d['cpu_per_audio']:.2f}x, "
                  f"throughput {b['throughput'] / d['throughput']:.2f}x, p50 TTFA {b['p50'] / d['p50']:.2f}x, "
                  f"p95 TTFA {b['p95'] / d['p95']:.2f}x")
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
    holds: int  # streams it takes at once: slots + waiting line
    batch: int = 0


@contextmanager
def server(args: argparse.Namespace, levels: list[int], replicas: int, batch: int = 0) -> Iterator[Server | None]:
    """A server process (``replicas``: 0 a plain one, else through Ray; ``batch``: its voice
    batches calls), warmed up."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workers = max(1, args.workers // replicas) if replicas else args.workers  # the same cores in total
    if batch:
        workers = args.batch_workers or batch
    cfg = {"workers": workers, "max_active_streams": max(levels), "max_queue": max(1, max(levels) // 2),
           "default_voice": args.voice, "voices_dirs": [args.voices_dir] if args.voices_dir else []}
    if args.threads:
        cfg["threads"] = args.threads
    if batch:
        cfg["threads"] = args.threads or 1  # its workers outnumber the cores: one thread per run
        cfg["voices"] = {args.voice: {"profile": {"batch": batch, "batch_wait_ms": args.batch_wait_ms}}}
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
            warm = httpx.post(f"{url}/v1/audio/speech", json={"input": SHORT, "voice": args.voice}, timeout=120)
            warm.raise_for_status()
        yield Server(url, process_tree(proc.pid), workers, replicas, cfg["max_active_streams"] + cfg["max_queue"],
                     batch)
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
        row = asyncio.run(level(sv.url, clients, args.rounds, args.voice, args.texts, args.spread))
    row["rss_mb"] = peak.peak / 1024
    cpu = sum(cpu_seconds(p) for p in sv.tree) - cpu0
    row["cpu_per_audio"] = cpu / row["audio"] if row["audio"] else float("nan")
    row["cores"] = cpu / row["wall"]
    return row


def print_table(args: argparse.Namespace, sv: Server, rows: list[dict[str, float]]) -> None:
    mode = f"ray replicas={sv.replicas} processes={len(sv.tree)} " if sv.replicas else ""
    mode += f"batch={sv.batch} " if sv.batch else ""
    print(f"{mode}voice={args.voice} workers={sv.workers} threads={args.threads or 'auto'} rounds={args.rounds} "
          f"spread={args.spread}s cpus={os.cpu_count()} {describe(args.texts)}")
    print(f"{'clients':>7} {'reqs':>5} {'p50 TTFA':>9} {'p95 TTFA':>9} {'dry':>7} {'audio s/s':>9} "
          f"{'slowest x RT':>12} {'errors':>6} {'peak RSS':>9} {'CPU s/audio s':>13} {'cores busy':>10}")
    for row in rows:
        print(f"{row['clients']:>7} {row['requests']:>5} {row['p50'] * 1000:>7.0f}ms {row['p95'] * 1000:>7.0f}ms "
              f"{row['dry'] * 1000:>5.0f}ms {row['throughput']:>9.2f} {row['slowest']:>12.2f} {row['errors']:>6} {row['rss_mb']:>7.0f}MB "
              f"{row['cpu_per_audio']:>13.3f} {row['cores']:>10.2f}")
    single = next((r for r in rows if r["clients"] == 1), None)
    if single and rows[-1] is not single:
        capacity_check(single, rows[-1], args.cores or os.cpu_count() or 1)
    eight = next((r for r in rows if r["clients"] == 8), None) if not sv.replicas else None
    if single and eight:
        ratio = eight["p95"] / single["p50"]
        verdict = "met" if ratio <= 2 and eight["errors"] == 0 and eight["dry"] == 0 else "NOT met"
        print(f"target at 8 streams (p95 TTFA <= 2x single-stream p50, no listener runs dry, 0 errors): "
              f"p95/single = {ratio:.2f}x, longest dry {eight['dry'] * 1000:.0f} ms, errors {eight['errors']} "
              f"-> {verdict}")
        gain = eight["throughput"] / single["throughput"]
        print(f"throughput at 8 streams / at 1: {gain:.2f}x -> {'met' if gain >= 1 else 'NOT met'}")
    sixteen = next((r for r in rows if r["clients"] == 16), None)
    if sixteen:
        print(f"16 streams: {sixteen['errors']} errors -> {'met' if sixteen['errors'] == 0 else 'NOT met'}")
    print()


if __name__ == "__main__":
    sys.exit(main())
