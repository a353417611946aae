"""Benchmark of the audit store: ingest rate, flush latency, query time on 1M events.

Run from the repository root::

    .venv/bin/python bench/audit_ingest.py            # everything
    .venv/bin/python bench/audit_ingest.py --events 50000 --skip-queries

Prints one labelled line per figure, with its target:

1. events/s through ``AuditStore`` (append + batched writer + JSON + sha256),
   next to a bare baseline (plain sqlite3, same canonical JSON and chain,
   executemany in batches of 1,000) and their ratio;
2. ``flush()`` latency (p50/p99/max) while a producer appends under load;
2b. a swarm's pace (``--swarm-agents`` agents x ``--swarm-rate`` events/s each,
   ``bench/tui_load.py``'s 100 x 20 by default, events built beforehand): the
   process's CPU (every thread: loop, writer, checkpointer) in % of one core
   and per event, commits, and the latency of an operator's decision
   (``append_and_flush``, one every 200-800 ms) meanwhile;
3. the time of a ``timeline`` and a ``list --kind`` query on a 1,000,000-event
   database of 50 agents (built once with plain sqlite3 and a valid chain,
   cached under the system temp dir), with the SQL that was timed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controlroom.models import (  # noqa: E402
    AgentOutput,
    AgentStateChanged,
    EventBase,
    GateDecided,
    GateRequested,
    StatusEvent,
    ToolCall,
    Usage,
)
from controlroom.store import AuditStore, verify_chain  # noqa: E402
from controlroom.store.redact import canonical_dumps  # noqa: E402
from controlroom.store.rows import canonical_json
from controlroom.store.schema import GENESIS_HASH, MIGRATIONS, SCHEMA_VERSION  # noqa: E402
from controlroom.store.writer import MAX_DELAY_SECONDS  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "controlroom-bench"
RUN = "20260101-000000-beef"

TIMELINE_SQL = (
    "SELECT min(id), max(id) FROM events WHERE run = ?",
    "SELECT id, run, seq, ts, agent, kind, payload FROM events "
    "WHERE agent = ? AND id BETWEEN ? AND ? AND +run = ? ORDER BY id",
)
LIST_SQL = (
    "SELECT id, run, seq, ts, agent, kind, payload FROM events "
    "WHERE kind = ? ORDER BY id DESC LIMIT 100"
)


def usage_events(n: int) -> list[Usage]:
    return [
        Usage(
            agent=f"agent-{i % 50:02d}",
            input_tokens=1200 + i % 997,
            output_tokens=340 + i % 89,
            cache_read_input_tokens=i % 4000,
            model="claude-sonnet-4-5",
            cost_usd=0.0123,
        )
        for i in range(n)
    ]


def fresh_db(directory: Path, name: str) -> Path:
    path = directory / name
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


# ------------------------------------------------------------------ 1. ingest


async def store_ingest(path: Path, events: list[Usage]) -> float:
    """Events/s from the first append until the flush that covers the last one."""
    store = await AuditStore.open(path, RUN)
    try:
        started = time.perf_counter()
        for start in range(0, len(events), 1000):
            for event in events[start : start + 1000]:
                store.append(event)
            await asyncio.sleep(0)  # a real producer awaits its input now and then
        await store.flush()
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    return len(events) / elapsed


def baseline_ingest(path: Path, events: list[Usage]) -> float:
    """The same rows with plain sqlite3 in a tight loop: the ceiling for this machine."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(MIGRATIONS[0])
    insert = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    prev, row_id = GENESIS_HASH, 0
    started = time.perf_counter()
    for start in range(0, len(events), 1000):
        rows = []
        for event in events[start : start + 1000]:
            row_id += 1
            event.run, event.seq = RUN, row_id
            data = event.model_dump(mode="json")
            payload = canonical_dumps(data)
            digest = hashlib.sha256((prev + payload).encode()).hexdigest()
            rows.append(
                (
                    row_id,
                    RUN,
                    row_id,
                    data["ts"],
                    data["agent"],
                    data["kind"],
                    payload,
                    prev,
                    digest,
                )
            )
            prev = digest
        conn.execute("BEGIN")
        conn.executemany(insert, rows)
        conn.execute("INSERT OR REPLACE INTO chain_head VALUES (1, ?, ?)", (row_id, prev))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(events) / elapsed


