"""The supervisor with real agent processes, real signals and a real audit file.

Every test runs a small swarm of the agents in ``tests/agents`` through a
real ``Supervisor`` writing to a real ``AuditStore`` in ``tmp_path``, then
checks what happened three ways: the supervisor's own state and meters, the
processes as the kernel sees them (psutil), and the audit log on disk. Every
wait is bounded; every process a test starts is gone when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from swarmkit import (
    CONTAINMENTS,
    RUNAWAY_LINE_USD,
    EventLog,
    ManualClock,
    agent_cmd,
    audit_rows,
    frozen,
    gone,
    inline_cmd,
    need_containment,
    same_process,
    sleeper,
    swarm,
)

from controlroom.models import (
    AgentSpec,
    AgentState,
    Breaker,
    Budget,
    BudgetExceeded,
    BudgetWarning,
    EventBase,
    MalformedOutput,
)
from controlroom.store.verify import verify_chain

pytestmark = pytest.mark.timeout(30)


# --------------------------------------------------------------------------- 1, 2: kill switch


@pytest.mark.parametrize(
    ("agent", "args", "ready"),
    [
        ("forks_setsid", ("2",), "forked"),
        ("forks_setsid", ("2", "--ignore-term"), "forked"),
        ("tree4", (), "ready"),
    ],
    ids=["forks_setsid", "forks_setsid-ignore-term", "tree4"],
)
async def test_kill_leaves_no_process_of_the_tree(
    tmp_path: Path, agent: str, args: tuple[str, ...], ready: str
) -> None:
    spec = AgentSpec(
        name="victim", command=agent_cmd(agent, *args), budget=Budget(kill_grace_seconds=0.3)
    )
    async with swarm(tmp_path, [spec]) as s:
        status = await s.log.status("victim", ready)
        leader = s.spawned("victim")[0].pid
        printed = set(status.extra["pids"])
        if agent == "tree4":
            printed.discard(leader)
        tree = [psutil.Process(leader), *psutil.Process(leader).children(recursive=True)]
        assert {p.pid for p in tree[1:]} == printed  # the agent told the truth about its tree
        assert len(tree) == (5 if agent == "forks_setsid" else 4)
        assert not any(gone(p) for p in tree)

        report = await asyncio.wait_for(s.sup.kill("victim", by="test", reason="t"), 5)

        assert report is not None
        survivors = [p.pid for p in tree if not gone(p)]
        assert survivors == []
        assert report.survivors == 0
        assert report.processes == len(tree)
        assert report.escalated == ("--ignore-term" in args)
        assert s.sup.states()["victim"] == AgentState.KILLED
    completed = audit_rows(s.db, s.run_id, "kill_completed")
    assert [(c["agent"], c["survivors"], c["processes"]) for c in completed] == [
        ("victim", 0, len(tree))
    ]
    requested = audit_rows(s.db, s.run_id, "kill_requested")
    assert [(r["by"], r["reason"]) for r in requested] == [("test", "t")]


async def test_kill_finds_grandchildren_orphaned_out_of_the_tree(tmp_path: Path) -> None:
    """Children exit after 0.3 s; their setsid'd grandchildren re-parent to us (subreaper).

    Nothing links them to the agent any more (other session, other parent):
    only the sampler's memory of the tree lets the kill switch find them.
    """
    spec = AgentSpec(
        name="escaper",
        command=agent_cmd("forks_setsid", "2", "--orphan-after=0.3"),
        budget=Budget(kill_grace_seconds=0.3),
    )
    async with swarm(tmp_path, [spec], sample_seconds=0.05) as s:
        status = await s.log.status("escaper", "forked")
        children = [psutil.Process(p) for p in status.extra["children"]]
        grandchildren = [psutil.Process(p) for p in status.extra["grandchildren"]]

        async def children_exit() -> None:
            while not all(gone(c) for c in children):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(children_exit(), 3)
        leader = s.spawned("escaper")[0].pid
        assert not {g.pid for g in grandchildren} & {
            p.pid for p in psutil.Process(leader).children(recursive=True)
        }
        assert all(g.ppid() != leader and not gone(g) for g in grandchildren)

        report = await asyncio.wait_for(s.sup.kill("escaper", by="test"), 5)

        assert report is not None and report.survivors == 0
        assert [g.pid for g in grandchildren if not gone(g)] == []
        assert s.sup.states()["escaper"] == AgentState.KILLED


LEAVES_A_DAEMON = (  # the daemon reports itself, then the agent exits 0
    "import json, os, time\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    print(json.dumps({'type': 'status', 'text': 'daemon', 'pid': os.getpid()}), flush=True)\n"
    "    time.sleep(20)\n"
    "    os._exit(0)\n"
)


async def test_agent_that_leaves_a_daemon_holding_its_output_still_ends(tmp_path: Path) -> None:
    """The daemon keeps the agent's stdout open; the agent must not stay 'running' for it."""
    spec = AgentSpec(name="daemonizer", command=inline_cmd(LEAVES_A_DAEMON))
    async with swarm(tmp_path, [spec]) as s:
        status = await s.log.status("daemonizer", "daemon")
        daemons = [psutil.Process(status.extra["pid"])]
        try:
            assert await s.wait(15) is True  # the daemon holds the pipe for 20 s
            assert s.sup.states() == {"daemonizer": AgentState.DONE}
            (error,) = s.log.of("error", "daemonizer")
            assert error.where == "runner" and "left behind" in error.message
            # The run does not end before the sweep of what the agent left is recorded.
            assert gone(daemons[0])
            (requested,) = s.log.of("kill_requested", "daemonizer")
            assert requested.reason == "the agent exited, leaving processes behind"
            (completed,) = s.log.of("kill_completed", "daemonizer")
            assert completed.survivors == 0 and completed.processes >= 1
        finally:
            for daemon in daemons:
                with contextlib.suppress(psutil.Error):
                    daemon.kill()
                    daemon.wait(2)


