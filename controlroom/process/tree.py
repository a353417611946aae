"""Finding an agent's process tree, pausing it, and sampling what it uses.

Why a module of its own: the spawner, the kill switch and the meters all
need the same answer to "which processes are this agent's?". The tree is
the descendants walked via /proc (or psutil), the members of the agent's
process group and session, and processes seen in earlier samples that
re-parented to the supervisor (a child subreaper, see ``linux.py``) after
their parent died. A pid only counts while its psutil identity (pid plus
create time) still matches, so a recycled pid is never mistaken for ours.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from controlroom.process.pids import (
    descendant_pids,
    safe_pgid,
    verified_process,
)

__all__ = [
    "TreeCache",
    "TreeSample",
    "pause_tree",
    "resume_tree",
    "sample_tree",
]

# --------------------------------------------------------------------------- pause


def _signal_tree(
    pid: int,
    sig: int,
    pgid: int | None,
    create_time: float | None,
    known: Iterable[psutil.Process],
) -> int:
    """Signal the group first (a stopped group forks no more), then every process outside it."""
    root = verified_process(pid, create_time)
    roots = [root] if root is not None else []
    roots += [p for p in known if p.pid != pid and _running(p)]
    if not roots:
        return 0
    group = safe_pgid(pgid if pgid is not None else pid) if root is not None else None
    if group is not None:
        try:
            os.killpg(group, sig)
        except (ProcessLookupError, PermissionError):
            group = None
    reached: set[int] = set()
    for proc in roots:
        _send_outside(proc, sig, group)
        reached.add(proc.pid)
    for _ in range(3):  # again, for children forked between the walk and the signal
        fresh = {c for r in roots for c in descendant_pids(r.pid)} - reached
        if not fresh:
            break
        for child in fresh:
            reached.add(child)
            try:
                _send_outside(psutil.Process(child), sig, group)
            except psutil.Error:
                continue
    return len(reached)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running()
    except psutil.Error:
        return False


def _send_outside(proc: psutil.Process, sig: int, group: int | None) -> None:
    try:
        if group is None or os.getpgid(proc.pid) != group:
            proc.send_signal(sig)
    except (OSError, psutil.Error):
        pass


def pause_tree(
    pid: int,
    *,
    pgid: int | None = None,
    create_time: float | None = None,
    known: Iterable[psutil.Process] = (),
) -> int:
    """SIGSTOP the group and every descendant; returns how many processes were reached."""
    return _signal_tree(pid, signal.SIGSTOP, pgid, create_time, known)


def resume_tree(
    pid: int,
    *,
    pgid: int | None = None,
    create_time: float | None = None,
    known: Iterable[psutil.Process] = (),
) -> int:
    """SIGCONT the group and every descendant; returns how many processes were reached."""
    return _signal_tree(pid, signal.SIGCONT, pgid, create_time, known)


# --------------------------------------------------------------------------- sampling


@dataclass(frozen=True)
class TreeSample:
    """Resources of one agent's live tree (CPU percent of one core, summed)."""

    cpu_percent: float
    rss_bytes: int
    processes: int


class TreeCache:
    """The psutil.Process objects of one agent, kept between samples.

    ``cpu_percent`` measures since the previous call on the same object, so
    the objects must live on. Processes seen once stay tracked while they
    run, even after they re-parent away from the agent: ``known()`` hands
    them to the kill switch and to pause/resume.
    """

    def __init__(self) -> None:
        self.procs: dict[int, psutil.Process] = {}
        self.leader: psutil.Process | None = None  # identity of the pid sampled first
        # pid -> (start time, CPU ticks, when): what procscan.sample_from_table last saw
        self.seen: dict[int, tuple[int, int, float]] = {}

    def known(self) -> list[psutil.Process]:
        return list(self.procs.values())


def sample_tree(pid: int, cache: TreeCache) -> TreeSample:
    """CPU, RSS and process count of ``pid``'s live tree (a first sample reports 0 % CPU).

    Once the leader seen before is gone, its pid is not walked again (it may
    be someone else's by now); orphans seen before are still counted.
    """
    if cache.leader is None or cache.leader.pid != pid:
        try:
            cache.leader = psutil.Process(pid)
        except psutil.Error:
            pass
    leader_there = cache.leader is not None and _running(cache.leader)
    pids = [pid, *descendant_pids(pid)] if leader_there else []
    walked = set(pids)
    for old, proc in list(cache.procs.items()):  # orphans seen before, re-parented since
        if old not in walked and _running(proc):
            more = [p for p in (old, *descendant_pids(old)) if p not in walked]
            pids.extend(more)
            walked.update(more)
    fresh: dict[int, psutil.Process] = {}
    cpu = 0.0
    rss = 0
    for child in pids:
        cached = cache.procs.get(child)
        try:
            proc = cached if cached is not None else psutil.Process(child)
            with proc.oneshot():
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss
        except psutil.Error:
            continue
        fresh[child] = proc
    cache.procs = fresh
    return TreeSample(cpu_percent=cpu, rss_bytes=rss, processes=len(fresh))
