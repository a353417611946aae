#!/usr/bin/env python3
"""Where a slow governor reaction's milliseconds go, beside a flood: the loop's timeline.

    .venv/bin/python bench/governor_trace.py [--runs 10] [--flood 20] [--lines-to-cap 50]
                                             [--interval-ms 20] [--slow-ms 20]

Runs governor_reaction.py's flood runs (no pairs, no kill switch) with probes
on the supervisor's own process, and for every run whose crossing line ->
SIGTERM handler took ``--slow-ms`` or more prints what happened from 3 ms
before the crossing line to the handler, in ms from the crossing line:

* ``round``: one reader round (bytes it took, the loop thread's CPU in it,
  and what comes next: ``soon`` another round at once, ``timer`` a coalesced
  one, ``armed`` the loop's selector);
* ``READ``: a read of the paced agent's pipe (its lines so far: the crossing
  one is ``--lines-to-cap``); reads of the floods are counted, and shown
  only when one took over 1 ms;
* ``terminate``: the kill's first step (the SIGTERM), inside the read that
  decided the stop;
* ``GC``: a collection of over 1 ms, on the loop thread or another;
* ``commit``: one batch of the audit writer's thread (events, its CPU);
* ``callback``: any other loop callback of over 0.3 ms;
* ``agent off CPU``: gaps of 0.5 ms or more in the paced agent's heartbeat.

Wall time much above the CPU beside it is time the thread did not run: the
GIL (held by the audit writer) or the CPU (the machine's load). At the end,
GC pauses per generation over all runs. The probes wrap a few methods of
this process (the event loop's ``Handle._run``, the reader's ``_read``, the
rounds' ``_round``, the writer's ``commit``, the containments' ``terminate``):
a diagnostic, not a figure to compare with governor_reaction.py's.
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.events
import gc
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import governor_reaction as reaction  # first: its _common import puts the repository on sys.path
from _common import AGENT, machine, percentile

from controlroom.process.contain import CgroupContainment, TreeContainment
from controlroom.store.batch import BatchWriter
from controlroom.swarm.reader import OutputReader
from controlroom.swarm.rounds import Rounds
from controlroom.swarm.supervisor import tune_interpreter

now = time.monotonic_ns
cpu_now = time.thread_time_ns


@dataclass
class Trace:
    """What the probes saw in one run: (start ns, end ns, what), and the GC pauses."""

    spans: list[tuple[int, int, str]] = field(default_factory=list)
    gc: list[tuple[int, int, int]] = field(default_factory=list)  # generation, wall ns, CPU ns
    callbacks: dict[str, list[int]] = field(default_factory=dict)  # name -> wall ns of each
    _gc_started: dict[int, tuple[int, int]] = field(default_factory=dict)

    def add(self, start: int, what: str) -> None:
        self.spans.append((start, now(), what))

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        thread = threading.get_ident()
        if phase == "start":
            self._gc_started[thread] = (now(), cpu_now())
            return
        started, cpu = self._gc_started.pop(thread, (now(), cpu_now()))
        wall, cpu = now() - started, cpu_now() - cpu
        self.gc.append((info["generation"], wall, cpu))
        if wall >= 1_000_000:
            where = "loop" if thread == threading.main_thread().ident else "other thread"
            self.spans.append((started, now(), f"GC gen{info['generation']} on the {where}"))


TRACE = Trace()


def _wrap(
    owner: Any, name: str, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> Any:
    original = getattr(owner, name)
    setattr(owner, name, wrapper(original))
    return original


def _timed_read(original: Callable[..., int]) -> Callable[..., int]:
    def read(self: OutputReader, pipe: Any, size: int, *, throttle: bool) -> int:
        start, cpu = now(), cpu_now()
        got = original(self, pipe, size, throttle=throttle)
        spent = (cpu_now() - cpu) / 1e6
        if pipe.label.startswith(AGENT):
            TRACE.add(start, f"READ {pipe.label}: {got} B, {pipe.lines} lines, cpu {spent:.2f}")
        else:
            TRACE.add(start, f"flood read {got} B, cpu {spent:.2f}")
        return got

    return read


def _timed_round(original: Callable[[Rounds], None]) -> Callable[[Rounds], None]:
    def round_(self: Rounds) -> None:
        start, cpu = now(), cpu_now()
        original(self)
        timer = isinstance(self._next, asyncio.TimerHandle)
        then = "armed" if self._armed else "timer" if timer else "soon"
        spent = (cpu_now() - cpu) / 1e6
        TRACE.add(start, f"round: {self._took} B, cpu {spent:.2f}, next {then}")

    return round_


def _timed_commit(original: Callable[..., Any]) -> Callable[..., Any]:
    def commit(self: BatchWriter, events: list[Any], *args: Any) -> Any:
        start, cpu = now(), cpu_now()
        try:
            return original(self, events, *args)
        finally:
            TRACE.add(start, f"commit {len(events)} events, cpu {(cpu_now() - cpu) / 1e6:.2f}")

    return commit


def _timed_terminate(original: Callable[..., Any]) -> Callable[..., Any]:
    def terminate(self: Any, grace: float) -> Any:
        start = now()
        try:
            return original(self, grace)
        finally:
            TRACE.add(start, f"terminate ({self.mode})")

    return terminate


def _timed_callback(original: Callable[[asyncio.Handle], None]) -> Callable[..., None]:
    def run(self: asyncio.Handle) -> None:
        start = now()
        try:
            original(self)
        finally:
            wall = now() - start
            if wall > 300_000:
                name = _callback_name(self)
                TRACE.callbacks.setdefault(name, []).append(wall)
                TRACE.add(start, f"callback {name}")

    return run


def _callback_name(handle: asyncio.Handle) -> str:
    """The callback's name; for a task's step, the task's coroutine (which task ran)."""
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return f"task {owner.get_coro().__qualname__}"  # type: ignore[union-attr]
    return str(getattr(callback, "__qualname__", callback))