async def test_kill_escalates_to_sigkill_after_the_grace_period(tmp_path: Path) -> None:
    spec = AgentSpec(
        name="stubborn",
        command=agent_cmd("ignores_sigterm"),
        budget=Budget(kill_grace_seconds=0.3),
    )
    async with swarm(tmp_path, [spec]) as s:
        await s.log.status("stubborn", "ignoring SIGTERM")
        proc = psutil.Process(s.spawned("stubborn")[0].pid)
        began = time.monotonic()
        report = await asyncio.wait_for(s.sup.kill("stubborn", by="test"), 30)
        took = time.monotonic() - began

        assert report is not None
        assert report.escalated is True
        assert report.survivors == 0
        assert report.duration_ms >= 300 and took >= 0.3  # the grace, then SIGKILL
        assert gone(proc)
        assert s.sup.states()["stubborn"] == AgentState.KILLED
        exited = s.log.of("agent_exited", "stubborn")
        assert [(e.signal, e.success) for e in exited] == [("SIGKILL", False)]
    completed = audit_rows(s.db, s.run_id, "kill_completed")
    assert [(c["escalated"], c["survivors"]) for c in completed] == [(True, 0)]
    assert completed[0]["duration_ms"] >= 300


# --------------------------------------------------------------------------- 3, 4, 5: budgets


def _warning_then_stop(log: EventLog, agent: str, limit: str) -> tuple[Any, Any]:
    events = log.collect()
    warnings = [
        (i, e)
        for i, e in enumerate(events)
        if isinstance(e, BudgetWarning) and e.agent == agent and e.limit == limit
    ]
    stops = [
        (i, e) for i, e in enumerate(events) if isinstance(e, BudgetExceeded) and e.agent == agent
    ]
    assert len(warnings) == 1, warnings
    assert len(stops) == 1, stops
    assert warnings[0][0] < stops[0][0]
    assert stops[0][1].limit == limit
    return warnings[0][1], stops[0][1]


