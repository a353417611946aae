"""Sampling every running agent's resources once a second: CPU, memory, processes.

What the meters show and the kernel's limits are checked against. One
``/proc`` pass serves every agent without a cgroup; a sampler hiccup is an
error event, never the end of supervision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from controlroom.models import ErrorEvent, EventBase
from controlroom.policy.meters import SwarmMeter
from controlroom.process.procscan import shared_table
from controlroom.swarm.confinement import Confinement
from controlroom.swarm.runner import AgentRunner

__all__ = ["sample_forever"]


async def sample_forever(
    runners: Mapping[str, AgentRunner],
    meters: SwarmMeter,
    confinement: Confinement,
    publish: Callable[[EventBase], None],
    seconds: float,
) -> None:
    """Every ``seconds``: each live agent's figures into its meter, its limits checked.

    One agent per loop turn: sampling one reads a few kernel files (a dozen
    system calls), and all of them in one callback held the loop 130 ms at
    load 4-7 beside 20 floods (bench/governor_trace.py), once a second — a
    crossing line read, a stop's signal, waited behind it.
    """
    while True:
        # one /proc pass for every agent without a cgroup (those read their cgroup's files)
        table = shared_table(
            r.process.contain.mode for r in runners.values() if r.process and r.alive
        )
        for runner in list(runners.values()):
            await asyncio.sleep(0)  # the loop's turn between two agents
            proc = runner.process
            if proc is None or not runner.alive:
                continue
            try:
                sample = proc.sample(table)
            except Exception as exc:  # a sampler hiccup must never stop supervision
                publish(ErrorEvent(agent=runner.name, message=str(exc), where="sampler"))
                continue
            meters.agent(runner.name).set_resources(
                cpu_percent=sample.cpu_percent,
                rss_bytes=sample.rss_bytes,
                processes=sample.processes,
            )
            confinement.check_limits(runner)
        confinement.reap(runners.values())
        await asyncio.sleep(seconds)
