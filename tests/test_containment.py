"""Containment through the supervisor: agents that daemonize, leave things behind, or hit limits.

Written as the hostile agent: it starts daemons the usual way (fork, setsid,
fork, the middle exits) so no tree walk from it finds them, with its
environment or without (``env -i``), ignoring SIGTERM. Every kill and stop-all
must leave none alive and report the true count, with cgroups and with the
process-tree fallback (forced by config); survivors are counted by psutil,
from the processes that exist.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import psutil
import pytest
from swarmkit import CONTAINMENTS, agent_cmd, audit_rows, gone, need_containment, sleeper, swarm

from controlroom.models import AgentSpec, AgentState, Budget, Limits

pytestmark = pytest.mark.timeout(60)


def daemonizer(name: str, *args: str) -> AgentSpec:
    return AgentSpec(
        name=name,
        command=agent_cmd("daemonizer", *args),
        budget=Budget(kill_grace_seconds=0.3),
    )


def escaped(leader: int, pids: list[int]) -> bool:
    """None of ``pids`` is in the leader's tree, group or session: a tree walk cannot see them."""
    tree = {p.pid for p in psutil.Process(leader).children(recursive=True)}
    return not tree & set(pids) and all(
        os.getsid(pid) != leader and os.getpgid(pid) != leader for pid in pids
    )


@pytest.mark.parametrize("containment", CONTAINMENTS)
@pytest.mark.parametrize("action", ["kill", "stop-all"])
async def test_daemons_of_an_agent_die_with_it_and_are_counted(
    tmp_path: Path, containment: str, action: str
) -> None:
    need_containment(containment)
    agents = [daemonizer("daemons", "20", "--ignore-term"), sleeper("bystander")]
    async with swarm(tmp_path, agents, containment=containment) as s:
        assert s.sup.confinement.containment.mode == containment
        status = await s.log.status("daemons", "daemons", timeout=15)
        daemons = [psutil.Process(pid) for pid in status.extra["pids"]]
        assert len(daemons) == 20 and not any(gone(p) for p in daemons)
        assert escaped(s.spawned("daemons")[0].pid, status.extra["pids"])

        if action == "kill":
            report = await asyncio.wait_for(s.sup.kill("daemons", by="test", reason="t"), 10)
        else:
            report = (await asyncio.wait_for(s.sup.stop_all(by="test"), 10))["daemons"]

        assert report is not None
        assert [p.pid for p in daemons if not gone(p)] == []
        assert (report.processes, report.survivors, report.escalated) == (21, 0, True)
        assert s.sup.states()["daemons"] == AgentState.KILLED
    completed = audit_rows(s.db, s.run_id, "kill_completed")
    mine = [(c["processes"], c["survivors"]) for c in completed if c["agent"] == "daemons"]
    assert mine == [(21, 0)]


@pytest.mark.parametrize("containment", CONTAINMENTS)
async def test_what_an_exited_agent_left_running_is_killed_and_recorded(
    tmp_path: Path, containment: str
) -> None:
    need_containment(containment)
    async with swarm(tmp_path, [daemonizer("leaver", "5", "--exit")], containment=containment) as s:
        status = await s.log.status("leaver", "daemons", timeout=15)
        daemons = [psutil.Process(pid) for pid in status.extra["pids"]]
        assert await s.wait(15) is True  # the agent itself succeeded
        swept = await s.log.until(
            lambda e: e.kind == "kill_completed" and e.agent == "leaver", timeout=10
        )
        assert [p.pid for p in daemons if not gone(p)] == []
    assert (swept.processes, swept.survivors) == (5, 0)
    requested = audit_rows(s.db, s.run_id, "kill_requested")
    assert [(r["by"], r["reason"]) for r in requested] == [
        ("controlroom", "the agent exited, leaving processes behind")
    ]


async def test_daemons_with_an_empty_environment_are_still_in_the_cgroup(tmp_path: Path) -> None:
    need_containment("cgroup")
    agents = [daemonizer("scrubbed", "3", "--env-clear", "--ignore-term")]
    async with swarm(tmp_path, agents, containment="cgroup") as s:
        status = await s.log.status("scrubbed", "daemons", timeout=15)
        pids = status.extra["pids"]

        async def exec_done() -> None:  # each daemon re-executed itself with env -i
            while any(psutil.Process(p).environ() for p in pids):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(exec_done(), 10)
        report = await asyncio.wait_for(s.sup.kill("scrubbed", by="test"), 10)
        assert report is not None and (report.processes, report.survivors) == (4, 0)
        assert not any(psutil.pid_exists(p) and not gone(psutil.Process(p)) for p in pids)