async def test_token_budget_stops_a_runaway_at_the_cap(tmp_path: Path) -> None:
    spec = AgentSpec(
        name="runaway", command=agent_cmd("runaway", "50"), budget=Budget(max_tokens=10_000)
    )
    async with swarm(tmp_path, [spec]) as s:
        assert await s.wait(5) is False
        assert s.sup.states() == {"runaway": AgentState.BUDGET_STOPPED}
        total = s.sup.snapshot().agent("runaway").total_tokens
        assert 10_000 <= total < 11_000
        warning, stop = _warning_then_stop(s.log, "runaway", "max_tokens")
        assert (warning.value, warning.cap, warning.fraction) == (8_000, 10_000, 0.8)
        assert (stop.value, stop.cap, stop.overshoot) == (10_000, 10_000, 0)
        assert not psutil.pid_exists(s.spawned("runaway")[0].pid) or gone(
            psutil.Process(s.spawned("runaway")[0].pid)
        )
    rows = audit_rows(s.db, s.run_id, "budget_exceeded")
    assert [(r["limit"], r["value"], r["cap"], r["overshoot"]) for r in rows] == [
        ("max_tokens", 10_000, 10_000, 0)
    ]
    states = [r["state"] for r in audit_rows(s.db, s.run_id, "agent_state")]
    assert states[-2:] == [AgentState.STOPPING, AgentState.BUDGET_STOPPED]


async def test_cost_budget_stops_a_runaway(tmp_path: Path) -> None:
    cap = 0.04  # the 10th line (10 x $0.0042) crosses it
    spec = AgentSpec(
        name="spender", command=agent_cmd("runaway", "50"), budget=Budget(max_cost_usd=cap)
    )
    async with swarm(tmp_path, [spec]) as s:
        await s.wait(5)
        assert s.sup.states() == {"spender": AgentState.BUDGET_STOPPED}
        warning, stop = _warning_then_stop(s.log, "spender", "max_cost_usd")
        assert warning.value >= 0.8 * cap and warning.value < cap
        assert stop.value == pytest.approx(10 * RUNAWAY_LINE_USD)
        assert stop.cap == cap
        assert stop.overshoot == pytest.approx(stop.value - cap)
        usages = s.log.of("usage", "spender")
        assert all(u.cost_usd == pytest.approx(RUNAWAY_LINE_USD) for u in usages)
        # every line it wrote is metered, the ones still in its pipe at the stop included
        # (how few those are is a speed figure: bench/runaway.py, not this test)
        assert len(usages) >= 10
        metered = s.sup.snapshot().agent("spender").cost_usd
        assert metered == pytest.approx(len(usages) * RUNAWAY_LINE_USD)


async def test_turn_budget_stops_a_runaway(tmp_path: Path) -> None:
    spec = AgentSpec(name="chatty", command=agent_cmd("runaway", "50"), budget=Budget(max_turns=5))
    async with swarm(tmp_path, [spec]) as s:
        await s.wait(5)
        assert s.sup.states() == {"chatty": AgentState.BUDGET_STOPPED}
        warning, stop = _warning_then_stop(s.log, "chatty", "max_turns")
        assert (warning.value, warning.cap) == (4, 5)
        assert (stop.value, stop.cap, stop.overshoot) == (5, 5, 0)
        # every turn it reported is counted, any still in its pipe at the stop included
        assert s.sup.snapshot().agent("chatty").turns == len(s.log.of("usage", "chatty")) >= 5


async def test_swarm_cost_cap_stops_every_agent(tmp_path: Path) -> None:
    cap = 0.05
    agents = [AgentSpec(name=n, command=agent_cmd("runaway", "200")) for n in ("r1", "r2")]
    async with swarm(tmp_path, agents, max_cost_usd=cap) as s:
        await s.wait(5)
        assert s.sup.states() == {
            "r1": AgentState.BUDGET_STOPPED,
            "r2": AgentState.BUDGET_STOPPED,
        }
        stops = s.log.of("budget_exceeded")
        assert sorted(e.agent for e in stops) == ["r1", "r2"]
        assert {e.limit for e in stops} == {"swarm_max_cost_usd"}
        assert all(e.cap == cap and e.value >= cap for e in stops)
        charged = s.sup.snapshot().charged_usd
        # what they wrote is what is charged: every line metered, none lost
        assert charged >= cap
        assert charged == pytest.approx(len(s.log.of("usage")) * RUNAWAY_LINE_USD)
        for spawned in s.spawned("r1") + s.spawned("r2"):
            proc = same_process(spawned.pid, spawned.create_time)
            assert proc is None or gone(proc)


