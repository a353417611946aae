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

from controlroom.process.linux import IS_LINUX

__all__ = [
    "TreeCache",
    "TreeSample",
    "pause_tree",
    "resume_tree",
    "sample_tree",
]

# psutil derives both create times the same way; this only absorbs float noise.
_CREATE_TIME_TOLERANCE = 1e-3


# --------------------------------------------------------------------------- the tree


_PROC_CHILDREN = IS_LINUX and os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def _child_pids(pid: int) -> list[int]:
    """Direct children, from /proc/<pid>/task/*/children (O(tree), not O(system))."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    pids: list[int] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                pids.extend(int(x) for x in fh.read().split())
        except OSError:
            continue
    return pids


def _descendant_pids(pid: int) -> list[int]:
    if not _PROC_CHILDREN:
        try:
            return [p.pid for p in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            return []
    seen = {pid}
    out: list[int] = []
    stack = [pid]
    while stack:
        for child in _child_pids(stack.pop()):
            if child not in seen:
                seen.add(child)
                out.append(child)
                stack.append(child)
    return out


def _verified_process(pid: int, create_time: float | None) -> psutil.Process | None:
    """The process at ``pid`` if it is still the one recorded (None if gone or reused)."""
    try:
        proc = psutil.Process(pid)
        if (
            create_time is not None
            and abs(proc.create_time() - create_time) > _CREATE_TIME_TOLERANCE
        ):
            return None
    except psutil.Error:
        return None
    return proc


def _is_zombie(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _safe_pgid(pgid: int | None) -> int | None:
    """A group we may signal as a whole: never ours, never init's, never a bogus id."""
    if pgid is None or pgid <= 1:
        return None
    if pgid == os.getpgrp():
        return None
    return pgid


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _scan_group_or_session(ident: int) -> list[int]:
    """Live (not zombie) pids whose process group or session is ``ident``: one pass over /proc."""
    found: list[int] = []
    if not IS_LINUX:
        for proc in psutil.process_iter():
            try:
                if ident in (os.getpgid(proc.pid), os.getsid(proc.pid)) and not _is_zombie(proc):
                    found.append(proc.pid)
            except (OSError, psutil.Error):
                continue
        return found
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        # fields: state ppid pgrp session ...
        if len(fields) >= 4 and fields[0] != b"Z" and ident in (int(fields[2]), int(fields[3])):
            found.append(int(name))
    return found


# --------------------------------------------------------------------------- pause


def _signal_tree(
    pid: int,
    sig: int,
    pgid: int | None,
    create_time: float | None,
    known: Iterable[psutil.Process],
) -> int:
    """Signal the group first (a stopped group forks no more), then every process outside it."""
    root = _verified_process(pid, create_time)
    roots = [root] if root is not None else []
    roots += [p for p in known if p.pid != pid and _running(p)]
    if not roots:
        return 0
    group = _safe_pgid(pgid if pgid is not None else pid) if root is not None else None
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
        fresh = {c for r in roots for c in _descendant_pids(r.pid)} - reached
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
    pids = [pid, *_descendant_pids(pid)] if leader_there else []
    walked = set(pids)
    for old, proc in list(cache.procs.items()):  # orphans seen before, re-parented since
        if old not in walked and _running(proc):
            more = [p for p in (old, *_descendant_pids(old)) if p not in walked]
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
