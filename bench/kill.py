#!/usr/bin/env python3
"""Kill-switch latency: request → every process of the tree gone (as verified by the kill).

    python bench/kill.py [--runs 50] [--agents 50]

Measures, in one run on this machine:
  * a cooperative 4-process tree (tests/agents/tree4.py), p50 / p99;
  * a SIGTERM-ignoring agent killed with grace 0, p50 / p99;
  * a bare baseline: os.killpg(SIGTERM) on a tree4 group until its leader is reaped;
  * a stop-all: asyncio.gather of N kill_process_tree over N tree4 agents, total time;
  * sample_tree over those N trees, ms per full pass.
The process becomes a child subreaper first, as the supervisor does.
Targets: cooperative p99 < 20 ms; 50 agents < 500 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import psutil

from controlroom.process.linux import become_subreaper
from controlroom.process.spawn import AgentProcess, kill_process_tree, spawn_agent

AGENTS = Path(__file__).resolve().parent.parent / "tests" / "agents"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def start(script: str) -> tuple[AgentProcess, list[int]]:
    """Start a test agent and wait for its first line (tree4 reports its four pids)."""
    agent = await spawn_agent([sys.executable, str(AGENTS / script)], AGENTS, dict(os.environ))
    assert agent.process.stdout is not None
    line = json.loads(await agent.process.stdout.readline())
    return agent, line.get("pids", [agent.pid])


async def finish(agent: AgentProcess) -> None:
    await agent.process.communicate()
    agent.close()


async def timed_kill(script: str, grace: float) -> float:
    agent, pids = await start(script)
    started = time.perf_counter()
    report = await agent.kill(grace=grace)
    elapsed = (time.perf_counter() - started) * 1000
    left = [p for p in pids if not gone(p)]
    if report.survivors or left:
        raise SystemExit(f"{script}: survivors {report.survivors}, still alive {left}")
    await finish(agent)
    return elapsed


async def baseline_killpg() -> float:
    agent, _ = await start("tree4.py")
    started = time.perf_counter()
    os.killpg(agent.pgid, signal.SIGTERM)
    await agent.process.wait()
    elapsed = (time.perf_counter() - started) * 1000
    await finish(agent)
    return elapsed


async def stop_all(count: int) -> tuple[float, float, int]:
    started_agents = await asyncio.gather(*(start("tree4.py") for _ in range(count)))
    agents = [a for a, _ in started_agents]
    for agent in agents:  # the first sample primes cpu_percent
        agent.sample()
    passes = 10
    t0 = time.perf_counter()
    for _ in range(passes):
        total = sum(agent.sample().processes for agent in agents)
    sample_ms = (time.perf_counter() - t0) * 1000 / passes
    started = time.perf_counter()
    reports = await asyncio.gather(
        *(
            kill_process_tree(
                a.pid, grace=5, pgid=a.pgid, known=a.cache.known(), create_time=a.create_time
            )
            for a in agents
        )
    )
    elapsed = (time.perf_counter() - started) * 1000
    survivors = sum(r.survivors for r in reports)
    left = [p for _, pids in started_agents for p in pids if not gone(p)]
    if survivors or left:
        raise SystemExit(f"stop-all: survivors {survivors}, still alive {left}")
    await asyncio.gather(*(finish(a) for a in agents))
    return elapsed, sample_ms, total


def line(name: str, values: list[float], target: str = "") -> None:
    print(
        f"{name:<46} p50 {percentile(values, 50):7.2f} ms   p99 {percentile(values, 99):7.2f} ms"
        f"   max {max(values):7.2f} ms   {target}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--agents", type=int, default=50)
    args = parser.parse_args()
    subreaper = become_subreaper()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, subreaper={subreaper}, "
        f"{len(psutil.pids())} processes on the system, {args.runs} runs each"
    )

    coop = [await timed_kill("tree4.py", grace=5) for _ in range(args.runs)]
    line("cooperative 4-process tree (grace 5 s)", coop, "target p99 < 20 ms")
    stubborn = [await timed_kill("ignores_sigterm.py", grace=0) for _ in range(args.runs)]
    line("SIGTERM-ignoring agent, grace 0", stubborn)
    bare = [await baseline_killpg() for _ in range(args.runs)]
    line("baseline: killpg(SIGTERM) until leader reaped", bare)

    elapsed, sample_ms, total = await stop_all(args.agents)
    print(
        f"{'stop-all: ' + str(args.agents) + ' tree4 agents in parallel':<46} "
        f"total {elapsed:7.2f} ms   target < 500 ms"
    )
    print(
        f"{'sample_tree over ' + str(args.agents) + ' trees (' + str(total) + ' processes)':<46} "
        f"{sample_ms:7.2f} ms per pass"
    )


if __name__ == "__main__":
    asyncio.run(main())