TICK = 0.1  # how often the supervisor checks wall time (its default tick_seconds)


async def test_wall_time_limit_stops_a_sleeping_agent(tmp_path: Path) -> None:
    clock = ManualClock()
    spec = sleeper("slow", budget=Budget(max_wall_seconds=0.5))
    async with swarm(tmp_path, [spec], clock=clock) as s:
        await s.state("slow", [AgentState.RUNNING])
        clock.advance(0.375)
        await asyncio.sleep(3 * TICK)  # the governor's wall-time tick has looked, and let it be
        assert s.sup.states() == {"slow": AgentState.RUNNING}
        clock.advance(0.125)
        await s.wait(10)
        assert s.sup.states() == {"slow": AgentState.BUDGET_STOPPED}
        (stop,) = s.log.of("budget_exceeded", "slow")
        assert stop.limit == "max_wall_seconds"
        assert (stop.value, stop.cap, stop.overshoot) == (0.5, 0.5, 0.0)


async def test_wall_time_excludes_paused_time(tmp_path: Path) -> None:
    clock = ManualClock()
    spec = sleeper("napper", budget=Budget(max_wall_seconds=0.75))
    async with swarm(tmp_path, [spec], clock=clock) as s:
        await s.state("napper", [AgentState.RUNNING])
        clock.advance(0.25)
        await asyncio.wait_for(s.sup.pause("napper", by="test"), 10)
        clock.advance(0.75)
        await asyncio.sleep(3 * TICK)
        # 1.0 s has passed on the clock, 0.25 s of it running: only the pause keeps it alive
        assert s.sup.states()["napper"] == AgentState.PAUSED
        assert s.log.of("budget_exceeded") == []
        await asyncio.wait_for(s.sup.resume("napper", by="test"), 10)
        (resumed,) = s.log.of("agent_resumed", "napper")
        assert resumed.paused_seconds == 0.75
        clock.advance(0.25)
        await asyncio.sleep(3 * TICK)
        assert s.sup.states()["napper"] == AgentState.RUNNING  # 0.5 s of 0.75 run
        clock.advance(0.25)
        await s.wait(10)

        assert s.sup.states() == {"napper": AgentState.BUDGET_STOPPED}
        (stop,) = s.log.of("budget_exceeded", "napper")
        assert stop.limit == "max_wall_seconds"
        assert (stop.value, stop.overshoot) == (0.75, 0.0)  # running time only


# --------------------------------------------------------------------------- 6, 7: breaker


async def test_crash_loop_opens_the_breaker_after_max_failures(tmp_path: Path) -> None:
    spec = AgentSpec(
        name="crashy",
        command=agent_cmd("crashes"),
        breaker=Breaker(restart="on-failure", max_failures=3, backoff_seconds=0.01),
    )
    async with swarm(tmp_path, [spec]) as s:
        assert await s.wait(5) is False
        assert s.sup.states() == {"crashy": AgentState.BREAKER_OPEN}
        assert [e.attempt for e in s.spawned("crashy")] == [1, 2, 3]
        assert [e.returncode for e in s.log.of("agent_exited", "crashy")] == [3, 3, 3]
        (opened,) = s.log.of("breaker_opened", "crashy")
        assert opened.failures == 3
    assert len(audit_rows(s.db, s.run_id, "agent_spawned")) == 3
    assert len(audit_rows(s.db, s.run_id, "breaker_opened")) == 1


async def test_crash_without_restart_fails_once(tmp_path: Path) -> None:
    spec = AgentSpec(
        name="once", command=agent_cmd("crashes", "7"), breaker=Breaker(restart="never")
    )
    async with swarm(tmp_path, [spec]) as s:
        assert await s.wait(5) is False
        assert s.sup.states() == {"once": AgentState.FAILED}
        assert len(s.spawned("once")) == 1
        assert [e.returncode for e in s.log.of("agent_exited", "once")] == [7]
        assert s.log.of("breaker_opened") == []
        stderr = [e.text for e in s.log.of("agent_output", "once") if e.stream == "stderr"]
        assert any("simulated failure" in line for line in stderr)


