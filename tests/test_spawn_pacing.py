"""Agents started together are spawned one per event-loop iteration, never in one burst.

A spawn blocks the loop until the child has exec'd. If twenty spawns ran back
to back in one iteration, no agent's output would be read (and no budget
enforced) for all of them; the loop must poll between two spawns. Checked by
order: a task that runs once per iteration sees the agents appear one by one.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys

import psutil
import pytest

from controlroom.process.spawn import AgentProcess, spawn_agent

pytestmark = pytest.mark.timeout(120)

AGENTS = 8


def ours(token: str) -> int:
    """How many of this test's agents exist now (children carrying the token in argv)."""
    count = 0
    for child in psutil.Process().children():
        try:
            if token in child.cmdline():
                count += 1
        except psutil.Error:
            continue
    return count


async def test_agents_started_together_are_spawned_one_per_loop_iteration() -> None:
    token = f"spawn-pacing-{secrets.token_hex(4)}"
    argv = [sys.executable, "-c", "import sys, time; time.sleep(60)", token]
    seen: list[int] = []
    stop = asyncio.Event()

    async def tick() -> None:  # once per loop iteration
        while not stop.is_set():
            seen.append(ours(token))
            await asyncio.sleep(0)

    ticker = asyncio.get_running_loop().create_task(tick())
    await asyncio.sleep(0)
    agents: list[AgentProcess] = []
    try:
        results = await asyncio.gather(
            *(spawn_agent(argv, ".", dict(os.environ)) for _ in range(AGENTS)),
            return_exceptions=True,
        )
        agents = [r for r in results if isinstance(r, AgentProcess)]
        assert len(agents) == AGENTS, results
    finally:
        stop.set()
        await ticker
        for agent in agents:
            await agent.kill(grace=0)
            await agent.process.wait()
            agent.close()
    assert seen[-1] == AGENTS
    steps = [b - a for a, b in zip(seen, seen[1:], strict=False)]
    assert max(steps) == 1, seen  # never two spawns between two turns of the loop
