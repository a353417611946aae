#!/usr/bin/env python3
"""The radar under a busy swarm: latency of files_changed and collisions, and its CPU.

    python bench/radar.py [--agents 20] [--files 5000] [--seconds 20] [--rounds 10]

A real supervisor runs N native agents, each in its own git worktree of a
repository with F files. Each agent is a small script that, when the bench
says so (a phase file outside every watched folder), appends a line to a file
of its own every 100 ms and logs the time of each write. Measured in one run:

  * write → ``files_changed`` (the line's count is in the agent's change
    set): p50 / p99 over every write, from the agents' own clocks to the
    event's timestamp;
  * overlapping write → ``collision``: pairs of agents write one shared path
    (round after round, cleared in between); from the later of the two
    writes to the collision naming both;
  * the control room's CPU (its own and its git children's, per wall second)
    with every agent idle and with every agent writing, against a bare
    baseline in the same run: the same swarm with ``[swarm] radar = false``.

Targets: files_changed p99 < 300 ms; collision p99 < 1 s; CPU for watching
< 5 % of one core idle, < 20 % all writing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import percentile

from controlroom.models import (
    AgentSpec,
    CollisionFound,
    EventBase,
    FilesChanged,
    SwarmConfig,
    SwarmSettings,
    new_run_id,
)
from controlroom.store.writer import AuditStore
from controlroom.swarm.supervisor import Supervisor

AGENT = r"""
import os, sys, time
name, phase_file, times = sys.argv[1], sys.argv[2], sys.argv[3]
pair = f"shared/pair{int(name.split('-')[1]) // 2}.txt"
os.makedirs("mine", exist_ok=True)
log = open(times, "a", buffering=1)
n = 0
overlap_done = None
while True:
    try:
        phase = open(phase_file).read().strip()
    except OSError:
        phase = "idle"
    if phase == "stop":
        break
    if phase.startswith(("write", "overlap", "clear")):
        n += 1
        with open(f"mine/{name}.txt", "a") as f:
            f.write(f"write {n}\n")
        log.write(f"w {n} {time.time()}\n")
    if phase.startswith("overlap") and overlap_done != phase:
        os.makedirs("shared", exist_ok=True)
        with open(pair, "w") as f:
            f.write(f"{name} {phase}\n")
        log.write(f"o {phase} {time.time()}\n")
        overlap_done = phase
    if phase.startswith("clear") and os.path.exists(pair):
        os.remove(pair)
    time.sleep(0.1)
"""


def make_repo(root: Path, files: int) -> None:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    for i in range(files):
        path = root / f"pkg{i % 50}" / f"sub{i % 7}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"line {j} of module {i}\n" for j in range(40)))
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", *ident, "commit", "-q", "-m", "base"], cwd=root, check=True)


def cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # git; agents are reaped only at the end
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class Run:
    """What one swarm's run measured."""

    cpu: dict[str, float] = field(default_factory=dict)  # phase -> % of one core
    files_changed: list[float] = field(default_factory=list)  # seconds
    collisions: list[float] = field(default_factory=list)


async def measure_cpu(seconds: float) -> float:
    before, wall = cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    return 100 * (cpu_seconds() - before) / (time.monotonic() - wall)


async def swarm_run(root: Path, repo: Path, args: argparse.Namespace, radar: bool) -> Run:
    tag = "radar" if radar else "bare"
    phase, times = root / f"phase-{tag}", root / f"times-{tag}"
    times.mkdir()
    phase.write_text("idle")
    agents = [
        AgentSpec(
            name=f"agent-{i:02d}",
            command=[
                sys.executable,
                "-c",
                AGENT,
                f"agent-{i:02d}",
                str(phase),
                str(times / f"{i}"),
            ],
            workspace="worktree",
        )
        for i in range(args.agents)
    ]
    config = SwarmConfig(
        swarm=SwarmSettings(
            name=f"bench-{tag}",
            audit_db=str(root / f"{tag}.db"),
            run_dir=str(root / f"run-{tag}"),
            radar=radar,
        ),
        agents=agents,
    )
    run_id = new_run_id()
    store = await AuditStore.open(config.swarm.audit_db, run_id, [])
    sup = Supervisor(config, store, run_id=run_id, base_dir=repo)
    events: list[EventBase] = []
    sub = sup.bus.subscribe(maxsize=2_000_000)
    result = Run()
    await sup.start()
    try:
        while sum(1 for r in sup.runners.values() if r.alive) < args.agents:
            await asyncio.sleep(0.2)
        await asyncio.sleep(5)  # worktrees made, first looks taken: settle
        sub.drain()
        result.cpu["idle"] = await measure_cpu(args.idle_seconds)
        phase.write_text("write")
        await asyncio.sleep(1)
        result.cpu["writing"] = await measure_cpu(args.seconds)
        for r in range(args.rounds):
            phase.write_text(f"overlap-{r}")
            await asyncio.sleep(1.5)
            phase.write_text(f"clear-{r}")
            await asyncio.sleep(1.5)
        phase.write_text("stop")
        events = sub.drain()
    finally:
        await sup.stop_all(by="bench", grace=1)
        await sup.wait()
        await sup.close()
        await store.close()
    if radar:
        result.files_changed = write_latencies(events, times, args.agents)
        result.collisions = collision_latencies(events, times, args.agents)
    return result