async def test_repeated_tool_call_opens_the_breaker_and_stops_the_agent(tmp_path: Path) -> None:
    spec = AgentSpec(
        name="looper", command=agent_cmd("repeats_tool"), breaker=Breaker(repeat_limit=4)
    )
    async with swarm(tmp_path, [spec]) as s:
        assert await s.wait(5) is False
        assert s.sup.states() == {"looper": AgentState.BREAKER_OPEN}
        (opened,) = s.log.of("breaker_opened", "looper")
        assert "Bash" in opened.reason and "pytest -q" in opened.reason
        assert "4 times" in opened.reason
        assert opened.failures == 4
        spawned = s.spawned("looper")
        assert len(spawned) == 1
        proc = same_process(spawned[0].pid, spawned[0].create_time)
        assert proc is None or gone(proc)
        (exited,) = s.log.of("agent_exited", "looper")
        assert exited.signal == "SIGTERM"
        (completed,) = s.log.of("kill_completed", "looper")
        assert completed.survivors == 0


# --------------------------------------------------------------------------- 8: garbage


async def test_garbage_output_is_reported_and_good_lines_still_metered(tmp_path: Path) -> None:
    spec = AgentSpec(name="noisy", command=agent_cmd("garbage", "5"))
    async with swarm(tmp_path, [spec]) as s:
        assert await s.wait(10) is True
        assert s.sup.states() == {"noisy": AgentState.DONE}
        bad = [e for e in s.log.collect() if isinstance(e, MalformedOutput)]
        reasons = [e.reason for e in bad]
        assert len(bad) == 5, reasons
        assert reasons[0].startswith("binary output")
        assert reasons[1].startswith("line over 1 MiB")
        assert bad[1].length == 5 * 1024 * 1024
        assert reasons[2].startswith("not UTF-8")
        assert reasons[3].startswith("half-written JSON")
        assert "input_tokens" in reasons[4]
        assert all(len(e.preview) <= 200 for e in bad)
        meter = s.sup.snapshot().agent("noisy")
        assert (meter.input_tokens, meter.output_tokens, meter.turns) == (50, 25, 5)
    assert len(audit_rows(s.db, s.run_id, "malformed_output")) == 5
    assert len(audit_rows(s.db, s.run_id, "usage")) == 5


# --------------------------------------------------------------------------- 9, 10: stop all, pause


async def test_stop_all_kills_in_parallel(tmp_path: Path) -> None:
    stubborn = [
        AgentSpec(
            name=f"stubborn{i}",
            command=agent_cmd("ignores_sigterm"),
            budget=Budget(kill_grace_seconds=0.5),
        )
        for i in range(5)
    ]
    polite = [sleeper(f"polite{i}") for i in range(5)]
    async with swarm(tmp_path, stubborn + polite) as s:
        for spec in stubborn:
            await s.log.status(spec.name, "ignoring SIGTERM")
        for spec in polite:
            await s.state(spec.name, [AgentState.RUNNING])
        procs = [psutil.Process(e.pid) for e in s.log.of("agent_spawned")]
        assert len(procs) == 10

        began = time.monotonic()
        reports = await asyncio.wait_for(s.sup.stop_all(by="test"), 30)
        took = time.monotonic() - began

        assert took >= 0.5  # the grace was given
        # In parallel (the slowest grace, not the sum): every kill was asked for before
        # any stubborn agent's grace ran out.
        kinds = [(e.kind, e.agent) for e in s.log.collect() if e.kind.startswith("kill_")]
        first_escalated = min(
            i
            for i, (kind, agent) in enumerate(kinds)
            if kind == "kill_completed" and agent.startswith("stubborn")
        )
        requested = [i for i, (kind, _) in enumerate(kinds) if kind == "kill_requested"]
        assert len(requested) == 10 and max(requested) < first_escalated
        assert sorted(reports) == sorted(spec.name for spec in stubborn + polite)
        assert all(r is not None and r.survivors == 0 for r in reports.values())
        assert {n: r.escalated for n, r in reports.items() if r is not None} == {
            **{spec.name: True for spec in stubborn},
            **{spec.name: False for spec in polite},
        }
        assert set(s.sup.states().values()) == {AgentState.KILLED}
        assert [p.pid for p in procs if not gone(p)] == []
    completed = audit_rows(s.db, s.run_id, "kill_completed")
    assert len(completed) == 10 and {c["survivors"] for c in completed} == {0}


