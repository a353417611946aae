"""What several bench scripts share: the paced runaway, one budget-stopped run, percentiles.

Imported as ``_common`` by scripts run as ``python bench/NAME.py`` (their folder
is first on ``sys.path``). One copy, so that the governor-reaction and runaway
benches measure the same agent the same way, and every p99 is the same p99.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controlroom.models import (  # noqa: E402
    AgentSpec,
    AgentState,
    Budget,
    BudgetExceeded,
    EventBase,
    KillRequested,
    SwarmConfig,
    new_run_id,
)
from controlroom.store.writer import AuditStore  # noqa: E402
from controlroom.swarm.supervisor import Supervisor  # noqa: E402

PACED = Path(__file__).resolve().parent / "agents" / "paced_usage.py"
TOKENS_PER_LINE = 1_000
AGENT = "runaway"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank: with 50 runs, p99 is the worst run."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def machine() -> str:
    """Python, cores and the 1/5/15 minute load averages: what every figure is read against."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"python {sys.version.split()[0]}, {os.cpu_count()} cpus (load average {load})"


def paced_spec(
    name: str, record: Path, interval_ms: float, lines: int, cap: int | None
) -> AgentSpec:
    """bench/agents/paced_usage.py: a stamped 1,000-token usage line every ``interval_ms``.

    ``cap`` is its ``max_tokens`` (None: no cap); it writes its stamps to ``record``.
    """
    return AgentSpec(
        name=name,
        command=[
            sys.executable,
            str(PACED),
            str(record),
            f"{interval_ms:g}",
            str(TOKENS_PER_LINE),
            str(lines),
        ],
        budget=Budget(max_tokens=cap, kill_grace_seconds=2),
    )


@dataclass
class BudgetStop:
    """A finished run whose ``AGENT`` was stopped by its budget once."""

    supervisor: Supervisor
    decided_ns: int  # CLOCK_MONOTONIC when budget_exceeded was published
    exceeded: BudgetExceeded
    kill_ns: int | None  # when kill_requested was published: the kill's first step, its SIGTERM


async def run_to_budget_stop(
    config: SwarmConfig, directory: Path, number: int, timeout: float
) -> BudgetStop:
    """Run ``config`` to its end (fresh store, fresh run); ``AGENT`` must end budget-stopped.

    A bus listener stamps the moment ``budget_exceeded`` is published for ``AGENT``,
    and ``kill_requested`` (published just before the kill signals the agent).
    Anything else (another end state, no stop or two) ends the bench with the reason.
    """
    run_id = new_run_id()
    store = await AuditStore.open(config.swarm.audit_db, run_id)
    supervisor = Supervisor(config, store, run_id=run_id, base_dir=directory)
    stops: list[tuple[int, BudgetExceeded]] = []
    kills: list[int] = []

    def listener(event: EventBase) -> None:
        if isinstance(event, BudgetExceeded) and event.agent == AGENT:
            stops.append((time.monotonic_ns(), event))
        elif isinstance(event, KillRequested) and event.agent == AGENT:
            kills.append(time.monotonic_ns())

    supervisor.bus.listen(listener)
    try:
        await supervisor.start()
        await asyncio.wait_for(supervisor.wait(), timeout)
        await supervisor.close()
    finally:
        await store.close()
    state = supervisor.states()[AGENT]  # the others' end states do not matter here
    if state != AgentState.BUDGET_STOPPED or len(stops) != 1:
        raise SystemExit(f"run {number}: {AGENT} ended {state!r}, budget stops: {stops}")
    return BudgetStop(supervisor, stops[0][0], stops[0][1], kills[0] if kills else None)
