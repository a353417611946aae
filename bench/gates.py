#!/usr/bin/env python3
"""Control-socket and gate latency.

    python bench/gates.py [--agents 50] [--requests 500] [--pairs 20]

Measures, in one run on this machine, with a real supervisor, real agents and
the real control socket (the client runs in its own thread, as the CLI would
in its own process):
  * the socket round trip of ``snapshot`` with N running agents, p50 / p99,
    against a bare baseline in the same run: ``ping`` (the same socket and
    framing, no work);
  * the time from ``approve`` (request sent) to the downstream agent's process
    existing (its ``agent_spawned`` published), p50 / p99 over P gates.
Targets: snapshot p99 < 10 ms; approve → downstream process < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import percentile

from controlroom.control.api import ControlAPI
from controlroom.control.client import ControlClient
from controlroom.control.server import ControlSocketServer
from controlroom.models import (
    AgentSpawned,
    AgentSpec,
    EventBase,
    GateRequested,
    SwarmConfig,
    SwarmSettings,
    new_run_id,
)
from controlroom.store.writer import AuditStore
from controlroom.swarm.supervisor import Supervisor

SLEEPER = "import time\nwhile True: time.sleep(1)"
HANDOFF = (
    "import json; print(json.dumps({'type': 'handoff', 'changed': 'x', "
    "'next_needs': 'y', 'risks': 'z'}), flush=True)"
)


def agents(n_sleepers: int, pairs: int) -> list[AgentSpec]:
    out = [
        AgentSpec(name=f"worker-{i:02d}", command=[sys.executable, "-c", SLEEPER])
        for i in range(n_sleepers)
    ]
    for i in range(pairs):
        out.append(AgentSpec(name=f"up-{i:02d}", command=[sys.executable, "-c", HANDOFF]))
        out.append(
            AgentSpec(
                name=f"down-{i:02d}",
                command=[sys.executable, "-c", "pass"],
                after=[f"up-{i:02d}"],
                gate="human",
            )
        )
    return out


def client_work(
    path: Path, requests: int, gates: list[tuple[str, str]], sent: dict[str, float]
) -> tuple[list[float], list[float]]:
    client = ControlClient(path, timeout=30)
    snap: list[float] = []
    ping: list[float] = []
    for _ in range(20):  # warm-up
        client.request("snapshot")
    for _ in range(requests):
        t0 = time.perf_counter()
        client.request("ping")
        ping.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        client.request("snapshot")
        snap.append((time.perf_counter() - t0) * 1000)
    for gate_id, downstream in gates:
        sent[downstream] = time.perf_counter()
        client.request("approve", {"gate": gate_id, "reason": "bench"})
        time.sleep(0.02)
    client.close()
    return snap, ping


async def main(n_agents: int, requests: int, pairs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        cfg = SwarmConfig(
            swarm=SwarmSettings(
                name="bench", audit_db=str(base / "audit.db"), run_dir=str(base / "run")
            ),
            agents=agents(n_agents, pairs),
        )
        run_id = new_run_id()
        store = await AuditStore.open(cfg.swarm.audit_db, run_id)
        sup = Supervisor(cfg, store, run_id=run_id, base_dir=base)
        spawned_at: dict[str, float] = {}
        gates: dict[str, str] = {}

        def listen(event: EventBase) -> None:
            if isinstance(event, AgentSpawned) and event.agent:
                spawned_at[event.agent] = time.perf_counter()
            elif isinstance(event, GateRequested) and event.agent:
                gates[event.agent] = event.gate_id

        sup.bus.listen(listen)
        api = ControlAPI(sup)
        path = sup.run_dir / "control.sock"
        server = ControlSocketServer(api, path)
        await server.start()
        await sup.start()
        deadline = time.monotonic() + 30
        while len(gates) < pairs or sum(1 for r in sup.runners.values() if r.alive) < n_agents:
            if time.monotonic() > deadline:
                raise SystemExit("the swarm did not come up in 30 s")
            await asyncio.sleep(0.05)
        order = [(gates[f"up-{i:02d}"], f"down-{i:02d}") for i in range(pairs)]
        sent: dict[str, float] = {}
        result: list[tuple[list[float], list[float]]] = []
        worker = threading.Thread(
            target=lambda: result.append(client_work(path, requests, order, sent))
        )
        worker.start()
        while worker.is_alive():
            await asyncio.sleep(0.005)
        worker.join()
        await asyncio.sleep(0.5)
        snap, ping = result[0]
        approve = [
            (spawned_at[down] - sent[down]) * 1000 for _, down in order if down in spawned_at
        ]
        await sup.stop_all(by="bench", grace=0)
        await sup.wait()
        await sup.close()
        await server.close()
        await store.close()

    running = n_agents + pairs
    print(f"machine: {len(__import__('os').sched_getaffinity(0))} cpus; {running} agents")
    print(
        f"socket snapshot ({running} agents): p50 {statistics.median(snap):.2f} ms  "
        f"p99 {percentile(snap, 99):.2f} ms  (target p99 < 10 ms)"
    )
    print(
        f"socket ping (baseline, same socket): p50 {statistics.median(ping):.2f} ms  "
        f"p99 {percentile(ping, 99):.2f} ms"
    )
    print(
        f"approve → downstream process exists ({len(approve)} gates): "
        f"p50 {statistics.median(approve):.1f} ms  p99 {percentile(approve, 99):.1f} ms  "
        "(target < 100 ms)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--pairs", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.agents, args.requests, args.pairs))