async def _statuses(procs: list[psutil.Process], wanted: set[str], timeout: float = 2.0) -> None:
    async def poll() -> None:
        while not all(p.status() in wanted for p in procs):
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)


async def _frozen(procs: list[psutil.Process], timeout: float = 2.0) -> None:
    async def poll() -> None:
        while not all(frozen(p) for p in procs):
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)


@pytest.mark.parametrize("containment", CONTAINMENTS)
async def test_pause_and_resume_reach_every_process_of_the_tree(
    tmp_path: Path, containment: str
) -> None:
    need_containment(containment)
    spec = AgentSpec(name="family", command=agent_cmd("tree4"))
    async with swarm(tmp_path, [spec], containment=containment) as s:
        assert s.sup.confinement.containment.mode == containment
        ready = await s.log.status("family", "ready")
        procs = [psutil.Process(p) for p in ready.extra["pids"]]
        assert len(procs) == 4

        reached = await asyncio.wait_for(s.sup.pause("family", by="test"), 2)
        assert reached >= 4
        await _frozen(procs)
        assert s.sup.states()["family"] == AgentState.PAUSED
        assert s.sup.snapshot().agent("family").paused is True

        await asyncio.wait_for(s.sup.resume("family", by="test"), 2)
        await _statuses(procs, {psutil.STATUS_RUNNING, psutil.STATUS_SLEEPING})
        assert s.sup.states()["family"] == AgentState.RUNNING
        assert s.sup.snapshot().agent("family").paused is False

        # a paused tree must still die at once (SIGCONT follows the SIGTERM)
        await asyncio.wait_for(s.sup.pause("family", by="test"), 2)
        await _frozen(procs)
        report = await asyncio.wait_for(s.sup.kill("family", by="test", grace=2.0), 5)
        assert report is not None and report.survivors == 0 and not report.escalated
        assert all(gone(p) for p in procs)
    kinds = [r["kind"] for r in audit_rows(s.db, s.run_id)]
    assert kinds.count("agent_paused") == 2 and kinds.count("agent_resumed") == 1
    assert kinds.index("agent_paused") < kinds.index("agent_resumed")
    assert {r["by"] for r in audit_rows(s.db, s.run_id, "agent_paused")} == {"test"}


BLOCKS_SIGTERM = (
    "import json, os, signal, time\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})\n"
    "print(json.dumps({'type': 'status', 'text': 'blocking', 'pid': os.getpid()}), flush=True)\n"
    "time.sleep(60)\n"
)


def sigterm_pending(pid: int) -> bool:
    """SIGTERM is pending for ``pid`` (its process-wide or thread mask of pending signals)."""
    with open(f"/proc/{pid}/status") as fh:
        fields = dict(line.split(":\t", 1) for line in fh.read().splitlines() if ":\t" in line)
    bit = 1 << (15 - 1)  # SIGTERM is 15
    return bool((int(fields["ShdPnd"], 16) | int(fields["SigPnd"], 16)) & bit)


@pytest.mark.parametrize("containment", CONTAINMENTS)
async def test_a_stop_records_and_signals_in_the_call_that_asks_for_it(
    tmp_path: Path, containment: str
) -> None:
    """``begin`` returns with kill_requested published, SIGTERM sent, a paused agent let run.

    No task hop between a stop's decision and its signal: beside a flood the
    hop waited behind the reader's rounds (20 to 50 ms at load 8). The agent
    blocks SIGTERM, so the signal is still pending when ``begin`` returns.
    """
    need_containment(containment)
    spec = AgentSpec(
        name="held", command=inline_cmd(BLOCKS_SIGTERM), budget=Budget(kill_grace_seconds=0.2)
    )
    async with swarm(tmp_path, [spec], containment=containment) as s:
        pid = (await s.log.status("held", "blocking")).extra["pid"]
        await asyncio.wait_for(s.sup.pause("held", by="test"), 2)
        await _frozen([psutil.Process(pid)])
        runner = s.sup.runners["held"]
        assert runner.process is not None
        cgroup = runner.process.contain.cgroup
        seen: list[EventBase] = []
        s.sup.bus.listen(seen.append)
        assert not sigterm_pending(pid)

        kill = s.sup.stops.begin(runner, AgentState.KILLED, "test", "now")

        assert [e.kind for e in seen if e.agent == "held"][-1:] == ["kill_requested"]
        assert sigterm_pending(pid)
        if cgroup:  # thawed (a paused tree is sent SIGCONT with its SIGTERM)
            assert (Path(cgroup) / "cgroup.freeze").read_text().strip() == "0"
        else:
            assert psutil.Process(pid).status() != psutil.STATUS_STOPPED
        report = await asyncio.wait_for(kill, 5)
        assert report is not None and report.survivors == 0 and report.escalated
    kinds = [r["kind"] for r in audit_rows(s.db, s.run_id) if r["agent"] == "held"]
    assert kinds.index("kill_requested") < kinds.index("kill_completed")