# ------------------------------------------------------------------ 2. flush latency


async def flush_latency(
    path: Path, rate: int, seconds: float, max_delay: float
) -> tuple[list[float], int]:
    """Flush latencies (ms) of gate decisions made while a producer appends ``rate``/s."""
    store = await AuditStore.open(path, RUN, max_delay=max_delay)
    stop = asyncio.Event()
    produced = 0

    async def producer() -> None:
        nonlocal produced
        tick = 0.005
        per_tick = max(1, int(rate * tick))
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not stop.is_set():
            for _ in range(per_tick):
                store.append(Usage(agent="agent-07", input_tokens=100, output_tokens=20))
            produced += per_tick
            next_at += tick
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    latencies: list[float] = []
    task = asyncio.create_task(producer())
    try:
        await asyncio.sleep(0.3)  # reach a steady state first
        deadline = time.perf_counter() + seconds
        number = 0
        while time.perf_counter() < deadline:
            number += 1
            decision = GateDecided(gate_id=f"g{number}", approved=True, by="bench")
            started = time.perf_counter()
            await store.append_and_flush(decision)
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(random.uniform(0.005, 0.03))
    finally:
        stop.set()
        await task
        await store.close()
    return latencies, produced


async def swarm_pace(
    path: Path, agents: int, rate: float, seconds: float
) -> tuple[float, int, list[float]]:
    """(CPU seconds, events appended, flush latencies in ms) of a swarm's steady pace."""
    per_second = int(agents * rate)
    events = [
        Usage(agent=f"agent-{i % agents:03d}", input_tokens=900 + i % 1777, output_tokens=120)
        for i in range(int(per_second * (seconds + 1)))
    ]
    store = await AuditStore.open(path, RUN)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    appended = 0
    try:
        tick = 0.01
        per_tick = max(1, int(per_second * tick))
        started = loop.time()
        cpu = time.process_time()
        next_flush = started + random.uniform(0.2, 0.8)
        number = 0
        while loop.time() - started < seconds:
            store.append_many(events[appended : appended + per_tick])
            appended += per_tick
            if loop.time() >= next_flush:
                number += 1
                at = time.perf_counter()
                await store.append_and_flush(
                    GateDecided(gate_id=f"g{number}", approved=True, by="bench")
                )
                latencies.append((time.perf_counter() - at) * 1000)
                next_flush = loop.time() + random.uniform(0.2, 0.8)
            await asyncio.sleep(max(0.0, started + appended / per_second - loop.time()))
        cpu = time.process_time() - cpu
    finally:
        await store.close()
    return cpu, appended, latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# ------------------------------------------------------------------ 3. 1M-event database


def _templates() -> list[tuple[int, dict[str, Any], Callable[[dict[str, Any], int], None]]]:
    """(weight, dumped template, how to vary it) for a realistic mix of kinds."""

    def usage(d: dict[str, Any], i: int) -> None:
        d["input_tokens"], d["output_tokens"] = 900 + i % 1777, 120 + i % 313

    def output(d: dict[str, Any], i: int) -> None:
        d["text"] = f"collected {i % 300} items / running test_{i % 97} ... ok"

    def tool(d: dict[str, Any], i: int) -> None:
        d["input"] = {"command": f"pytest -q tests/test_{i % 41}.py"}

    def status(d: dict[str, Any], i: int) -> None:
        d["text"] = f"step {i % 12}: editing module {i % 23}"

    def gate(d: dict[str, Any], i: int) -> None:
        d["gate_id"] = f"g{i}"

    def state(d: dict[str, Any], i: int) -> None:
        d["state"] = ("running", "gated", "paused")[i % 3]

    samples: list[tuple[int, EventBase, Callable[[dict[str, Any], int], None]]] = [
        (60, Usage(input_tokens=1, output_tokens=1, model="claude-sonnet-4-5"), usage),
        (25, AgentOutput(text="x"), output),
        (7, ToolCall(name="Bash", input={"command": "ls"}, tool_use_id="toolu_01"), tool),
        (5, StatusEvent(text="x"), status),
        (1, GateRequested(gate_id="g", gate_kind="tool", title="run Bash?"), gate),
        (1, GateDecided(gate_id="g", approved=True, by="op"), gate),
        (1, AgentStateChanged(state="running", previous="starting"), state),
    ]
    return [(w, e.model_dump(mode="json"), f) for w, e, f in samples]