@contextmanager
def probes() -> Iterator[None]:
    """The probes in place for the block; the wrapped methods restored after it."""
    wrapped = [
        (asyncio.events.Handle, "_run", _timed_callback),
        (OutputReader, "_read", _timed_read),
        (Rounds, "_round", _timed_round),
        (BatchWriter, "commit", _timed_commit),
        (CgroupContainment, "terminate", _timed_terminate),
        (TreeContainment, "terminate", _timed_terminate),
    ]
    originals = [(owner, name, _wrap(owner, name, w)) for owner, name, w in wrapped]
    gc.callbacks.append(TRACE.on_gc)
    try:
        yield
    finally:
        gc.callbacks.remove(TRACE.on_gc)
        for owner, name, original in originals:
            setattr(owner, name, original)


def timeline(crossing: int, handler: int, record: reaction.AgentRecord) -> list[str]:
    """The run's spans and the agent's gaps from 3 ms before the crossing line to the handler."""
    low, high = crossing - 3_000_000, handler + 1_000_000
    rows = [
        (gap[0], gap[1], "agent off CPU") for gap in record.gaps if gap[1] >= low and gap[0] <= high
    ]
    quick_floods = 0
    for start, end, what in sorted(TRACE.spans):
        if end < low or start > high:
            continue
        if what.startswith("flood read") and end - start < 1_000_000:
            quick_floods += 1
            continue
        rows.append((start, end, what))
    lines = [f"{(s - crossing) / 1e6:9.2f} {(e - s) / 1e6:8.2f}  {w}" for s, e, w in sorted(rows)]
    lines.append(f"{(handler - crossing) / 1e6:9.2f}           SIGTERM handler runs")
    lines.append(f"   ({quick_floods} flood reads of under 1 ms not shown)")
    return lines


async def traced_runs(args: argparse.Namespace, directory: Path) -> list[tuple[int, int, int]]:
    """Every run; prints the slow ones' timelines. Returns the GC pauses of all runs."""
    pauses: list[tuple[int, int, int]] = []
    for number in range(args.runs):
        TRACE.spans.clear()
        TRACE.gc.clear()
        with probes():
            result = await reaction.governor_run(
                directory, number, args.interval_ms, args.lines_to_cap, args.flood
            )
        pauses.extend(TRACE.gc)
        figures = ", ".join(f"{k} {v:.2f}" for k, v in sorted(result.items()))
        print(f"run {number}: ms from the crossing line: {figures}")
        if result["sigterm"] < args.slow_ms:
            continue
        record = reaction.AgentRecord.load(directory / f"governor-{number}.json")
        assert record.term is not None  # governor_run checked it
        crossing = record.stamps[args.lines_to_cap - 1]
        for line in timeline(crossing, record.term, record):
            print("   " + line)
    return pauses


def callback_summary(runs: int) -> None:
    """The loop's longest callbacks over all runs, by name (the reader's rounds included)."""
    ranked = sorted(TRACE.callbacks.items(), key=lambda item: -max(item[1]))
    for name, walls in ranked[:8]:
        ms = [w / 1e6 for w in walls]
        print(
            f"loop callback {name}: {len(ms) / runs:.1f} per run over 0.3 ms, "
            f"p50 {percentile(ms, 50):.2f} ms, max {max(ms):.2f} ms (wall)"
        )


def gc_summary(pauses: list[tuple[int, int, int]], runs: int) -> None:
    for generation in (0, 1, 2):
        cpu = [p[2] / 1e6 for p in pauses if p[0] == generation]
        if cpu:
            print(
                f"GC gen{generation}: {len(cpu) / runs:.1f} per run, CPU p50 "
                f"{percentile(cpu, 50):.2f} ms, p99 {percentile(cpu, 99):.2f} ms, "
                f"max {max(cpu):.2f} ms, total {sum(cpu) / runs:.1f} ms per run"
            )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--flood", type=int, default=20)
    parser.add_argument("--lines-to-cap", type=int, default=50)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--slow-ms", type=float, default=20.0)
    args = parser.parse_args()
    tune_interpreter()  # as the CLI does where a swarm starts
    print(f"{machine()}; {args.runs} runs beside {args.flood} floods")
    with tempfile.TemporaryDirectory(prefix="controlroom-trace-") as tmp:
        pauses = await traced_runs(args, Path(tmp))
    gc_summary(pauses, args.runs)
    callback_summary(args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