# --------------------------------------------------------------------------- 11: pipeline

PRINT_HANDOFF = (
    "import json, os\n"
    "path = os.environ['CONTROLROOM_HANDOFF_FILE']\n"
    "print(json.dumps({'type': 'status', 'text': open(path).read(), 'path': path}))\n"
)


async def test_downstream_receives_the_upstream_handoff(tmp_path: Path) -> None:
    agents = [
        AgentSpec(name="a", command=agent_cmd("well_behaved")),
        AgentSpec(name="b", command=inline_cmd(PRINT_HANDOFF), after=["a"]),
    ]
    async with swarm(tmp_path, agents) as s:
        assert await s.wait(5) is True
        assert s.sup.states() == {"a": AgentState.DONE, "b": AgentState.DONE}
        (status,) = s.log.of("status", "b")
        assert json.loads(status.text) == [
            {
                "agent": "a",
                "changed": "did: a",
                "next_needs": "run the tests",
                "risks": "none known",
            }
        ]
        assert Path(status.extra["path"]).is_relative_to(tmp_path / "run")
        a_exit = s.log.of("agent_exited", "a")[0]
        b_spawn = s.spawned("b")[0]
        assert b_spawn.seq > a_exit.seq


async def test_failed_upstream_blocks_its_branch_only(tmp_path: Path) -> None:
    agents = [
        AgentSpec(name="broken", command=agent_cmd("crashes"), breaker=Breaker(restart="never")),
        AgentSpec(name="after-broken", command=agent_cmd("well_behaved"), after=["broken"]),
        AgentSpec(name="fine", command=agent_cmd("well_behaved")),
        AgentSpec(name="after-fine", command=inline_cmd(PRINT_HANDOFF), after=["fine"]),
    ]
    async with swarm(tmp_path, agents) as s:
        assert await s.wait(5) is False
        assert s.sup.states() == {
            "broken": AgentState.FAILED,
            "after-broken": AgentState.BLOCKED,
            "fine": AgentState.DONE,
            "after-fine": AgentState.DONE,
        }
        (blocked,) = [
            e for e in s.log.of("agent_state", "after-broken") if e.state == AgentState.BLOCKED
        ]
        assert "upstream broken" in blocked.reason and "failed" in blocked.reason
        assert s.spawned("after-broken") == []
        (status,) = s.log.of("status", "after-fine")
        assert [h["agent"] for h in json.loads(status.text)] == ["fine"]


# --------------------------------------------------------------------------- 12: audit


