#!/usr/bin/env python3
"""What the sandbox costs: agent spawn → its first line, and a model request, sandboxed vs not.

    python bench/sandbox.py [--runs 30]

Measures, in one run on this machine:
  * spawn → first line of a Python agent that prints at once: bare (spawn_agent),
    sandboxed (bubblewrap + the bridge, no forwards), and sandboxed with a model
    forward and the egress proxy's port (what an agent with allow_hosts gets);
  * one POST /v1/messages to the simulator: direct over TCP, and from inside the
    sandbox through the bridge and a unix socket (the agent's road to the model).
Ratios are against the bare figure measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import percentile

from controlroom.process.bridge import serve_unix_to_tcp
from controlroom.process.sandbox import Forward, SandboxPlan, bwrap_argv, find_bwrap, probe_bwrap
from controlroom.process.spawn import spawn_agent
from controlroom.sim import Script, SimServer, Turn

READY = [sys.executable, "-c", "print('ready', flush=True)"]
REQUEST = """
import json, sys, time, urllib.request
body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 20,
                   "messages": [{"role": "user", "content": "hi"}]}).encode()
headers = {"content-type": "application/json", "x-api-key": "k", "anthropic-version": "2023-06-01"}
times = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    urllib.request.urlopen(urllib.request.Request(sys.argv[1], body, headers)).read()
    times.append((time.perf_counter() - started) * 1000)
print(json.dumps(times), flush=True)
"""


async def first_line(argv: list[str], cwd: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    agent = await spawn_agent(argv, cwd, {"PATH": os.environ["PATH"], "HOME": cwd})
    assert agent.process.stdout is not None
    line = await agent.process.stdout.readline()
    elapsed = (time.perf_counter() - started) * 1000
    await agent.process.communicate()
    agent.close()
    return elapsed, line


def line(name: str, values: list[float], base: float | None = None) -> None:
    p50 = percentile(values, 50)
    ratio = f"   ×{p50 / base:5.1f} the bare p50" if base else ""
    print(f"{name:<52} p50 {p50:7.2f} ms   p99 {percentile(values, 99):7.2f} ms{ratio}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    ok, why = probe_bwrap()
    bwrap = find_bwrap()
    if not ok or bwrap is None:
        raise SystemExit(f"no sandbox here: {why}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {why}, {args.runs} runs each")
    with (
        tempfile.TemporaryDirectory(prefix="bench-sandbox-") as work,
        SimServer(Script([Turn.say("hi")])) as sim,
    ):
        home, workspace = Path(work, "home"), Path(work, "ws")
        home.mkdir()
        workspace.mkdir()
        sock = str(Path(work, "model.sock"))
        server = await serve_unix_to_tcp(sock, "127.0.0.1", sim.port)
        plain = SandboxPlan(workspace=str(workspace), homes=[str(home)])
        roads = SandboxPlan(
            workspace=str(workspace),
            homes=[str(home)],
            forwards=[Forward(sim.port, sock, "model.sock"), Forward(3128, sock, "egress.sock")],
        )
        cases = [
            ("bare: spawn → first line", READY),
            ("sandboxed: spawn → first line", bwrap_argv(plain, READY, bwrap)),
            ("sandboxed with model + egress ports", bwrap_argv(roads, READY, bwrap)),
        ]
        base = None
        for name, argv in cases:
            times = []
            for _ in range(args.runs):
                elapsed, got = await first_line(argv, str(workspace))
                assert got == b"ready\n", got
                times.append(elapsed)
            line(name, times, base)
            base = base or percentile(times, 50)

        url = f"{sim.url}/v1/messages"
        request = [sys.executable, "-c", REQUEST, url, str(args.runs)]
        for name, argv in (
            ("model request, direct (TCP)", request),
            ("model request, sandboxed (bridge + unix socket)", bwrap_argv(roads, request, bwrap)),
        ):
            _, got = await first_line(argv, str(workspace))
            times = json.loads(got)
            line(name, times[1:])  # the first pays for the imports and the connection
        server.close()


if __name__ == "__main__":
    asyncio.run(main())
