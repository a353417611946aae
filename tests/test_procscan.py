"""Sampling tree-contained agents from one /proc pass (process/procscan.py), on real processes.

The table must give the answers the per-agent tree walk gives (processes,
memory, CPU), keep a process's identity by its start time, and keep the
sampler's memory of re-parented orphans, which the kill switch relies on.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
from swarmkit import agent_cmd, gone, swarm

from controlroom.models import AgentSpec, Budget
from controlroom.process.linux import IS_LINUX
from controlroom.process.procscan import ProcTable, sample_from_table, shared_table
from controlroom.process.spawn import AgentProcess, TreeCache, sample_tree, spawn_agent

AGENTS = Path(__file__).parent / "agents"
ROOT = Path(__file__).parent.parent
pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not IS_LINUX, reason="reads /proc"),
]


@pytest.fixture
async def started() -> AsyncIterator[list[AgentProcess]]:
    agents: list[AgentProcess] = []
    try:
        yield agents
    finally:
        for agent in agents:
            await agent.kill(grace=2)
            await asyncio.wait_for(agent.process.communicate(), 10)
            agent.close()


async def start(agents: list[AgentProcess], script: str, *args: str) -> AgentProcess:
    argv = [sys.executable, str(AGENTS / script), *args]
    agent = await spawn_agent(argv, ROOT, dict(os.environ))
    agents.append(agent)
    return agent


async def test_one_table_gives_what_the_tree_walk_gives(started: list[AgentProcess]) -> None:
    tree = await start(started, "tree4.py")
    assert tree.process.stdout is not None
    ready = json.loads(await asyncio.wait_for(tree.process.stdout.readline(), 10))
    assert tree.contain.mode == "process-tree"

    table = ProcTable.read()
    assert {tree.pid, *ready["pids"]} <= set(table.tree(tree.pid))
    by_table = tree.sample(table)
    by_walk = sample_tree(tree.pid, TreeCache())
    assert by_table.processes == by_walk.processes == 4
    assert by_table.rss_bytes > 4 * 1_000_000
    assert abs(by_table.rss_bytes - by_walk.rss_bytes) <= 0.1 * by_walk.rss_bytes
    assert by_table.cpu_percent == 0.0  # a first sample has nothing to compare with
    # the kill switch and pause use what the sampler saw
    assert sorted(p.pid for p in tree.contain.known()) == sorted(ready["pids"])  # type: ignore[attr-defined]

    await tree.kill(grace=5)
    assert tree.sample(ProcTable.read()).processes == 0


async def test_cpu_is_the_change_in_ticks_between_two_tables(started: list[AgentProcess]) -> None:
    busy = await start(started, "runaway.py", "0")
    assert busy.process.stdout is not None
    cache = TreeCache()
    assert sample_from_table(busy.pid, cache, ProcTable.read()).cpu_percent == 0.0
    burned = psutil.Process(busy.pid).cpu_times
    start_cpu = sum(burned()[:2])
    until = time.monotonic() + 30  # only stops a hung test
    while sum(burned()[:2]) - start_cpu < 0.1 and time.monotonic() < until:
        await busy.process.stdout.read(65536)  # keep its pipe moving: it burns CPU writing
    second = sample_from_table(busy.pid, cache, ProcTable.read())
    assert second.processes == 1 and second.cpu_percent > 0


async def test_a_pid_with_another_start_time_is_not_the_agent_s(
    started: list[AgentProcess],
) -> None:
    agent = await start(started, "tree4.py")
    assert agent.process.stdout is not None
    await asyncio.wait_for(agent.process.stdout.readline(), 10)
    table = ProcTable.read()
    cache = TreeCache()
    assert sample_from_table(agent.pid, cache, table).processes == 4
    began, ticks, at = cache.seen[agent.pid]
    cache.seen[agent.pid] = (began + 1, ticks, at)  # as if the pid had been recycled since
    # the leader's pid is someone else's: not counted; the children seen before still are
    assert sample_from_table(agent.pid, cache, table).processes == 3
    assert agent.pid not in cache.procs and len(cache.procs) == 3


def test_a_table_is_read_only_when_an_agent_is_contained_by_its_tree() -> None:
    assert shared_table(["cgroup", "cgroup"]) is None
    assert shared_table([]) is None
    table = shared_table(["cgroup", "process-tree"])
    assert table is not None and os.getpid() in table.stats
    assert table.stats[os.getpid()].ppid == os.getppid()


async def test_the_kill_switch_finds_orphans_the_table_sampler_remembered(
    tmp_path: Path,
) -> None:
    """As test_supervisor's orphan test, with the agent contained by its tree: the
    grandchildren re-parent away from it, and only the sampler's memory finds them."""
    spec = AgentSpec(
        name="escaper",
        command=agent_cmd("forks_setsid", "2", "--orphan-after=0.3"),
        budget=Budget(kill_grace_seconds=0.3),
    )
    async with swarm(tmp_path, [spec], sample_seconds=0.05, containment="process-tree") as s:
        status = await s.log.status("escaper", "forked")
        children = [psutil.Process(p) for p in status.extra["children"]]
        grandchildren = [psutil.Process(p) for p in status.extra["grandchildren"]]

        async def children_exit() -> None:
            while not all(gone(c) for c in children):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(children_exit(), 10)
        meter = s.sup.governor.meters.agent("escaper")

        async def sampled_after_the_children_left() -> None:
            # leader and the two adopted grandchildren, once a sample came after the exits
            while meter.processes != 3:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(sampled_after_the_children_left(), 10)
        assert meter.rss_bytes is not None and meter.rss_bytes > 0
        report = await asyncio.wait_for(s.sup.kill("escaper", by="test"), 10)
        assert report is not None and report.survivors == 0
        assert [g.pid for g in grandchildren if not gone(g)] == []