async def test_every_published_event_is_in_the_audit_file_and_the_chain_verifies(
    tmp_path: Path,
) -> None:
    agents = [
        AgentSpec(name="good", command=agent_cmd("well_behaved")),
        AgentSpec(name="down", command=agent_cmd("well_behaved", "{handoff}"), after=["good"]),
        AgentSpec(
            name="runaway", command=agent_cmd("runaway", "300"), budget=Budget(max_tokens=20_000)
        ),
        AgentSpec(
            name="crashy",
            command=agent_cmd("crashes"),
            breaker=Breaker(restart="on-failure", max_failures=2, backoff_seconds=0.01),
        ),
        AgentSpec(
            name="looper", command=agent_cmd("repeats_tool"), breaker=Breaker(repeat_limit=3)
        ),
        AgentSpec(name="noisy", command=agent_cmd("garbage")),
        sleeper("killed"),
    ]
    async with swarm(tmp_path, agents) as s:
        await s.state("killed", [AgentState.RUNNING])
        await asyncio.wait_for(s.sup.kill("killed", by="test"), 5)
        await s.wait(10)
        assert s.sup.states() == {
            "good": AgentState.DONE,
            "down": AgentState.DONE,
            "runaway": AgentState.BUDGET_STOPPED,
            "crashy": AgentState.BREAKER_OPEN,
            "looper": AgentState.BREAKER_OPEN,
            "noisy": AgentState.DONE,
            "killed": AgentState.KILLED,
        }
    published = s.log.collect()
    assert s.log.sub.dropped == 0
    kinds = [getattr(e, "kind", "") for e in published]
    assert kinds[0] == "run_started" and kinds[-1] == "run_ended"
    seqs = [e.seq for e in published]
    assert seqs == list(range(1, len(seqs) + 1))  # stamped once each, in publish order
    conn = sqlite3.connect(f"file:{s.db}?mode=ro", uri=True)
    try:
        stored = conn.execute(
            "SELECT seq, kind FROM events WHERE run = ? ORDER BY seq", (s.run_id,)
        ).fetchall()
    finally:
        conn.close()
    assert stored == [(e.seq, kind) for e, kind in zip(published, kinds, strict=True)]
    result = verify_chain(s.db)
    assert result.ok, result.reason
    assert result.events == len(published)


# --------------------------------------------------------------------------- 13: environment

PRINT_ENV = (  # the secret's hash too: its value itself is redacted on every surface
    "import hashlib, json, os\n"
    "digest = hashlib.sha256(os.environ.get('OPERATOR_SECRET', '').encode()).hexdigest()\n"
    "print(json.dumps({'type': 'status', 'text': 'env', 'env': dict(os.environ), 'sha': digest}))\n"
)


async def test_agents_see_only_their_allowlisted_environment(tmp_path: Path) -> None:
    secret = "s3cr3t-value-4242"
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "OPERATOR_SECRET": secret,
        "ALLOWED_VAR": "visible",
        "NOT_ALLOWED": "hidden",
    }
    agents = [
        AgentSpec(name="plain", command=inline_cmd(PRINT_ENV), env=["ALLOWED_VAR"]),
        AgentSpec(name="trusted", command=inline_cmd(PRINT_ENV), secret_env=["OPERATOR_SECRET"]),
    ]
    async with swarm(tmp_path, agents, environ=environ) as s:
        assert await s.wait(5) is True
        plain = (await s.log.status("plain", "env")).extra["env"]
        trusted_status = await s.log.status("trusted", "env")
        trusted = trusted_status.extra["env"]
    assert plain["CONTROLROOM_AGENT"] == "plain"
    assert plain["CONTROLROOM_RUN"] == s.run_id
    assert plain["ALLOWED_VAR"] == "visible"
    assert "OPERATOR_SECRET" not in plain
    assert "NOT_ALLOWED" not in plain
    assert set(plain) - {"LC_CTYPE"} == {
        "PATH",
        "HOME",
        "ALLOWED_VAR",
        "CONTROLROOM_AGENT",
        "CONTROLROOM_RUN",
        "CONTROLROOM_HANDOFF_FILE",
        "CONTROLROOM_SOCKET",
        "CONTROLROOM_MODEL_URL",  # its own way to the model, through the metering proxy
        "CONTROLROOM_MODEL_SOCKET",
    }
    assert plain["CONTROLROOM_MODEL_URL"] != trusted["CONTROLROOM_MODEL_URL"]
    # the agent got the secret (its hash says so); the bus shows it only redacted
    assert trusted_status.extra["sha"] == hashlib.sha256(secret.encode()).hexdigest()
    assert trusted["OPERATOR_SECRET"] == "[redacted]"
    assert "ALLOWED_VAR" not in trusted
    # the secret reached the agent that may have it, but never the audit file
    payloads = json.dumps(audit_rows(s.db, s.run_id))
    assert secret not in payloads
    assert "trusted" in payloads
