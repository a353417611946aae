#!/usr/bin/env python3
"""What ``/metrics`` costs: scrape time with 100 agents, and the CPU a 1 s scrape adds.

    python bench/metrics.py [--agents 100] [--scrapes 200] [--seconds 10] [--rounds 3]

A real supervisor runs N native agents (each a shell that reports a usage
line, a tool call and a status, then sleeps), serving ``/metrics`` on
127.0.0.1. Measured in one run:

  * a scrape's time: ``generate_latest`` on the loop (what the control room
    itself spends: wall, and the loop thread's CPU, which a loaded machine
    does not inflate) and a whole HTTP GET from a client in this process,
    p50 / p99 over ``--scrapes`` scrapes, with the size of the answer;
  * the control room's CPU (this process only, threads included, agents
    excluded: ``RUSAGE_SELF``) per wall second, in rounds that alternate
    between no scraper (the bare baseline) and a scraper in another
    process that GETs ``/metrics`` once a second, like a Prometheus; the
    figure is the difference of the medians, in % of one core.

Targets: scrape under 20 ms with 100 agents; under 1 % of one core added by
a 1 s scrape interval.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from prometheus_client import generate_latest

from controlroom.models import AgentSpec, SwarmConfig, SwarmSettings, new_run_id
from controlroom.ops.server import MetricsServer, metrics_registry
from controlroom.store.writer import AuditStore
from controlroom.swarm.supervisor import Supervisor

SCRAPER = """
import sys, time, urllib.request
url = sys.argv[1]
while True:
    urllib.request.urlopen(url, timeout=10).read()
    time.sleep(1.0)
"""


def agent(name: str) -> AgentSpec:
    lines = [
        {"type": "usage", "input_tokens": 1200, "output_tokens": 340, "model": "claude-sonnet-4-5"},
        {"type": "tool", "name": "Read", "input": {"path": "x.py"}},
        {"type": "status", "text": "thinking"},
    ]
    script = "".join(f"echo '{json.dumps(line)}'; " for line in lines) + "exec sleep 600"
    return AgentSpec(name=name, command=["sh", "-c", script])


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def cpu_per_second(seconds: float) -> float:
    wall, cpu = time.monotonic(), cpu_seconds()
    await asyncio.sleep(seconds)
    return (cpu_seconds() - cpu) / (time.monotonic() - wall)


async def measure(args: argparse.Namespace, folder: Path) -> None:
    cfg = SwarmConfig(
        swarm=SwarmSettings(
            name="bench", audit_db=str(folder / "audit.db"), run_dir=str(folder / "run")
        ),
        agents=[agent(f"agent-{i:03d}") for i in range(args.agents)],
    )
    run = new_run_id()
    store = await AuditStore.open(cfg.swarm.audit_db, run)
    sup = Supervisor(cfg, store, run_id=run, base_dir=folder)
    server = MetricsServer(sup, "127.0.0.1:0")
    await server.start()
    try:
        await sup.start()
        while sum(1 for r in sup.runners.values() if r.alive) < args.agents:
            await asyncio.sleep(0.2)
        while len(sup.governor.meters.agents()) < args.agents:
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)  # every agent sampled once (CPU, RSS)
        await scrape_times(args, sup, server)
        await cpu_added(args, server)
    finally:
        await server.close()
        await asyncio.wait_for(sup.stop_all(by="bench", grace=0), 60)
        await sup.wait()
        await sup.close()
        await store.close()


async def scrape_times(args: argparse.Namespace, sup: Supervisor, server: MetricsServer) -> None:
    registry = metrics_registry(sup)
    collect: list[float] = []
    cpu: list[float] = []
    for _ in range(args.scrapes):
        started, thread_cpu = time.perf_counter(), time.thread_time()
        body = generate_latest(registry)
        cpu.append((time.thread_time() - thread_cpu) * 1000)
        collect.append((time.perf_counter() - started) * 1000)
    http: list[float] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(args.scrapes):
            started = time.perf_counter()
            async with session.get(server.url) as response:
                await response.read()
            http.append((time.perf_counter() - started) * 1000)
    series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    print(f"agents {args.agents}: {series} series, {len(body) / 1024:.0f} KiB per scrape")
    print(
        f"  collect on the loop: p50 {pct(collect, 0.5):.1f} ms  p99 {pct(collect, 0.99):.1f} ms"
        f" wall, p50 {pct(cpu, 0.5):.1f} ms  p99 {pct(cpu, 0.99):.1f} ms CPU (target < 20 ms)"
    )
    print(f"  HTTP GET /metrics:   p50 {pct(http, 0.5):.1f} ms  p99 {pct(http, 0.99):.1f} ms")


async def cpu_added(args: argparse.Namespace, server: MetricsServer) -> None:
    bare: list[float] = []
    scraped: list[float] = []
    for _ in range(args.rounds):
        bare.append(await cpu_per_second(args.seconds))
        scraper = subprocess.Popen([sys.executable, "-c", SCRAPER, server.url])
        try:
            await asyncio.sleep(0.5)
            scraped.append(await cpu_per_second(args.seconds))
        finally:
            scraper.kill()
            scraper.wait()
    base, with_scrapes = statistics.median(bare), statistics.median(scraped)
    print(
        f"control room CPU, {args.rounds} rounds of {args.seconds:g} s: bare {base * 100:.2f} %"
        f" of a core, scraped every 1 s {with_scrapes * 100:.2f} %: added"
        f" {(with_scrapes - base) * 100:+.2f} % (target < 1 %)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as folder:
        asyncio.run(measure(args, Path(folder)))


if __name__ == "__main__":
    main()
