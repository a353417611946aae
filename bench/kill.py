#!/usr/bin/env python3
"""Kill-switch latency: request → every process gone (as verified by the kill), cgroup vs tree walk.

    python bench/kill.py [--runs 50] [--storms 10] [--agents 50]

Measures, in one run on this machine, each case under both containments: a
cgroup per agent (``cgroup.kill``, verified by ``cgroup.events``) and the
process tree (tree walk plus the environment-marker sweep, the fallback):
  * a cooperative 4-process tree (tests/agents/tree4.py), grace 5 s, p50 / p99;
  * a fork storm (tests/agents/fork_storm.py: 300 setsid'd double-forked sleepers, still
    forking, SIGTERM ignored), grace 0, p50 / p99, and the survivors a scan of /proc finds;
  * a stop-all: asyncio.gather of N kills over N tree4 agents, total time;
  * sampling those N agents, ms per full pass (for the tree, also from one shared
    /proc pass, procscan.ProcTable, as the supervisor samples agents without a cgroup);
and, without containment, a bare baseline: os.killpg(SIGTERM) on a tree4 group until its
leader is reaped. The process becomes a child subreaper first, as the supervisor does.
Targets: cgroup kill p99 < 10 ms for tree4, < 100 ms for the storm; 50 agents < 500 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path

import psutil
from _common import percentile

from controlroom.models import Limits
from controlroom.process.linux import become_subreaper
from controlroom.process.procscan import ProcTable
from controlroom.process.runcgroups import CgroupUnavailable, RunCgroups
from controlroom.process.spawn import AgentProcess, spawn_agent

AGENTS = Path(__file__).resolve().parent.parent / "tests" / "agents"
RUN = f"bench-{secrets.token_hex(3)}"


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def carrying(token: str) -> list[int]:
    """Live processes whose command line holds ``token`` (what exists, not what a kill knew)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if token in (proc.info["cmdline"] or []) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc.pid)
    return found


class Contained:
    """Spawns agents in a cgroup each (``cgroups``) or by tree and marker (``cgroups`` None)."""

    def __init__(self, cgroups: RunCgroups | None) -> None:
        self.cgroups = cgroups
        self.count = 0

    async def start(self, argv: list[str]) -> tuple[AgentProcess, dict[str, object]]:
        """Start an agent and wait for its first line."""
        self.count += 1
        name = f"a{self.count}"
        env = {**os.environ, "CONTROLROOM_RUN": RUN, "CONTROLROOM_AGENT": name}
        group = None if self.cgroups is None else self.cgroups.agent(name, Limits())
        agent = await spawn_agent(argv, AGENTS, env, cgroup=group)
        assert agent.process.stdout is not None
        line = json.loads(await asyncio.wait_for(agent.process.stdout.readline(), 60))
        return agent, line


async def finish(agent: AgentProcess) -> None:
    await agent.process.communicate()
    agent.close()


async def timed_tree4(contained: Contained) -> float:
    agent, line = await contained.start([sys.executable, str(AGENTS / "tree4.py")])
    started = time.perf_counter()
    report = await agent.kill(grace=5)
    elapsed = (time.perf_counter() - started) * 1000
    left = [p for p in line["pids"] if not gone(p)]  # type: ignore[attr-defined]
    if report.survivors or left:
        raise SystemExit(f"tree4: survivors {report.survivors}, still alive {left}")
    await finish(agent)
    return elapsed


async def timed_storm(contained: Contained) -> tuple[float, int, int]:
    token = f"storm-{secrets.token_hex(4)}"
    argv = [sys.executable, str(AGENTS / "fork_storm.py"), token, "300", "--ignore-term"]
    agent, _ = await contained.start(argv)
    await asyncio.sleep(0.05)  # still forking
    started = time.perf_counter()
    report = await agent.kill(grace=0)
    elapsed = (time.perf_counter() - started) * 1000
    left = carrying(token)
    for pid in left:  # the tree walk's misses: do not leak them
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass
    await finish(agent)
    return elapsed, report.processes, len(left)