def build_million(path: Path, total: int, runs: int, agents: int) -> None:
    """A valid chained database of ``total`` mixed events, written with plain sqlite3."""
    tmp = Path(str(path) + ".part")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    conn.executescript(MIGRATIONS[0])
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    templates = _templates()
    choices = [t for t in templates for _ in range(t[0])]
    rng = random.Random(7)
    per_run = total // runs
    prev, row_id, ts = GENESIS_HASH, 0, 1_767_225_600.0
    insert = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    for r in range(runs):
        run = f"20260101-{r:06d}-beef"
        for start in range(0, per_run, 10_000):
            rows = []
            for seq in range(start + 1, min(per_run, start + 10_000) + 1):
                _, template, vary = rng.choice(choices)
                data = dict(template)
                ts += 0.01
                data["run"], data["seq"], data["ts"] = run, seq, round(ts, 3)
                data["agent"] = f"agent-{rng.randrange(agents):02d}"
                vary(data, seq)
                payload = canonical_dumps(data)
                digest = hashlib.sha256((prev + payload).encode()).hexdigest()
                row_id += 1
                rows.append(
                    (
                        row_id,
                        run,
                        seq,
                        data["ts"],
                        data["agent"],
                        data["kind"],
                        payload,
                        prev,
                        digest,
                    )
                )
                prev = digest
            conn.execute("BEGIN")
            conn.executemany(insert, rows)
            conn.execute("INSERT OR REPLACE INTO chain_head VALUES (1, ?, ?)", (row_id, prev))
            conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()
    os.replace(tmp, path)


