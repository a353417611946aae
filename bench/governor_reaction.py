#!/usr/bin/env python3
"""Governor reaction time: the usage line that crosses a cap → the agent is signalled.

    .venv/bin/python bench/governor_reaction.py [--runs 50] [--interval-ms 20]
                                                [--lines-to-cap 10] [--skip-kill]
                                                [--flood N]

Each run is a fresh ``Supervisor`` + ``AuditStore`` (one temp database, a new
run each time) with one agent, bench/agents/paced_usage.py: a usage line of
1,000 tokens every ``--interval-ms``, each stamped with CLOCK_MONOTONIC just
before it is written. The agent's ``max_tokens`` is ``--lines-to-cap`` ×
1,000, so line number ``--lines-to-cap`` is the one that crosses it. Per run:

* decision: crossing line written → ``budget_exceeded`` published (a bus
  listener stamps it, in this process);
* freeze: crossing line written → the agent stopped running before its
  SIGTERM (a gap in the agent's 0.2 ms heartbeat ending at the handler:
  the supervisor no longer freezes a runaway first, so what this shows is
  the agent waiting for a CPU);
* kill begun: crossing line written → ``kill_requested`` published (in the
  call that records the stop, just before its SIGTERM): what is after it
  in the SIGTERM figure is the signal's delivery and the agent being
  scheduled to run its handler;
* SIGTERM: crossing line written → the agent's SIGTERM handler runs; and,
  per run, ``budget_exceeded`` published → handler (the kill path's share,
  apart from the reader's).

Then the kill switch, the same agent with no cap: ``Supervisor.kill`` called
(at a random moment between two lines) → SIGTERM handler runs, and →
``kill`` returned (tree verified gone, ``kill_completed`` committed).
Prints p50 / p99 / max for each (with 50 runs, p99 is the worst run).
Target: crossing line → SIGTERM p99 < 10 ms. ``--flood N`` also runs N
usage_flood agents beside the paced one, to see the reaction while the
event loop is saturated: each run is then a pair, one without the flood and
one with it, so both figures come from the same minutes of the same
machine. Target with 20 floods: crossing line → SIGTERM p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import (  # first: it puts the repository on sys.path
    AGENT,
    TOKENS_PER_LINE,
    machine,
    paced_spec,
    percentile,
    run_to_budget_stop,
)

from controlroom.models import (
    AgentSpec,
    EventBase,
    SwarmConfig,
    SwarmSettings,
    Usage,
    new_run_id,
)
from controlroom.store.writer import AuditStore
from controlroom.swarm.supervisor import Supervisor, tune_interpreter

FLOOD = Path(__file__).resolve().parent / "agents" / "usage_flood.py"
TARGET_P99_MS = 10.0
TARGET_FLOOD_P99_MS = 20.0
RUN_TIMEOUT = 20.0


@dataclass
class AgentRecord:
    """What the agent wrote down: line stamps, SIGTERM arrival, heartbeat gaps (ns)."""

    stamps: list[int]
    term: int | None
    gaps: list[list[int]]

    @classmethod
    def load(cls, path: Path) -> AgentRecord:
        if not path.exists():
            raise SystemExit(f"the agent left no record at {path} (killed before its handler ran?)")
        data = json.loads(path.read_text())
        return cls(data["stamps"], data["term"], data["gaps"])

    def freeze_after(self, start: int) -> int | None:
        """When the process stopped running: the start of the heartbeat gap that SIGCONT ended.

        The kill sends SIGTERM then SIGCONT, so the freeze ends (the gap's end) just
        around the SIGTERM handler's stamp. None when no such gap was seen (a freeze
        shorter than the agent's gap threshold, or no freeze at all).
        """
        if self.term is None:
            return None
        around = [
            g
            for g in self.gaps
            if g[0] >= start and self.term - 1_000_000 <= g[1] <= self.term + 1_000_000
        ]
        return around[-1][0] if around else None


def config_for(
    directory: Path,
    record: Path,
    interval_ms: float,
    lines: int,
    cap: int | None,
    flood: int = 0,
    flood_seconds: float = 0.0,
) -> SwarmConfig:
    """The paced agent (with ``cap`` as max_tokens), plus ``flood`` agents flooding the loop."""
    paced = paced_spec(AGENT, record, interval_ms, lines, cap)
    flooders = [
        AgentSpec(
            name=f"flood-{i:02d}",
            command=[
                sys.executable,
                str(FLOOD),
                f"{flood_seconds:g}",
                str(directory / f"flood-{i:02d}.count.json"),
            ],
        )
        for i in range(flood)
    ]
    return SwarmConfig(
        swarm=SwarmSettings(
            name="reaction-bench",
            audit_db=str(directory / "audit.db"),
            run_dir=str(directory / "run"),
        ),
        agents=[paced, *flooders],
    )


async def governor_run(
    directory: Path, number: int, interval_ms: float, lines_to_cap: int, flood: int = 0
) -> dict[str, float]:
    """One run; milliseconds from the crossing line to decision, freeze and SIGTERM."""
    record = directory / f"governor-{number}.json"
    cap = lines_to_cap * TOKENS_PER_LINE
    flood_seconds = lines_to_cap * interval_ms / 1000 + 1.0
    config = config_for(directory, record, interval_ms, lines_to_cap * 3, cap, flood, flood_seconds)
    stop = await run_to_budget_stop(config, directory, number, RUN_TIMEOUT)
    if stop.exceeded.value != cap:  # so the crossing line is line number lines_to_cap
        raise SystemExit(f"run {number}: the stop came at {stop.exceeded.value} tokens, not {cap}")
    agent = AgentRecord.load(record)
    if agent.term is None:
        raise SystemExit(f"run {number}: the agent never received SIGTERM")
    crossing = agent.stamps[lines_to_cap - 1]
    result = {
        "decision": (stop.decided_ns - crossing) / 1e6,
        "sigterm": (agent.term - crossing) / 1e6,
    }
    if stop.kill_ns is not None:
        result["kill"] = (stop.kill_ns - crossing) / 1e6
    freeze = agent.freeze_after(crossing)
    if freeze is not None:
        result["freeze"] = (freeze - crossing) / 1e6
    return result


async def kill_run(directory: Path, number: int, interval_ms: float) -> dict[str, float]:
    """One kill-switch run: ms from ``Supervisor.kill`` called to SIGTERM and to its return."""
    record = directory / f"kill-{number}.json"
    config = config_for(directory, record, interval_ms, 10_000, None)
    run_id = new_run_id()
    store = await AuditStore.open(config.swarm.audit_db, run_id)
    supervisor = Supervisor(config, store, run_id=run_id, base_dir=directory)
    lines = 0
    flowing = asyncio.Event()

    def listener(event: EventBase) -> None:
        nonlocal lines
        if isinstance(event, Usage):
            lines += 1
            if lines >= 3:
                flowing.set()

    supervisor.bus.listen(listener)
    try:
        await supervisor.start()
        await asyncio.wait_for(flowing.wait(), RUN_TIMEOUT)
        await asyncio.sleep(random.uniform(0, interval_ms / 1000))
        called = time.monotonic_ns()
        report = await supervisor.kill(AGENT, by="bench", reason="kill-switch bench")
        returned = time.monotonic_ns()
        await asyncio.wait_for(supervisor.wait(), RUN_TIMEOUT)
        await supervisor.close()
    finally:
        await store.close()
    if report is None or report.survivors:
        raise SystemExit(f"kill run {number}: kill report {report}")
    agent = AgentRecord.load(record)
    if agent.term is None:
        raise SystemExit(f"kill run {number}: the agent never received SIGTERM")
    return {"sigterm": (agent.term - called) / 1e6, "returned": (returned - called) / 1e6}


def line(label: str, values: list[float], target: str = "") -> None:
    if not values:
        print(f"{label:<58} no samples")
        return
    print(
        f"{label:<58} p50 {percentile(values, 50):6.2f} ms   p99 {percentile(values, 99):6.2f} ms"
        f"   max {max(values):6.2f} ms   ({len(values)} runs) {target}".rstrip()
    )


def audit_counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return dict(
            conn.execute(
                "SELECT kind, count(*) FROM events WHERE kind IN "
                "('budget_exceeded', 'kill_requested', 'kill_completed') GROUP BY kind"
            ).fetchall()
        )
    finally:
        conn.close()


def report_governor(results: list[dict[str, float]], flood: int) -> None:
    beside = f" ({flood} floods)" if flood else " (no flood)"
    target = TARGET_FLOOD_P99_MS if flood else TARGET_P99_MS
    line(f"governor{beside}: crossing line -> budget_exceeded", [r["decision"] for r in results])
    frozen = [r["freeze"] for r in results if "freeze" in r]
    line(f"governor{beside}: crossing line -> agent off the CPU before its SIGTERM", frozen)
    if len(frozen) < len(results):
        print(
            f"    ({len(results) - len(frozen)} runs had no gap of 0.5 ms or more in the agent's "
            "heartbeat: not in this line)"
        )
    line(
        f"governor{beside}: crossing line -> kill_requested",
        [r["kill"] for r in results if "kill" in r],
    )
    line(
        f"governor{beside}: budget_exceeded -> SIGTERM handler",
        [r["sigterm"] - r["decision"] for r in results],
    )
    sigterm = [r["sigterm"] for r in results]
    p99 = percentile(sigterm, 99)
    verdict = "met" if p99 < target else "MISSED"
    line(
        f"governor{beside}: crossing line -> SIGTERM handler",
        sigterm,
        f"target p99 < {target:g} ms: {verdict}",
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--lines-to-cap", type=int, default=10)
    parser.add_argument("--skip-kill", action="store_true")
    parser.add_argument(
        "--flood",
        type=int,
        default=0,
        help="pair each governor run with one where N usage_flood agents run beside it "
        "(use a larger --lines-to-cap so the flood is under way when the cap is crossed)",
    )
    args = parser.parse_args()
    tune_interpreter()  # as the CLI does where a swarm starts: the bench measures what runs
    if args.lines_to_cap < 1:
        parser.error("--lines-to-cap must be at least 1")
    print(
        f"{machine()}; "
        f"{args.runs} runs; a {TOKENS_PER_LINE:,}-token usage line every {args.interval_ms:g} ms, "
        f"line {args.lines_to_cap} crosses max_tokens"
        + (f"; {args.flood} flooding agents beside it" if args.flood else "")
    )
    with tempfile.TemporaryDirectory(prefix="controlroom-reaction-") as tmp:
        directory = Path(tmp)
        floods = [0, args.flood] if args.flood else [0]
        results: dict[int, list[dict[str, float]]] = {flood: [] for flood in floods}
        for n in range(args.runs):
            for i, flood in enumerate(floods):  # paired: both see the machine as it is now
                result = await governor_run(
                    directory, len(floods) * n + i, args.interval_ms, args.lines_to_cap, flood
                )
                results[flood].append(result)
        for flood in floods:
            report_governor(results[flood], flood)
        if not args.skip_kill:
            kills = [await kill_run(directory, n, args.interval_ms) for n in range(args.runs)]
            line(
                "kill switch: kill() called -> SIGTERM handler runs", [k["sigterm"] for k in kills]
            )
            line(
                "kill switch: kill() called -> returned (verified, recorded)",
                [k["returned"] for k in kills],
            )
        counts = audit_counts(directory / "audit.db")
        print(f"audit log: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