async def baseline_killpg() -> float:
    agent, _ = await Contained(None).start([sys.executable, str(AGENTS / "tree4.py")])
    started = time.perf_counter()
    os.killpg(agent.pgid, signal.SIGTERM)
    await agent.process.wait()
    elapsed = (time.perf_counter() - started) * 1000
    await finish(agent)
    return elapsed


def table_sampling_ms(agents: list[AgentProcess], passes: int) -> float | None:
    """ms per pass sampling every agent from one shared /proc table (tree containment only)."""
    if not agents or agents[0].contain.mode != "process-tree":
        return None
    for agent in agents:  # prime: the table path keeps its own start times and CPU ticks
        agent.sample(ProcTable.read())
    t0 = time.perf_counter()
    for _ in range(passes):
        table = ProcTable.read()
        for agent in agents:
            agent.sample(table)
    return (time.perf_counter() - t0) * 1000 / passes


async def stop_all(contained: Contained, count: int) -> tuple[float, float, int, float | None]:
    started_agents = await asyncio.gather(
        *(contained.start([sys.executable, str(AGENTS / "tree4.py")]) for _ in range(count))
    )
    agents = [a for a, _ in started_agents]
    for agent in agents:  # the first sample primes the CPU figures
        agent.sample()
    passes = 10
    t0 = time.perf_counter()
    for _ in range(passes):
        total = sum(agent.sample().processes for agent in agents)
    sample_ms = (time.perf_counter() - t0) * 1000 / passes
    table_ms = table_sampling_ms(agents, passes)
    started = time.perf_counter()
    reports = await asyncio.gather(*(a.kill(grace=5) for a in agents))
    elapsed = (time.perf_counter() - started) * 1000
    survivors = sum(r.survivors for r in reports)
    left = [p for _, line in started_agents for p in line["pids"] if not gone(p)]  # type: ignore[attr-defined]
    if survivors or left:
        raise SystemExit(f"stop-all: survivors {survivors}, still alive {left}")
    await asyncio.gather(*(finish(a) for a in agents))
    return elapsed, sample_ms, total, table_ms


def line(name: str, values: list[float], target: str = "") -> None:
    print(
        f"{name:<50} p50 {percentile(values, 50):7.2f} ms   p99 {percentile(values, 99):7.2f} ms"
        f"   max {max(values):7.2f} ms   {target}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--storms", type=int, default=10)
    parser.add_argument("--agents", type=int, default=50)
    args = parser.parse_args()
    subreaper = become_subreaper()
    try:
        cgroups: RunCgroups | None = RunCgroups.create(RUN)
    except CgroupUnavailable as exc:
        print(f"no cgroups here ({exc}): the process tree only")
        cgroups = None
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, subreaper={subreaper}, "
        f"{len(psutil.pids())} processes on the system, {args.runs} runs, {args.storms} storms"
    )
    kinds = [("tree walk", Contained(None))]
    if cgroups is not None:
        kinds.insert(0, ("cgroup", Contained(cgroups)))
    try:
        for kind, contained in kinds:
            coop = [await timed_tree4(contained) for _ in range(args.runs)]
            line(f"{kind}: cooperative 4-process tree (grace 5 s)", coop, "target p99 < 10 ms")
        for kind, contained in kinds:
            storms = [await timed_storm(contained) for _ in range(args.storms)]
            line(
                f"{kind}: fork storm, SIGTERM ignored (grace 0)",
                [s[0] for s in storms],
                f"target p99 < 100 ms; {min(s[1] for s in storms)}-{max(s[1] for s in storms)} "
                f"processes, survivors {sum(s[2] for s in storms)}",
            )
        bare = [await baseline_killpg() for _ in range(args.runs)]
        line("baseline: killpg(SIGTERM) until leader reaped", bare)
        for kind, contained in kinds:
            elapsed, sample_ms, total, table_ms = await stop_all(contained, args.agents)
            shared = "" if table_ms is None else f", {table_ms:.2f} ms from one /proc table"
            print(
                f"{kind + ': stop-all of ' + str(args.agents) + ' tree4 agents':<50} "
                f"total {elapsed:7.2f} ms   target < 500 ms; "
                f"sampling {total} processes: {sample_ms:.2f} ms per pass{shared}"
            )
    finally:
        if cgroups is not None:
            cgroups.remove()


if __name__ == "__main__":
    asyncio.run(main())