# --------------------------------------------------------------------------- limits


async def test_over_memory_max_the_agent_is_stopped_naming_the_limit(tmp_path: Path) -> None:
    need_containment("cgroup")
    spec = AgentSpec(
        name="hungry", command=agent_cmd("hog", "memory", "512"), limits=Limits(memory_max="64M")
    )
    async with swarm(tmp_path, [spec], containment="cgroup", sample_seconds=0.1) as s:
        if missing := s.sup.confinement.containment.unenforced(spec.limits):
            pytest.skip(f"no memory controller: {missing}")
        exceeded = await s.log.until(lambda e: e.kind == "limit_exceeded", timeout=20)
        await s.wait(10)
        assert s.sup.states()["hungry"] == AgentState.FAILED
        assert s.sup.runners["hungry"].state_reason == "limit: memory_max exceeded"
    assert (exceeded.agent, exceeded.limit, exceeded.cap) == ("hungry", "memory_max", 64 << 20)
    assert exceeded.count >= 1 and "OOM kill" in exceeded.detail
    kinds = [r["kind"] for r in audit_rows(s.db, s.run_id)]
    assert "agent_crashed" not in kinds and "breaker_opened" not in kinds
    assert kinds.index("limit_exceeded") < kinds.index("agent_exited")


async def test_over_pids_max_the_agent_is_stopped_naming_the_limit(tmp_path: Path) -> None:
    need_containment("cgroup")
    spec = AgentSpec(
        name="forker", command=agent_cmd("hog", "pids", "40"), limits=Limits(pids_max=8)
    )
    async with swarm(tmp_path, [spec], containment="cgroup", sample_seconds=0.1) as s:
        if missing := s.sup.confinement.containment.unenforced(spec.limits):
            pytest.skip(f"no pids controller: {missing}")
        exceeded = await s.log.until(lambda e: e.kind == "limit_exceeded", timeout=20)
        await s.wait(10)
        assert s.sup.states()["forker"] == AgentState.FAILED
        cgroup = s.spawned("forker")[0].cgroup
        killed = await s.log.until(lambda e: e.kind == "kill_completed", timeout=10)
        assert (killed.survivors, open(f"{cgroup}/cgroup.procs").read()) == (0, "")
    assert (exceeded.limit, exceeded.cap) == ("pids_max", 8)
    assert "refused fork" in exceeded.detail and exceeded.count >= 1


async def test_a_limit_nothing_enforces_is_said_at_start(tmp_path: Path) -> None:
    spec = AgentSpec(name="x", command=agent_cmd("well_behaved"), limits=Limits(pids_max=5))
    async with swarm(tmp_path, [spec], containment="process-tree") as s:
        await s.wait(10)
    errors = audit_rows(s.db, s.run_id, "error")
    assert [(e["agent"], e["where"], e["message"]) for e in errors] == [
        ("x", "limits", 'limit not enforced: pids_max: containment = "process-tree" in the config')
    ]
    (ready,) = audit_rows(s.db, s.run_id, "containment")
    assert ready["mode"] == "process-tree" and ready["cgroups"] == []


async def test_the_run_records_its_containment_and_removes_its_cgroups(tmp_path: Path) -> None:
    need_containment("cgroup")
    async with swarm(tmp_path, [sleeper("a")], containment="cgroup") as s:
        spawned = (await s.log.until(lambda e: e.kind == "agent_spawned")).cgroup
        assert spawned.endswith("/agent-a") and Path(spawned).is_dir()
    (ready,) = audit_rows(s.db, s.run_id, "containment")
    assert ready["mode"] == "cgroup" and ready["path"] == str(Path(spawned).parent)
    assert ready["cgroups"][0] == ready["path"]
    assert not any(Path(d).exists() for d in ready["cgroups"])  # removed at close
    kinds = [r["kind"] for r in audit_rows(s.db, s.run_id)]
    assert kinds[:3] == ["run_started", "containment", "config_loaded"]
