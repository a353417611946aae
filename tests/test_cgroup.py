"""Agents in cgroups, at the process layer: a fork storm killed and frozen, by the kernel's word.

Real cgroups (this host: v2 for kill/freeze, v1 or v2 for limits), real
processes, and two independent witnesses for every claim: the kernel's
``cgroup.events`` and a scan of every process on the machine for the storm's
token (what exists, not what the kill switch knew). Skipped, with the reason,
where no cgroup can be made and ``CI`` is unset.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from pathlib import Path

import pytest
from swarmkit import need_containment

from controlroom.models import Limits
from controlroom.process.cgroup import AgentCgroup
from controlroom.process.cgroupfs import CgroupLayout, layout
from controlroom.process.runcgroups import CgroupUnavailable, RunCgroups
from controlroom.process.runcontain import RunContainment
from controlroom.process.spawn import AgentProcess, spawn_agent

AGENTS = Path(__file__).parent / "agents"
pytestmark = pytest.mark.timeout(120)


def stat_of(pid: int) -> tuple[str, int] | None:
    """(state, utime + stime in ticks) from /proc/PID/stat, or None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    return fields[0].decode(), int(fields[11]) + int(fields[12])


def carrying(token: str) -> list[int]:
    """Every live (not zombie) process on the machine whose command line holds ``token``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                if token.encode() not in fh.read().split(b"\0"):
                    continue
        except OSError:
            continue
        state = stat_of(int(name))
        if state is not None and state[0] != "Z":
            found.append(int(name))
    return found


async def start_storm(group: AgentCgroup, token: str, *args: str) -> tuple[AgentProcess, list[int]]:
    argv = [sys.executable, str(AGENTS / "fork_storm.py"), token, "300", *args]
    agent = await spawn_agent(argv, AGENTS, dict(os.environ), cgroup=group)
    assert agent.process.stdout is not None
    line = await asyncio.wait_for(agent.process.stdout.readline(), 60)
    status = json.loads(line)
    assert status["text"] == "stormed" and len(status["pids"]) == 300
    return agent, status["pids"]


async def finish(agent: AgentProcess) -> None:
    await asyncio.wait_for(agent.process.communicate(), 10)
    agent.close()


# --------------------------------------------------------------------------- the storm


@pytest.mark.timeout(900)
async def test_fork_storm_is_killed_with_zero_survivors_in_20_runs(
    run_cgroups: RunCgroups,
) -> None:
    for run in range(20):
        token = f"storm-{secrets.token_hex(6)}"
        group = run_cgroups.agent(f"storm{run}", Limits())
        # even runs: every process ignores SIGTERM, so only cgroup.kill ends it
        args = ("--ignore-term",) if run % 2 == 0 else ()
        agent, sleepers = await start_storm(group, token, *args)
        await asyncio.sleep(0.05)  # it keeps forking
        before = set(carrying(token))
        assert set(sleepers) <= before and len(before) > 300
        assert set(group.pids()) >= set(sleepers)  # every one was born inside

        # odd runs obey SIGTERM: a grace long enough for 300 exits on a loaded machine,
        # so "not escalated" tests the kill and not the machine's speed (it returns at
        # populated 0, not at the grace's end)
        report = await agent.kill(grace=0.2 if run % 2 == 0 else 10.0)

        assert report.survivors == 0, f"run {run}"
        assert report.processes >= len(before), f"run {run}"  # the true count, not just the tree
        assert report.escalated == (run % 2 == 0)
        assert group.events()["populated"] == 0
        assert group.pids() == []
        assert carrying(token) == [], f"run {run}: survivors by a scan of /proc"
        await finish(agent)


async def test_a_paused_storm_runs_not_at_all_and_all_of_it_resumes(
    run_cgroups: RunCgroups,
) -> None:
    token = f"storm-{secrets.token_hex(6)}"
    group = run_cgroups.agent("storm", Limits())
    agent, _ = await start_storm(group, token)

    reached = agent.pause()
    assert await agent.contain.settle_paused()
    assert group.events()["frozen"] == 1
    members = carrying(token)
    assert reached >= 300 and set(members) == set(group.pids())
    first = {pid: stat_of(pid) for pid in members}
    await asyncio.sleep(0.5)
    second = {pid: stat_of(pid) for pid in members}
    assert all(s is not None and s[0] != "R" for s in second.values()), "a process runs"
    assert second == first, "CPU time went on while paused"
    assert set(carrying(token)) == set(members), "a process was born while paused"

    agent.resume()
    assert await group.wait_for("frozen", 0, 2)

    async def forking_again() -> None:
        while set(carrying(token)) <= set(members):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(forking_again(), 5)  # the leader forks again: it runs
    with open(f"/proc/{agent.pid}/wchan") as fh:
        assert fh.read() != "get_signal"
    report = await agent.kill(grace=0)
    assert report.survivors == 0 and carrying(token) == []
    await finish(agent)


async def test_kill_of_an_empty_cgroup_reports_nothing_to_do(run_cgroups: RunCgroups) -> None:
    group = run_cgroups.agent("quiet", Limits())
    agent = await spawn_agent([sys.executable, "-c", "pass"], AGENTS, {}, cgroup=group)
    await finish(agent)
    report = await agent.kill(grace=5)
    assert (report.processes, report.survivors, report.escalated) == (0, 0, False)


async def test_adopted_orphans_are_reaped_after_the_kill(run_cgroups: RunCgroups) -> None:
    group = run_cgroups.agent("daemons", Limits())
    argv = [sys.executable, str(AGENTS / "daemonizer.py"), "5"]
    agent = await spawn_agent(argv, AGENTS, dict(os.environ), cgroup=group)
    assert agent.process.stdout is not None
    daemons = json.loads(await agent.process.stdout.readline())["pids"]
    assert all(stat_of(pid) is not None for pid in daemons)
    await agent.kill(grace=1)
    await finish(agent)
    assert [pid for pid in daemons if stat_of(pid) is not None] == []  # not even a zombie


# --------------------------------------------------------------------------- limits


async def test_limits_are_written_where_each_controller_lives(run_cgroups: RunCgroups) -> None:
    group = run_cgroups.agent("limited", Limits(memory_max=64 << 20, pids_max=12, cpu_max=0.5))
    via = run_cgroups.limits_via
    for name, expected in (
        ("memory", {"memory.max": str(64 << 20), "memory.limit_in_bytes": str(64 << 20)}),
        ("pids", {"pids.max": "12"}),
        ("cpu", {"cpu.max": "50000 100000", "cpu.cfs_quota_us": "50000"}),
    ):
        if via[name].startswith("unavailable"):
            continue
        folder = group.path if via[name] == "cgroup v2" else group.v1_dirs[name]
        written = {
            f: open(os.path.join(folder, f)).read().strip()
            for f in expected
            if os.path.exists(os.path.join(folder, f))
        }
        assert written and all(expected[f] == v for f, v in written.items()), (name, written)
    run_cgroups.agent("limited", Limits())  # a restart with the limits removed
    if not via["pids"].startswith("unavailable"):
        folder = group.path if via["pids"] == "cgroup v2" else group.v1_dirs["pids"]
        assert open(os.path.join(folder, "pids.max")).read().strip() == "max"


# --------------------------------------------------------------------------- detection


def test_layout_of_a_hybrid_host() -> None:
    mountinfo = (
        "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    )
    own = "8:pids:/\n4:memory:/box/7\n1:cpu:/\n0::/\n"
    found = layout(mountinfo, own)
    assert found.v2_mount == "/sys/fs/cgroup/unified" and found.v2_base == "/sys/fs/cgroup/unified"
    assert found.v1 == {
        "cpu": "/sys/fs/cgroup/cpu",
        "memory": "/sys/fs/cgroup/memory/box/7",
        "pids": "/sys/fs/cgroup/pids",
    }
    assert found.v2_name("/sys/fs/cgroup/unified/controlroom-x/agent-a") == "/controlroom-x/agent-a"


def test_layout_of_a_pure_v2_host_and_of_a_container() -> None:
    pure = "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    own = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/cr.scope\n"
    found = layout(pure, own)
    assert (
        found.v2_base
        == "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/cr.scope"
    )
    assert found.v1 == {}
    container = "29 23 0:26 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n"
    found = layout(container, "0::/docker/abc/inner\n")
    assert found.v2_base == "/sys/fs/cgroup/inner"
    assert found.v2_name("/sys/fs/cgroup/inner/x") == "/docker/abc/inner/x"
    assert layout("", "") == CgroupLayout()


def test_where_no_cgroup_can_be_made_the_reason_is_given(tmp_path: Path) -> None:
    with pytest.raises(CgroupUnavailable, match="no cgroup v2 file system is mounted"):
        RunCgroups.create("x", CgroupLayout())
    with pytest.raises(CgroupUnavailable, match="/proc/1: "):
        RunCgroups.create("x", CgroupLayout(v2_mount="/proc", v2_base="/proc/1"))
    # a directory that is not a cgroup: it has no cgroup.kill, and is left as it was
    plain = CgroupLayout(v2_mount=str(tmp_path), v2_base=str(tmp_path))
    with pytest.raises(CgroupUnavailable, match=r"no cgroup\.kill \(needs Linux 5\.14\)"):
        RunCgroups.create("x", plain)
    assert list(tmp_path.iterdir()) == []


def test_containment_says_which_and_why() -> None:
    forced = RunContainment.open("process-tree", "x")
    assert forced.mode == "process-tree"
    assert (
        forced.describe()
        == 'containment: process tree (containment = "process-tree" in the config)'
    )
    need_containment("cgroup")
    real = RunContainment.open("cgroup", f"t-{secrets.token_hex(4)}")
    try:
        assert real.mode == "cgroup"
        assert real.describe().startswith(
            f"containment: cgroup v2 at {layout().v2_base}/controlroom-t-"
        )
        event = real.event([])
        assert event.mode == "cgroup" and event.cgroups[0] == real.describe().split()[4]
        assert set(event.limits) == {"memory", "pids", "cpu"}
    finally:
        real.close()
    assert not os.path.exists(event.cgroups[0])


async def test_the_agent_is_in_its_cgroup_before_its_first_instruction(
    run_cgroups: RunCgroups,
) -> None:
    group = run_cgroups.agent("early", Limits())
    code = "print(open('/proc/self/cgroup').read(), flush=True)"
    agent = await spawn_agent([sys.executable, "-c", code], AGENTS, {}, cgroup=group)
    out, _ = await asyncio.wait_for(agent.process.communicate(), 10)
    agent.close()
    assert f"0::{group.name}\n" in out.decode()
