#!/usr/bin/env python3
"""A burst of spawns beside a running agent: how late are its lines read meanwhile?

    .venv/bin/python bench/spawn_burst.py [--runs 5] [--burst 20]

Each run is a fresh ``Supervisor`` + ``AuditStore``. A pacer
(bench/agents/paced_usage.py: a stamped usage line every 2 ms, no cap) is
listed first, and ``--burst`` agents after it (a usage line every 100 ms):
the supervisor starts them together, the pacer is spawned first, and its
lines flow while the others are being spawned.

Per line of the pacer: its read lag, stamp (just before the write) → its
``usage`` event published (a bus listener). Reported over the lines
written while the burst was being spawned (from the pacer's first line to
the last ``agent_spawned``): p50, p99, max, and how many such lines. A
spawn that blocks the event loop shows here directly: every line written
during it waits for it. Target (issue 11's governor budget): p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import machine, paced_spec, percentile  # first: it puts the repository on sys.path

from controlroom.models import (
    AgentSpawned,
    EventBase,
    SwarmConfig,
    SwarmSettings,
    Usage,
    new_run_id,
)
from controlroom.store.writer import AuditStore
from controlroom.swarm.supervisor import Supervisor

PACER = "pacer"
PACER_LINES = 1_000
PACER_INTERVAL_MS = 2
BURST_LINES = 20
BURST_INTERVAL_MS = 100
TARGET_P99_MS = 20.0
RUN_TIMEOUT = 60.0


@dataclass
class Burst:
    lags_ms: list[float]  # the pacer's lines written while the burst was spawned
    spawn_window_ms: float  # pacer's first line → last agent_spawned


async def one_run(directory: Path, number: int, burst: int) -> Burst:
    record = directory / f"pacer-{number}.json"
    agents = [paced_spec(PACER, record, PACER_INTERVAL_MS, PACER_LINES, None)]
    agents += [
        paced_spec(
            f"b{i}", directory / f"b-{number}-{i}.json", BURST_INTERVAL_MS, BURST_LINES, None
        )
        for i in range(burst)
    ]
    config = SwarmConfig(
        swarm=SwarmSettings(
            name="spawn-burst", audit_db=str(directory / "audit.db"), run_dir=str(directory / "run")
        ),
        agents=agents,
    )
    run_id = new_run_id()
    store = await AuditStore.open(config.swarm.audit_db, run_id)
    supervisor = Supervisor(config, store, run_id=run_id, base_dir=directory)
    read: list[int] = []
    spawned: list[int] = []

    def listener(event: EventBase) -> None:
        if isinstance(event, Usage) and event.agent == PACER:
            read.append(time.monotonic_ns())
        elif isinstance(event, AgentSpawned) and event.agent != PACER:
            spawned.append(time.monotonic_ns())

    supervisor.bus.listen(listener)
    try:
        await supervisor.start()
        await asyncio.wait_for(supervisor.wait(), RUN_TIMEOUT)
        await supervisor.close()
    finally:
        await store.close()
    stamps: list[int] = json.loads(record.read_text())["stamps"]
    if len(read) != len(stamps) or len(spawned) != burst:
        raise SystemExit(f"run {number}: read {len(read)} of {len(stamps)} lines, {spawned=}")
    last = max(spawned)
    lags = [(r - s) / 1e6 for s, r in zip(stamps, read, strict=True) if s <= last]
    if not lags:
        raise SystemExit(f"run {number}: the burst was spawned before the pacer's first line")
    return Burst(lags, (last - stamps[0]) / 1e6)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--burst", type=int, default=20, help="agents spawned beside the pacer")
    args = parser.parse_args()
    print(
        f"{machine()}; {args.runs} runs; a usage line every {PACER_INTERVAL_MS} ms, "
        f"read while {args.burst} agents are spawned beside it"
    )
    lags: list[float] = []
    with tempfile.TemporaryDirectory(prefix="controlroom-burst-") as tmp:
        for n in range(args.runs):
            result = await one_run(Path(tmp), n, args.burst)
            lags += result.lags_ms
            print(
                f"  run {n}: {len(result.lags_ms)} lines written during the burst "
                f"({result.spawn_window_ms:,.0f} ms): read lag p50 "
                f"{percentile(result.lags_ms, 50):.2f} ms, p99 {percentile(result.lags_ms, 99):.2f}"
                f" ms, max {max(result.lags_ms):.2f} ms"
            )
    p99 = percentile(lags, 99)
    print(
        f"all runs: {len(lags)} lines: read lag p50 {percentile(lags, 50):.2f} ms, "
        f"p99 {p99:.2f} ms, max {max(lags):.2f} ms; target p99 < {TARGET_P99_MS:g} ms: "
        f"{'met' if p99 < TARGET_P99_MS else 'MISSED'}; load after: {machine().split('(')[1]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
