"""Sampling every tree-contained agent from one pass over /proc.

Why: without a cgroup an agent's CPU, memory and process count come from its
process tree. Walked per agent (``tree.sample_tree``: the children files of
every process, then psutil per process), a second's sampling of 100 agents
costs 100 walks and several /proc reads per process. Here the supervisor
reads ``/proc/<pid>/stat`` once for every process on the machine (``ProcTable``),
and every agent's tree, CPU and RSS are worked out from that one table.

A process is known by its pid *and* its start time (field 22 of its stat), so
a recycled pid is never counted as the agent's. CPU percent is the change in
a process's user+system clock ticks since the previous sample of the same
process, over the wall time between them (a first sample says 0 %, as psutil
does). Processes seen before that re-parented away (to the supervisor, a
subreaper) still count while they live, with their own descendants, and the
cache keeps a ``psutil.Process`` for each, which the kill switch and pause use.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from controlroom.process.linux import IS_LINUX
from controlroom.process.tree import TreeCache, TreeSample

__all__ = ["ProcStat", "ProcTable", "sample_from_table", "shared_table"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True)
class ProcStat:
    """What one process's stat line says: parent, zombie or not, CPU ticks, RSS, start."""

    ppid: int
    zombie: bool
    ticks: int
    rss_bytes: int
    start: int


def _parse(raw: bytes) -> ProcStat | None:
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        return ProcStat(
            ppid=int(fields[1]),
            zombie=fields[0] in (b"Z", b"X"),
            ticks=int(fields[11]) + int(fields[12]),
            rss_bytes=int(fields[21]) * _PAGE,
            start=int(fields[19]),
        )
    except (IndexError, ValueError):
        return None


class ProcTable:
    """Every process's stat, read in one pass, with a parent → children index."""

    def __init__(self, stats: dict[int, ProcStat], at: float) -> None:
        self.stats = stats
        self.at = at
        self.children: dict[int, list[int]] = {}
        for pid, stat in stats.items():
            self.children.setdefault(stat.ppid, []).append(pid)

    @classmethod
    def read(cls, proc: str = "/proc") -> ProcTable:
        stats: dict[int, ProcStat] = {}
        for name in os.listdir(proc):
            if not name.isdigit():
                continue
            try:
                with open(f"{proc}/{name}/stat", "rb") as fh:
                    raw = fh.read()
            except OSError:  # it exited between the listing and the read
                continue
            stat = _parse(raw)
            if stat is not None:
                stats[int(name)] = stat
        return cls(stats, time.monotonic())

    def tree(self, root: int) -> list[int]:
        """``root`` and its descendants as the table saw them."""
        out = [root]
        stack = [root]
        while stack:
            for child in self.children.get(stack.pop(), ()):
                out.append(child)
                stack.append(child)
        return out


def sample_from_table(pid: int, cache: TreeCache, table: ProcTable) -> TreeSample:
    """``tree.sample_tree``'s answer for ``pid``'s agent, from ``table`` instead of a walk."""
    stats = table.stats
    seen = cache.seen
    leader = stats.get(pid)
    if leader is not None and seen.get(pid, (leader.start, 0, 0.0))[0] != leader.start:
        leader = None  # the pid we knew is someone else's now
    pids = table.tree(pid) if leader is not None else []
    walked = set(pids)
    for old in list(cache.procs):  # orphans seen before, re-parented since
        stat, known = stats.get(old), seen.get(old)
        if old in walked or stat is None or known is None or stat.start != known[0]:
            continue
        more = [p for p in table.tree(old) if p not in walked]
        pids.extend(more)
        walked.update(more)
    fresh: dict[int, psutil.Process] = {}
    fresh_seen: dict[int, tuple[int, int, float]] = {}
    cpu = 0.0
    rss = 0
    for child in pids:
        stat = stats[child]
        if stat.zombie:
            continue
        proc = cache.procs.get(child)
        before = seen.get(child)
        if proc is None or before is None or before[0] != stat.start:
            try:
                proc = psutil.Process(child)
            except psutil.Error:
                continue
            before = None
        elif table.at > before[2]:
            cpu += (stat.ticks - before[1]) / _TICKS / (table.at - before[2]) * 100
        rss += stat.rss_bytes
        fresh[child] = proc
        fresh_seen[child] = (stat.start, stat.ticks, table.at)
    cache.procs = fresh
    cache.seen = fresh_seen
    return TreeSample(cpu_percent=max(cpu, 0.0), rss_bytes=rss, processes=len(fresh))


def shared_table(modes: Iterable[str]) -> ProcTable | None:
    """One table for a sampling pass when an agent in it is contained by its tree (``modes``:
    the running agents' containment modes); None when none is, off Linux, or without /proc."""
    if not IS_LINUX or "process-tree" not in set(modes):
        return None
    try:
        return ProcTable.read()
    except OSError:  # no /proc to read: each agent walks its own tree
        return None
