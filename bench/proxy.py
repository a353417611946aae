#!/usr/bin/env python3
"""What the metering proxy adds to a model request: proxied vs the simulator called directly.

    python bench/proxy.py [--requests 300] [--streams 50] [--per-stream 10] [--rounds 3]

Three processes, so that no two of them share a GIL: the simulator
(``SimServer``, requiring the operator's key), the metering proxy in front of
it (swap mode, a real ``BudgetGovernor`` with every limit set, so admission,
the key swap and the wire meter all run on every request), and this client
(aiohttp). The same requests go to the simulator directly (the baseline, with
the operator's key) and through the proxy (with the agent's own URL and dummy
key), interleaved so that the machine's load drifts over both alike.

Figures, p50 and p99, in milliseconds:

* per request: send → the whole answer read, for a JSON answer and for a
  streamed one (about 30 events);
* per streamed event: (last event's arrival − first event's) / (events − 1)
  in each stream: what relaying one event costs once the stream flows;

each with 1 stream at a time (``--requests`` of each kind) and with
``--streams`` concurrent streams (``--per-stream`` requests each, ``--rounds``
times). "added" is proxied minus direct at the same percentile. Targets:
under 1 ms p99 added per request, under 0.1 ms per event (the best-known
gateway publishes +3.25 ms). The supervisor's side of a metered event (the
audit log, the dashboard) is not in these figures: the governor is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from _common import percentile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controlroom.models import Budget, EventBase  # noqa: E402
from controlroom.policy.governor import BudgetGovernor  # noqa: E402
from controlroom.proxy import Admission, CredentialMode, MeteringProxy  # noqa: E402
from controlroom.sim import Script, SimServer, Turn  # noqa: E402

OPERATOR_KEY = "sk-ant-bench-operator-key"
AGENT = "bench"
TEXT = "The retry policy: exponential backoff with full jitter, capped at eight seconds. " * 12
BODY = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 512,
    "messages": [{"role": "user", "content": "Design the retry policy for the billing client."}],
}
# every limit set and checked on every request, never reached
BUDGET = Budget(max_tokens=10**10, max_cost_usd=1e6, max_turns=1_000_000)


# ---------------------------------------------------------------------- the two servers


def serve_sim() -> None:
    """Child process: the simulator, until stdin closes."""
    with SimServer(Script([Turn.say(TEXT)]), api_key=OPERATOR_KEY) as sim:
        print(json.dumps({"url": sim.url}), flush=True)
        sys.stdin.read()


def record(governor: BudgetGovernor, event: EventBase) -> None:
    """What ``Supervisor.handle`` does first with a metered event: the governor records it."""
    governor.observe(event, time.monotonic())


async def serve_proxy(upstream: str) -> None:
    """Child process: the metering proxy in front of ``upstream``, until stdin closes."""
    governor = BudgetGovernor.from_budgets({AGENT: BUDGET}, swarm_max_cost_usd=1e6)
    proxy = MeteringProxy(
        upstream,
        Admission(governor, governor.meters.pricing_fn),
        lambda event: record(governor, event),
        mode=CredentialMode.SWAP,
        operator_key=OPERATOR_KEY,
    )
    await proxy.start()
    agent_pass = proxy.passes.issue(AGENT)
    print(json.dumps({"url": proxy.url_for(agent_pass), "key": agent_pass.key}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    meter = governor.meters.agent(AGENT)
    print(json.dumps({"turns": meter.turns, "tokens": meter.total_tokens}), flush=True)
    await proxy.stop()


def child(*args: str) -> tuple[subprocess.Popen[str], dict[str, object]]:
    proc = subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def finish(proc: subprocess.Popen[str]) -> str:
    out, _ = proc.communicate(timeout=30)
    return out


# ---------------------------------------------------------------------- the client


@dataclass
class Samples:
    json_ms: list[float] = field(default_factory=list)
    stream_ms: list[float] = field(default_factory=list)
    event_ms: list[float] = field(default_factory=list)
    events: int = 0


@dataclass(frozen=True)
class Target:
    url: str
    key: str


async def one(session: aiohttp.ClientSession, target: Target, stream: bool, into: Samples) -> None:
    headers = {"x-api-key": target.key, "anthropic-version": "2023-06-01"}
    body = {**BODY, "stream": stream}
    started = time.perf_counter()
    async with session.post(target.url + "/v1/messages", json=body, headers=headers) as response:
        if response.status != 200:
            raise SystemExit(
                f"bench: {target.url}: HTTP {response.status}: {await response.text()}"
            )
        if not stream:
            await response.read()
            into.json_ms.append((time.perf_counter() - started) * 1000)
            return
        arrivals: list[float] = []
        async for line in response.content:
            if line.startswith(b"event:"):
                arrivals.append(time.perf_counter())
    into.stream_ms.append((time.perf_counter() - started) * 1000)
    into.event_ms.append((arrivals[-1] - arrivals[0]) * 1000 / (len(arrivals) - 1))
    into.events = len(arrivals)


async def sequential(
    session: aiohttp.ClientSession, targets: dict[str, Target], n: int
) -> dict[str, Samples]:
    samples = {name: Samples() for name in targets}
    for i in range(n):
        order = list(targets) if i % 2 == 0 else list(reversed(targets))
        for name in order:
            await one(session, targets[name], False, samples[name])
            await one(session, targets[name], True, samples[name])
    return samples


async def concurrent(
    session: aiohttp.ClientSession, targets: dict[str, Target], streams: int, each: int, rounds: int
) -> dict[str, Samples]:
    samples = {name: Samples() for name in targets}

    async def worker(target: Target, into: Samples) -> None:
        for _ in range(each):
            await one(session, target, True, into)

    for r in range(rounds):
        order = list(targets) if r % 2 == 0 else list(reversed(targets))
        for name in order:
            await asyncio.gather(*(worker(targets[name], samples[name]) for _ in range(streams)))
    return samples


def report(title: str, direct: list[float], proxied: list[float]) -> None:
    d50, d99 = percentile(direct, 50), percentile(direct, 99)
    p50, p99 = percentile(proxied, 50), percentile(proxied, 99)
    print(
        f"{title:<34} direct p50 {d50:7.3f} p99 {d99:7.3f} | "
        f"proxied p50 {p50:7.3f} p99 {p99:7.3f} | added p50 {p50 - d50:+7.3f} p99 {p99 - d99:+7.3f}"
        f"   (n={len(proxied)})"
    )


async def client(args: argparse.Namespace, targets: dict[str, Target]) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await sequential(session, targets, 20)  # warm up: connections, caches
        one_stream = await sequential(session, targets, args.requests)
        many = await concurrent(session, targets, args.streams, args.per_stream, args.rounds)
    d, p = one_stream["direct"], one_stream["proxied"]
    print(f"milliseconds; {p.events} events per stream; added = proxied - direct\n")
    print("1 stream at a time")
    report("  per request, JSON answer", d.json_ms, p.json_ms)
    report("  per request, streamed answer", d.stream_ms, p.stream_ms)
    report("  per streamed event", d.event_ms, p.event_ms)
    d, p = many["direct"], many["proxied"]
    print(f"{args.streams} concurrent streams")
    report("  per request, streamed answer", d.stream_ms, p.stream_ms)
    report("  per streamed event", d.event_ms, p.event_ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="per kind, one at a time")
    parser.add_argument("--streams", type=int, default=50, help="concurrent streams")
    parser.add_argument("--per-stream", type=int, default=10, help="requests per stream")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the concurrent run")
    parser.add_argument("--serve-sim", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-proxy", metavar="UPSTREAM", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sim:
        serve_sim()
        return 0
    if args.serve_proxy:
        asyncio.run(serve_proxy(args.serve_proxy))
        return 0
    sim, sim_info = child("--serve-sim")
    proxy, proxy_info = child("--serve-proxy", str(sim_info["url"]))
    try:
        targets = {
            "direct": Target(str(sim_info["url"]), OPERATOR_KEY),
            "proxied": Target(str(proxy_info["url"]), str(proxy_info["key"])),
        }
        asyncio.run(client(args, targets))
    finally:
        metered = finish(proxy)
        finish(sim)
    print(f"\nthe proxy's governor metered: {metered.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