def write_latencies(events: list[EventBase], times: Path, agents: int) -> list[float]:
    """For each write n of an agent: the first files_changed whose count for its file reached n."""
    seen: dict[str, list[tuple[int, float]]] = {}
    for event in events:
        if isinstance(event, FilesChanged) and event.agent:
            mine = f"mine/{event.agent}.txt"
            for change in event.files:
                if change.path == mine and change.added is not None:
                    seen.setdefault(event.agent, []).append((change.added, event.ts))
    out: list[float] = []
    for i in range(agents):
        name = f"agent-{i:02d}"
        counts = seen.get(name, [])
        for line in (times / f"{i}").read_text().splitlines():
            kind, n, at = line.split()
            if kind != "w":
                continue
            first = next((ts for count, ts in counts if count >= int(n)), None)
            if first is not None:
                out.append(max(0.0, first - float(at)))
    return out


def collision_latencies(events: list[EventBase], times: Path, agents: int) -> list[float]:
    """Per pair and round: from the later of the two shared writes to the collision."""
    writes: dict[tuple[int, str], list[float]] = {}
    for i in range(agents):
        for line in (times / f"{i}").read_text().splitlines():
            kind, phase, at = line.split()
            if kind == "o":
                writes.setdefault((i // 2, phase), []).append(float(at))
    found = [
        e
        for e in events
        if isinstance(e, CollisionFound) and e.collision_kind == "file" and "pair" in e.path
    ]
    out: list[float] = []
    for (pair, _phase), stamps in sorted(writes.items()):
        if len(stamps) < 2:
            continue
        start = max(stamps)
        path = f"shared/pair{pair}.txt"
        hit = next((e.ts for e in found if e.path == path and e.ts >= start - 0.05), None)
        if hit is not None:
            out.append(max(0.0, hit - start))
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=20.0, help="all writing")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=10, help="overlap rounds")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-radar-"))
    try:
        repo = root / "repo"
        started = time.monotonic()
        make_repo(repo, args.files)
        print(f"repository: {args.files} files in {time.monotonic() - started:.1f}s", flush=True)
        bare = await swarm_run(root, repo, args, radar=False)
        print(f"bare: idle {bare.cpu['idle']:.1f} %, writing {bare.cpu['writing']:.1f} %")
        on = await swarm_run(root, repo, args, radar=True)
        report(args, bare, on)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(args: argparse.Namespace, bare: Run, on: Run) -> None:
    fc, col = on.files_changed, on.collisions
    print(f"\n{args.agents} agents in worktrees of a {args.files}-file repository")
    if fc:
        print(
            f"write -> files_changed: p50 {percentile(fc, 50) * 1000:.0f} ms, "
            f"p99 {percentile(fc, 99) * 1000:.0f} ms over {len(fc)} writes (target p99 < 300 ms)"
        )
    if col:
        print(
            f"overlapping write -> collision: p50 {percentile(col, 50) * 1000:.0f} ms, "
            f"p99 {percentile(col, 99) * 1000:.0f} ms over {len(col)} (target p99 < 1000 ms)"
        )
    for phase, target in (("idle", 5), ("writing", 20)):
        share = on.cpu[phase] - bare.cpu[phase]
        print(
            f"control room CPU, {phase}: {on.cpu[phase]:.1f} % of one core with the radar, "
            f"{bare.cpu[phase]:.1f} % without: watching costs {share:.1f} % (target < {target} %)"
        )
    print(json.dumps({"files_changed_s": len(fc), "collisions": len(col), "cpu": on.cpu}))


if __name__ == "__main__":
    asyncio.run(main())