def cached_million(total: int, runs: int, agents: int) -> tuple[Path, float | None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"audit-{total}-{runs}r-{agents}a-v{SCHEMA_VERSION}.db"
    if path.exists():
        return path, None
    started = time.perf_counter()
    build_million(path, total, runs, agents)
    return path, time.perf_counter() - started


def time_ms(fn: Callable[[], object], repeat: int = 7) -> tuple[float, float]:
    """(first run, median of the rest) in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times[0], statistics.median(times[1:])


# ------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="ingest rounds (best is kept)")
    parser.add_argument("--rate", type=int, default=20_000, help="producer rate for flush latency")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--max-delay", type=float, default=MAX_DELAY_SECONDS, help="writer's max batching delay"
    )
    parser.add_argument("--swarm-agents", type=int, default=100)
    parser.add_argument("--swarm-rate", type=float, default=20.0, help="events/s per agent")
    parser.add_argument("--swarm-seconds", type=float, default=15.0)
    parser.add_argument("--swarm-only", action="store_true", help="only the swarm's pace (2b)")
    parser.add_argument("--skip-queries", action="store_true")
    parser.add_argument("--skip-verify", action="store_true")
    args = parser.parse_args()

    sample = usage_events(1)[0]
    assert canonical_dumps(sample.model_dump(mode="json")) == canonical_json(sample)

    with tempfile.TemporaryDirectory(prefix="controlroom-bench-") as tmp:
        directory = Path(tmp)
        print(
            f"machine: {os.cpu_count()} cpus, python {sys.version.split()[0]}, "
            f"sqlite {sqlite3.sqlite_version}"
        )

        seconds = args.swarm_seconds
        cpu, appended, flushes = asyncio.run(
            swarm_pace(fresh_db(directory, "swarm.db"), args.swarm_agents, args.swarm_rate, seconds)
        )
        print(
            f"swarm pace ({args.swarm_agents} agents x {args.swarm_rate:g}/s, {seconds:g} s, "
            f"{appended:,} events): CPU {100 * cpu / seconds:.1f} % of one core, "
            f"{1e6 * cpu / appended:.1f} us per event; decisions ({len(flushes)}) flushed in "
            f"p50 {percentile(flushes, 0.5):.1f} ms, p99 {percentile(flushes, 0.99):.1f} ms, "
            f"max {max(flushes):.1f} ms  [load {os.getloadavg()[0]:.1f}]"
        )
        if args.swarm_only:
            return 0

        bases: list[float] = []
        rates: list[float] = []
        for round_number in range(args.repeat):  # interleaved, so both see the same noise
            events = usage_events(args.events)
            bases.append(baseline_ingest(fresh_db(directory, "baseline.db"), events))
            events = usage_events(args.events)
            path = fresh_db(directory, "store.db")
            rates.append(asyncio.run(store_ingest(path, events)))
            print(
                f"    round {round_number + 1}: store {rates[-1]:,.0f}/s, "
                f"baseline {bases[-1]:,.0f}/s"
            )
        rate, base = max(rates), max(bases)
        print(
            f"audit ingest: {rate:,.0f} events/s (baseline {base:,.0f}/s, ratio {rate / base:.2f})"
            f"  [best of {args.repeat}, {args.events:,} usage events; "
            "targets >= 50,000/s, ratio >= 0.5]"
        )
        result = verify_chain(path)
        print(f"audit ingest: chain check {result.reason} (ok={result.ok})")

        for label, load in (("light", args.rate // 4), ("steady", args.rate)):
            latencies, produced = asyncio.run(
                flush_latency(
                    fresh_db(directory, f"flush-{label}.db"), load, args.seconds, args.max_delay
                )
            )
            achieved = produced / (args.seconds + 0.3)
            print(
                f"flush latency ({label} load, producer ~{achieved:,.0f} events/s, "
                f"{len(latencies)} flushes): p50 {percentile(latencies, 0.5):.1f} ms, "
                f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms"
                + "  [target p99 < 20 ms]"
            )

    if args.skip_queries:
        return 0
    db, built = cached_million(1_000_000, runs=10, agents=50)
    how = f"built in {built:.1f} s" if built is not None else "cached"
    print(f"query db: {db} (1,000,000 events, 10 runs, 50 agents; {how})")
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    run, agent, kind = "20260101-000004-beef", "agent-17", "tool_call"

    def timeline() -> int:
        lo, hi = conn.execute(TIMELINE_SQL[0], (run,)).fetchone()
        return len(conn.execute(TIMELINE_SQL[1], (agent, lo, hi, run)).fetchall())

    def list_kind() -> int:
        return len(conn.execute(LIST_SQL, (kind,)).fetchall())

    rows = timeline()
    first, median = time_ms(timeline)
    print(
        f"query timeline {agent} (run {run}): {median:.1f} ms median, {first:.1f} ms first, "
        f"{rows:,} rows  [target < 100 ms]"
    )
    for sql in TIMELINE_SQL:
        print(f"    SQL: {sql}")
    rows = list_kind()
    first, median = time_ms(list_kind)
    print(
        f"query list --kind {kind} --limit 100: {median:.2f} ms median, {first:.2f} ms first, "
        f"{rows} rows  [target < 100 ms]"
    )
    print(f"    SQL: {LIST_SQL}")
    conn.close()
    if not args.skip_verify:
        started = time.perf_counter()
        result = verify_chain(db)
        print(
            f"verify 1,000,000 events: {time.perf_counter() - started:.1f} s, "
            f"ok={result.ok} ({result.reason})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
