"""Stopping ``controlroom run --headless`` by signal: what an operator's Ctrl-C guarantees.

Written as the agents that make a stop hard: every agent leaves daemons that
called setsid (out of its process group) and a zombie child it never waited
for, or ignores SIGTERM down its whole tree. Each test counts the processes
that really exist afterwards, by a marker in their environment (the run
passes it to every agent, and every descendant inherits it) and by the pids
the audit log recorded, and reads the audit log for the kills it promised.

The start-up tests send Ctrl-C 1, 2 and 3 s into a 200-agent start, while
spawns may be in flight: the stop must cancel what is not yet spawned and
kill what is, and the control room must then exit on its own. Where in the
start-up a second lands depends on the machine, so one more test stops an
in-process supervisor at the very moment its first agent is spawned.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clikit import wait_dead
from stopkit import (
    AGENTS,
    EXIT_BOUND_SECONDS,
    MARK,
    assert_stopped_cleanly,
    events,
    finish,
    marked,
    marking,
    recorded_pids,
    start,
    unanswered_kills,
    wait_forked,
    wait_unmarked,
    write_config,
)

from controlroom.models import (
    AgentSpec,
    AgentState,
    AgentStateChanged,
    EventBase,
    SwarmConfig,
    SwarmSettings,
    new_run_id,
)
from controlroom.store.writer import AuditStore
from controlroom.swarm.supervisor import Supervisor


@pytest.fixture
def marker() -> Iterator[str]:
    with marking() as value:
        yield value


def forkers(count: int, *flags: str, extra: str = "") -> list[tuple[str, list[str], str]]:
    argv = [sys.executable, str(AGENTS / "forks_setsid.py"), "2", "--zombie", *flags]
    return [(f"forker{i}", argv, extra) for i in range(count)]


def test_sigterm_stops_setsid_trees_and_records_every_kill(tmp_path: Path, marker: str) -> None:
    config = write_config(tmp_path / "swarm.toml", forkers(3))
    proc = start(config, marker)
    try:
        wait_forked(tmp_path / "audit.db", 3, proc)
        assert len(marked(marker)) >= 3 * 5  # leader, 2 children, 2 grandchildren (+ zombie)
        proc.send_signal(signal.SIGTERM)
        out, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "SIGTERM: stop all" in err
    assert_stopped_cleanly(proc, out, err, tmp_path / "audit.db", marker)
    completed = events(tmp_path / "audit.db", "kill_completed")
    assert len(completed) == 3
    assert all(p["survivors"] == 0 and not p["escalated"] for _, _, p in completed)


def test_second_sigint_kills_at_once_and_still_records(tmp_path: Path, marker: str) -> None:
    """The trees ignore SIGTERM and the grace is long: only the second Ctrl-C ends them."""
    config = write_config(
        tmp_path / "swarm.toml",
        forkers(3, "--ignore-term", extra="budget = { kill_grace_seconds = 600 }"),
    )
    proc = start(config, marker)
    db = tmp_path / "audit.db"
    try:
        wait_forked(db, 3, proc)
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + EXIT_BOUND_SECONDS
        while len(events(db, "kill_requested")) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(events(db, "kill_requested")) == 3
        assert proc.poll() is None  # the first Ctrl-C waits for the grace period
        proc.send_signal(signal.SIGINT)
        out, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "SIGINT: stop all" in err and "SIGINT again: kill now" in err
    assert_stopped_cleanly(proc, out, err, db, marker)
    completed = [p for _, _, p in events(db, "kill_completed")]
    assert any(p["escalated"] for p in completed)
    assert all(p["survivors"] == 0 for p in completed)


DAEMON = "setsid sleep 1000 & exec sleep 1000"  # a daemon out of its group, then the agent


@pytest.mark.parametrize("after_seconds", [1.0, 2.0, 3.0])
def test_ctrl_c_during_a_200_agent_start_leaves_no_process(
    tmp_path: Path, marker: str, after_seconds: float
) -> None:
    agents = [(f"a{i:03d}", ["sh", "-c", DAEMON], "") for i in range(200)]
    config = write_config(tmp_path / "swarm.toml", agents)
    proc = start(config, marker)
    try:
        time.sleep(after_seconds)
        proc.send_signal(signal.SIGINT)
        out, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0, out[-2000:] + err[-2000:]
    assert "Traceback" not in err and "Task exception" not in err, err
    assert wait_unmarked(marker) == []
    db = tmp_path / "audit.db"
    if db.exists():
        assert unanswered_kills(db) == {}
        assert wait_dead(recorded_pids(db), timeout=10) == []
        spawned = {agent for _, agent, _ in events(db, "agent_spawned")}
        killed = {a for _, a, p in events(db, "kill_completed") if p["processes"]}
        assert spawned <= killed  # every agent that was spawned was killed, and recorded


async def test_a_stop_mid_start_spawns_nothing_more(tmp_path: Path, marker: str) -> None:
    """Stopped the moment the first agent starts launching, while every launch is pending.

    A workspace given as a path is checked in a thread, so each launch waits
    there: deterministically mid-start, whatever the machine's speed.
    """
    specs = [
        AgentSpec(
            name=f"a{i:03d}", command=["sh", "-c", DAEMON], env=[MARK], workspace=str(tmp_path)
        )
        for i in range(200)
    ]
    cfg = SwarmConfig(swarm=SwarmSettings(name="stop", run_dir=str(tmp_path / "run")), agents=specs)
    run_id = new_run_id()
    store = await AuditStore.open(tmp_path / "audit.db", run_id)
    sup = Supervisor(
        cfg, store, run_id=run_id, base_dir=tmp_path, environ={**os.environ, MARK: marker}
    )
    stopping: list[asyncio.Future[object]] = []

    def stop_at_the_first(event: EventBase) -> None:
        if isinstance(event, AgentStateChanged) and not stopping:
            loop = asyncio.get_running_loop()
            loop.call_soon(lambda: stopping.append(asyncio.ensure_future(sup.stop_all())))

    sup.bus.listen(stop_at_the_first)
    try:
        await sup.start()
        ended = await asyncio.wait_for(sup.wait(), timeout=EXIT_BOUND_SECONDS)
        await sup.close("stopped")
    finally:
        await store.close()
    assert stopping and stopping[0].done()
    assert ended is False
    assert set(sup.states().values()) == {AgentState.KILLED}
    db = tmp_path / "audit.db"
    spawned = [agent for _, agent, _ in events(db, "agent_spawned")]
    killed = [agent for _, agent, _ in events(db, "kill_completed")]
    assert spawned == killed == []  # the launches still pending at the stop never spawned
    assert unanswered_kills(db) == {}
    assert wait_unmarked(marker) == []
