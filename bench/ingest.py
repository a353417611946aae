#!/usr/bin/env python3
"""Supervisor ingest: sustained usage events/s from 50 flooding agents into the audit log.

    .venv/bin/python bench/ingest.py [--agents 50] [--seconds 10] [--profile]

Two passes over the same agents (bench/agents/usage_flood.py: pre-built
native usage lines written in ~48 KiB buffers, as fast as the pipe takes
them, for ``--seconds``; each agent reports what it wrote to a file):

1. the real thing: ``Supervisor`` + ``AuditStore`` in a temp dir, every line
   through framing → native adapter → pricing → governor and meters → bus →
   batched, hash-chained audit writer. Budgets are set high so nothing stops.
   Afterwards the audit database is counted per agent and compared with what
   each agent says it wrote, and the meters' token totals with the agents'.
2. a bare baseline, the fair ceiling on this machine: one asyncio loop reads
   the same agents' pipes in 64 KiB chunks, splits lines, ``json.loads`` each,
   stamps it, and stores it with plain sqlite3 — canonical ``json.dumps``
   (sorted keys) + sha256 chain + ``executemany`` of 1,000 rows per
   transaction, in the loop's own thread.

Events/s is usage rows committed / wall time from start until the last one is
committed (agent start-up and drain included, in both passes); "steady" is
the rate events were taken in between 1.5 s and the agents' end. CPU is this
process's own user+system time (all threads, the audit writer's included)
over wall time; agents and supervisor share the machine's cores. "Loop
thread µs CPU per event" is the event loop's own thread's CPU time over the
events (the bare loop does everything in it; the supervisor's audit writer
has a thread of its own): the figure load on the machine skews least.
Targets (issue 11): over 50,000 events/s on this machine, at least 0.8 of the
bare loop measured in the same run, every event in the audit log.

``--profile`` runs the supervisor pass under cProfile (event-loop thread
only; the audit writer's thread is not seen) and prints the top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import hashlib
import io
import json
import os
import pstats
import resource
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controlroom.models import (  # noqa: E402
    AgentSpec,
    Budget,
    SwarmConfig,
    SwarmSettings,
    new_run_id,
)
from controlroom.store.schema import GENESIS_HASH, MIGRATIONS  # noqa: E402
from controlroom.store.writer import AuditStore  # noqa: E402
from controlroom.swarm.supervisor import Supervisor, tune_interpreter  # noqa: E402

FLOOD = Path(__file__).resolve().parent / "agents" / "usage_flood.py"
CHUNK = 1 << 16
BATCH = 1_000
TARGET_RATE = 50_000
TARGET_RATIO = 0.8


@dataclass
class Written:
    """What the agents say they wrote, per agent."""

    lines: dict[str, int]
    input_tokens: int
    output_tokens: int

    @property
    def total(self) -> int:
        return sum(self.lines.values())


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class PassResult:
    rows: int
    seconds: float
    cpu_percent: float
    steady_rate: float | None
    loop_cpu: float  # CPU seconds of the event loop's thread over the pass

    @property
    def loop_us_per_event(self) -> float:
        return 1e6 * self.loop_cpu / self.rows

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def agent_names(count: int) -> list[str]:
    return [f"flood-{i:02d}" for i in range(count)]


def count_file(directory: Path, name: str) -> Path:
    return directory / f"{name}.count.json"


def read_written(directory: Path, names: list[str]) -> Written:
    lines: dict[str, int] = {}
    tokens_in = tokens_out = 0
    for name in names:
        path = count_file(directory, name)
        if not path.exists():
            raise SystemExit(f"agent {name} wrote no count file {path} (did it crash?)")
        data = json.loads(path.read_text())
        lines[name] = data["lines"]
        tokens_in += data["input_tokens"]
        tokens_out += data["output_tokens"]
    return Written(lines, tokens_in, tokens_out)


class GcWatch:
    """The garbage collector's collections while it watches: how many, their CPU, the longest,
    and each one's wall time by generation (``pauses_ms``: what the loop waited, preempted or not).

    Why: under a flood every event waiting for its commit is a young object
    the collector traverses, and its pauses land on the thread that
    allocated last (usually the event loop's): a share of the loop's CPU and
    a stall the governor's decisions wait behind.
    """

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.cpu = 0.0
        self.longest = 0.0
        self.pauses_ms: dict[int, list[float]] = {}
        self._started: dict[int, tuple[float, float]] = {}

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        thread = threading.get_ident()
        if phase == "start":
            self._started[thread] = (time.thread_time(), time.perf_counter())
            return
        cpu, wall = self._started.pop(thread, (time.thread_time(), time.perf_counter()))
        took = time.thread_time() - cpu
        generation = info["generation"]
        self.collections[generation] += 1
        self.cpu += took
        self.longest = max(self.longest, took)
        self.pauses_ms.setdefault(generation, []).append((time.perf_counter() - wall) * 1000)

    def describe(self, events: int) -> str:
        young, middle, old = self.collections
        return (
            f"garbage collector: {young} / {middle} / {old} collections (gen 0 / 1 / 2), "
            f"{self.cpu * 1e3:,.0f} ms CPU ({1e6 * self.cpu / max(events, 1):.2f} µs per event), "
            f"longest {self.longest * 1e3:.1f} ms"
        )


class CpuClock:
    """This process's CPU seconds (all threads), the loop thread's, and wall seconds since made.

    Made and read in the event loop's thread: ``thread_time`` is the CPU of
    the thread that calls it, the figure that load on the machine does not
    skew (wall rates do: the bare loop and the supervisor share two cores
    with everything else running).
    """

    def __init__(self) -> None:
        self._proc = psutil.Process(os.getpid())
        self._cpu0 = self._cpu()
        self._wall0 = time.perf_counter()
        self._thread0 = time.thread_time()

    def loop_thread(self) -> float:
        """CPU seconds of the calling thread (the event loop's) since made."""
        return time.thread_time() - self._thread0

    def _cpu(self) -> float:
        times = self._proc.cpu_times()
        return times.user + times.system

    def wall(self) -> float:
        return time.perf_counter() - self._wall0

    def percent(self) -> float:
        return 100.0 * (self._cpu() - self._cpu0) / self.wall()


def steady(samples: list[tuple[float, int]], start: float, end: float) -> float | None:
    """A counter's rate between the first sample at/after ``start`` and the last before ``end``."""
    inside = [(t, n) for t, n in samples if start <= t <= end]
    if len(inside) < 2 or inside[-1][0] - inside[0][0] < 1.0:
        return None
    (t0, n0), (t1, n1) = inside[0], inside[-1]
    return (n1 - n0) / (t1 - t0)


# ------------------------------------------------------------------ 1. the supervisor


async def supervisor_pass(
    directory: Path, names: list[str], seconds: float
) -> tuple[PassResult, Written, dict[str, int], GcWatch]:
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "audit.db"
    # the highest limits a config may set: nothing here comes near them
    high = Budget(max_tokens=10**10, max_cost_usd=1e6, max_turns=10**6, kill_grace_seconds=1)
    config = SwarmConfig(
        swarm=SwarmSettings(
            name="ingest-bench",
            audit_db=str(db),
            run_dir=str(directory / "run"),
            max_cost_usd=1e6,
        ),
        agents=[
            AgentSpec(
                name=name,
                command=[
                    sys.executable,
                    str(FLOOD),
                    str(seconds),
                    str(count_file(directory, name)),
                ],
                budget=high,
            )
            for name in names
        ],
    )
    run_id = new_run_id()
    store = await AuditStore.open(db, run_id)
    tune_interpreter()  # as the CLI does where a swarm starts
    supervisor = Supervisor(config, store, run_id=run_id, base_dir=directory)
    samples: list[tuple[float, int]] = []
    backlog = 0
    clock = CpuClock()

    async def sample() -> None:
        nonlocal backlog
        while True:
            samples.append((clock.wall(), store.last_seq))
            backlog = max(backlog, store.pending)
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    try:
        with GcWatch() as collector:
            await supervisor.start()
            ok = await supervisor.wait()
            await supervisor.close()  # RunEnded is committed: so is everything before it
        elapsed, cpu, loop_cpu = clock.wall(), clock.percent(), clock.loop_thread()
    finally:
        sampler.cancel()
        await store.close()
    if not ok:
        raise SystemExit(f"supervisor pass: not every agent ended done: {supervisor.states()}")
    snap = supervisor.snapshot()
    meters = {
        "input_tokens": snap.input_tokens,
        "output_tokens": snap.output_tokens,
        "turns": snap.turns,
    }

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    per_agent = dict(
        conn.execute(
            "SELECT agent, count(*) FROM events WHERE run = ? AND kind = 'usage' GROUP BY agent",
            (run_id,),
        ).fetchall()
    )
    malformed = conn.execute(
        "SELECT count(*) FROM events WHERE run = ? AND kind = 'malformed_output'", (run_id,)
    ).fetchone()[0]
    conn.close()
    written = read_written(directory, names)
    missing = {
        n: (written.lines[n], per_agent.get(n, 0))
        for n in names
        if per_agent.get(n, 0) != written.lines[n]
    }
    if missing or malformed:
        raise SystemExit(
            f"supervisor pass: audit log disagrees with the agents (written, logged): {missing}; "
            f"{malformed} malformed_output rows"
        )
    if (meters["input_tokens"], meters["output_tokens"], meters["turns"]) != (
        written.input_tokens,
        written.output_tokens,
        written.total,
    ):
        raise SystemExit(
            f"supervisor pass: meters {meters} != agents' "
            f"{written.input_tokens} in / {written.output_tokens} out / {written.total} turns"
        )
    rows = sum(per_agent.values())
    result = PassResult(rows, elapsed, cpu, steady(samples, 1.5, seconds), loop_cpu)
    meters["max_backlog"] = backlog
    return result, written, meters, collector


# ------------------------------------------------------------------ 2. the bare baseline


class BareStore:
    """Plain sqlite3 in the loop's thread: canonical JSON, sha256 chain, 1,000 rows a commit."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.executescript(MIGRATIONS[0])
        self.run_id = run_id
        self.pending: list[dict[str, object]] = []
        self.prev = GENESIS_HASH
        self.row_id = 0
        self.seq = 0

    def add(self, data: dict[str, object], agent: str) -> None:
        self.seq += 1
        data["run"], data["seq"], data["ts"], data["agent"] = (
            self.run_id,
            self.seq,
            time.time(),
            agent,
        )
        data["kind"] = data.pop("type")
        self.pending.append(data)
        if len(self.pending) >= BATCH:
            self.write()

    def write(self) -> None:
        if not self.pending:
            return
        rows = []
        prev, row_id = self.prev, self.row_id
        dumps = json.dumps
        sha256 = hashlib.sha256
        for data in self.pending:
            payload = dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            digest = sha256((prev + payload).encode()).hexdigest()
            row_id += 1
            rows.append(
                (
                    row_id,
                    data["run"],
                    data["seq"],
                    data["ts"],
                    data["agent"],
                    data["kind"],
                    payload,
                    prev,
                    digest,
                )
            )
            prev = digest
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self.conn.execute("INSERT OR REPLACE INTO chain_head VALUES (1, ?, ?)", (row_id, prev))
        self.conn.execute("COMMIT")
        self.prev, self.row_id = prev, row_id
        self.pending = []


async def baseline_pass(
    directory: Path, names: list[str], seconds: float
) -> tuple[PassResult, Written]:
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "bare.db"
    store = BareStore(db, new_run_id())
    samples: list[tuple[float, int]] = []
    clock = CpuClock()

    async def sample() -> None:
        while True:
            samples.append((clock.wall(), store.seq))
            await asyncio.sleep(0.25)

    async def read(name: str) -> int:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(FLOOD),
            str(seconds),
            str(count_file(directory, name)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            cwd=directory,
        )
        assert proc.stdout is not None
        loads, add = json.loads, store.add
        tail = b""
        while chunk := await proc.stdout.read(CHUNK):
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            for line in lines:
                add(loads(line), name)
        return await proc.wait()

    sampler = asyncio.create_task(sample())
    try:
        codes = await asyncio.gather(*(read(name) for name in names))
        store.write()
        elapsed, cpu, loop_cpu = clock.wall(), clock.percent(), clock.loop_thread()
    finally:
        sampler.cancel()
        store.conn.close()
    if any(codes):
        raise SystemExit(f"baseline pass: agents exited with {codes}")
    written = read_written(directory, names)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = conn.execute("SELECT count(*) FROM events WHERE kind = 'usage'").fetchone()[0]
    conn.close()
    if rows != written.total:
        raise SystemExit(f"baseline pass: {rows} rows, agents wrote {written.total}")
    return PassResult(rows, elapsed, cpu, steady(samples, 1.5, seconds), loop_cpu), written


# ------------------------------------------------------------------ main


def describe(label: str, result: PassResult, extra: str) -> str:
    steady_text = f", steady {result.steady_rate:,.0f}/s" if result.steady_rate else ""
    return (
        f"{label}: {result.rate:,.0f} events/s over {result.seconds:.1f} s{steady_text}, "
        f"{result.rows:,} events{extra}; CPU {result.cpu_percent:.0f}% of one core, "
        f"loop thread {result.loop_us_per_event:.2f} µs CPU per event"
    )


def print_profile(profiler: cProfile.Profile, top: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    print("\nprofile of the supervisor pass (event-loop thread), by own time:")
    print("\n".join(out.getvalue().splitlines()[4:]))
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    print("profile of the supervisor pass, by cumulative time:")
    print("\n".join(out.getvalue().splitlines()[4:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each agent floods")
    parser.add_argument("--profile", action="store_true", help="cProfile the supervisor pass")
    parser.add_argument("--top", type=int, default=30, help="profile rows to print")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    names = agent_names(args.agents)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} cpus (load average {load}), python "
        f"{sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}; "
        f"{args.agents} agents x {args.seconds:g} s"
    )
    with tempfile.TemporaryDirectory(prefix="controlroom-ingest-") as tmp:
        base = Path(tmp)
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        try:
            sup, written, meters, collector = asyncio.run(
                supervisor_pass(base / "sup", names, args.seconds)
            )
        finally:
            if profiler is not None:
                profiler.disable()
        print(
            describe(
                "supervisor ingest",
                sup,
                f", all {written.total:,} in the audit log; meters {meters['input_tokens']:,} in"
                f" / {meters['output_tokens']:,} out tokens = agents' sums",
            )
        )
        print(
            f"supervisor ingest: largest commit backlog seen {meters['max_backlog']:,} events "
            f"(appended, not yet committed); peak RSS {peak_rss_mib():,.0f} MiB"
        )
        print(f"supervisor ingest: {collector.describe(sup.rows)}")
        if not args.skip_baseline:
            bare, _ = asyncio.run(baseline_pass(base / "bare", names, args.seconds))
            print(describe("bare baseline", bare, ", all stored"))
            ratio = sup.rate / bare.rate
            verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
            print(f"ratio: {ratio:.2f} (target >= {TARGET_RATIO} of the bare loop): {verdict}")
        verdict = "met" if sup.rate > TARGET_RATE else "MISSED"
        print(f"target > {TARGET_RATE:,} events/s: {verdict}")
        if profiler is not None:
            print_profile(profiler, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
