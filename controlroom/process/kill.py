"""The kill switch: signal an agent's whole tree, escalate, and verify it is gone.

Why a module of its own: killing is the one place that must be right under
races (children forking during the kill, a dying parent handing its
children to init or to us, pids being recycled). It SIGTERMs the whole
tree, waits for it to go, escalates to SIGKILL after the grace period and
verifies that nothing is left. A pid is only ever signalled while its
psutil identity still matches, and on Linux through a pidfd opened before
that check, so a recycled pid is never hit.
"""

from __future__ import annotations

import asyncio
import errno
import os
import select
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from controlroom.process.hurry import unless_hurried
from controlroom.process.linux import HAS_PIDFD
from controlroom.process.pids import (
    CREATE_TIME_TOLERANCE,
    descendant_pids,
    group_exists,
    is_zombie,
    safe_pgid,
    scan_group_or_session,
    verified_process,
)

__all__ = ["KillReport", "TreeKill", "kill_process_tree", "terminate_tree"]

_REMNANT_POLL_SECONDS = 0.003  # how long a lingering group may take to be reaped before we scan
_POLL_INTERVAL = 0.005  # exit polling when pidfds are not available


# --------------------------------------------------------------------------- kill


@dataclass(frozen=True)
class KillReport:
    """What a kill found and did. ``processes`` counts the live tree when it began."""

    duration_ms: float
    processes: int
    survivors: int
    escalated: bool


_pidfd_works = HAS_PIDFD


def _open_pidfd(pid: int) -> int | None:
    global _pidfd_works
    if not _pidfd_works:
        return None
    try:
        return os.pidfd_open(pid)
    except OSError as exc:  # gone (ESRCH), out of fds (EMFILE): poll this one instead
        if exc.errno in (errno.ENOSYS, errno.EPERM):  # old kernel, or a seccomp filter
            _pidfd_works = False
        return None


def _pidfd_exited(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _Member:
    """One process of the tree being killed: identity, group, and an exit handle."""

    __slots__ = ("proc", "pid", "pgid", "pidfd", "gone")

    def __init__(self, proc: psutil.Process, pidfd: int | None, pgid: int | None) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.pgid = pgid
        self.pidfd = pidfd
        self.gone = False

    @classmethod
    def track(cls, proc: psutil.Process) -> _Member | None:
        """Open an exit handle, then confirm the identity (so the handle is the right one)."""
        pidfd = _open_pidfd(proc.pid)
        try:
            alive = proc.is_running() and not is_zombie(proc)
            pgid = os.getpgid(proc.pid) if alive else None
        except (OSError, psutil.Error):
            alive, pgid = False, None
        if not alive:
            if pidfd is not None:
                os.close(pidfd)
            return None
        return cls(proc, pidfd, pgid)

    def send(self, sig: int) -> None:
        if self.gone:
            return
        try:
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, sig)
            else:
                self.proc.send_signal(sig)  # psutil refuses a reused pid
        except (ProcessLookupError, psutil.NoSuchProcess):
            self.gone = True
        except (PermissionError, psutil.AccessDenied):
            pass

    def refresh(self) -> bool:
        """Update and return ``gone``; a zombie counts as gone."""
        if not self.gone:
            if self.pidfd is not None:
                self.gone = _pidfd_exited(self.pidfd)
            else:
                try:
                    self.gone = not self.proc.is_running() or is_zombie(self.proc)
                except psutil.Error:
                    self.gone = True
        return self.gone

    def reap(self) -> None:
        """Collect the exit status if the process was adopted by us (subreaper)."""
        try:
            if self.pidfd is not None:
                os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED | os.WNOHANG)
            else:
                os.waitpid(self.pid, os.WNOHANG)
        except (ChildProcessError, OSError):
            pass

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


class _Tree:
    """The processes of one kill, keyed by pid, and the agent's group if it is still ours."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.group: int | None = None
        self.members: dict[int, _Member] = {}
        self.started = time.perf_counter()
        self.found = 0  # live members when the walk was done

    def add(self, proc: psutil.Process) -> _Member | None:
        if proc.pid in self.members or proc.pid == os.getpid():
            return None
        member = _Member.track(proc)
        if member is not None:
            self.members[proc.pid] = member
        return member

    def add_pid(self, pid: int) -> _Member | None:
        try:
            return self.add(psutil.Process(pid))
        except psutil.Error:
            return None

    def add_descendants(self, pid: int) -> list[_Member]:
        added = (self.add_pid(c) for c in descendant_pids(pid) if c not in self.members)
        return [m for m in added if m is not None]

    def alive(self) -> list[_Member]:
        return [m for m in self.members.values() if not m.refresh()]

    def signal_all(self, sig: int) -> None:
        """The group as a whole (if ours), then each member outside it."""
        if self.group is not None:
            try:
                os.killpg(self.group, sig)
            except (ProcessLookupError, PermissionError):
                pass
        for member in self.members.values():
            if self.group is None or member.pgid != self.group:
                member.send(sig)

    async def wait(self, deadline: float) -> None:
        """Until every member is gone or the (loop-time) deadline passes."""
        loop = asyncio.get_running_loop()
        woke = asyncio.Event()
        watched: set[int] = set()

        def exited(fd: int) -> None:
            loop.remove_reader(fd)
            watched.discard(fd)
            woke.set()

        try:
            for member in self.alive():
                if member.pidfd is not None:
                    loop.add_reader(member.pidfd, exited, member.pidfd)
                    watched.add(member.pidfd)
            polling = any(m.pidfd is None for m in self.alive())
            while self.alive():
                left = deadline - loop.time()
                if left <= 0:
                    return
                woke.clear()
                try:
                    await asyncio.wait_for(
                        woke.wait(), min(left, _POLL_INTERVAL) if polling else left
                    )
                except TimeoutError:
                    pass
        finally:
            for fd in watched:
                loop.remove_reader(fd)

    def reap_adopted(self) -> None:
        for member in self.members.values():
            if member.gone and member.pid != self.root_pid:
                member.reap()

    async def remnants(self) -> list[_Member]:
        """Live group or session members nobody told us about (once the known ones left).

        A group that outlives its known members is usually just the leader's
        zombie, about to be reaped by asyncio: give it a few ms before
        paying for a scan of /proc.
        """
        if self.group is None:
            return []
        self.reap_adopted()
        deadline = time.monotonic() + _REMNANT_POLL_SECONDS
        while group_exists(self.group):
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.0005)
        else:
            return []
        found = (self.add_pid(p) for p in scan_group_or_session(self.group))
        return [m for m in found if m is not None]

    async def settle(self, deadline: float, sig: int) -> None:
        """Wait for the tree, pulling in (and signalling) unknown group members as they turn up."""
        while True:
            await self.wait(deadline)
            if self.alive():
                return
            extra = await self.remnants()
            if not extra:
                return
            for member in extra:  # they may have been forked after the group signal
                member.send(sig)
                if sig != signal.SIGKILL:
                    member.send(signal.SIGCONT)

    def close(self) -> None:
        self.reap_adopted()
        for member in self.members.values():
            member.close()


def _our_group(group: int | None, tree: _Tree, create_time: float | None) -> int | None:
    """``group`` if it is still the agent's: a live member is in it, or its leader checks out.

    A group id is the pid of the process that created it and cannot be
    handed out again while the group has members, so a group whose leader
    is gone is the remnant of the agent's own; a leader with another create
    time means the id was recycled.
    """
    if group is None:
        return None
    if any(m.pgid == group for m in tree.members.values()):
        return group
    if not group_exists(group):
        return None
    leader = verified_process(group, None)
    if leader is None or create_time is None:
        return group
    try:
        same = abs(leader.create_time() - create_time) <= CREATE_TIME_TOLERANCE
    except psutil.Error:
        same = True  # the leader went away meanwhile: remnants
    return group if same else None


async def kill_process_tree(
    pid: int,
    *,
    grace: float,
    pgid: int | None = None,
    known: Iterable[psutil.Process] = (),
    create_time: float | None = None,
    kill_wait: float = 2.0,
    hurry: asyncio.Event | None = None,
    first: TreeKill | None = None,
) -> KillReport:
    """SIGTERM the whole tree of ``pid``, SIGKILL what is left after ``grace`` seconds.

    The tree is walked *before* any signal (a dying parent hands its children
    to init or to us). It is: ``pid`` (only if its create time still equals
    ``create_time`` when given) and its descendants, each ``known`` process
    still running and its descendants, and any live member of process group
    ``pgid`` (or of the session of that id) found when the group outlives the
    known processes. Stopped (paused) processes get SIGCONT so SIGTERM lands.
    Orphans adopted by us (subreaper) are reaped. Safe on a tree that is
    already gone: survivors 0, no exception. Setting ``hurry`` ends the grace
    period at once (the operator's "kill now" while this kill waits).
    ``first``: the walk and SIGTERM already done (``terminate_tree``).
    """
    loop = asyncio.get_running_loop()
    escalated = False
    tree = first if first is not None else _walk(pid, pgid, known, create_time)
    try:
        if first is None:
            if tree.group is not None and not tree.members:  # only leftovers of the group remain
                for member in await tree.remnants():
                    tree.add_descendants(member.pid)
            _strike(tree)
        if grace > 0:
            await unless_hurried(hurry, tree.settle(loop.time() + grace, signal.SIGTERM), None)
        survivors = tree.alive()
        if survivors:
            escalated = True
            for member in survivors:  # anything forked since the walk
                tree.add_descendants(member.pid)
            tree.signal_all(signal.SIGKILL)
            await tree.settle(loop.time() + kill_wait, signal.SIGKILL)
        left = len(tree.alive())
    finally:
        tree.close()
    return KillReport(
        duration_ms=(time.perf_counter() - tree.started) * 1000,
        processes=tree.found,
        survivors=left,
        escalated=escalated,
    )


TreeKill = _Tree
"""A tree kill whose first step ``terminate_tree`` took: its members found and signalled."""


def terminate_tree(
    pid: int,
    *,
    pgid: int | None = None,
    known: Iterable[psutil.Process] = (),
    create_time: float | None = None,
) -> TreeKill | None:
    """``kill_process_tree``'s first step, now: the walk, then SIGTERM (and SIGCONT) to all.

    None, having signalled nothing, when only leftovers of the group remain:
    finding them waits for the leader's reaping, so the kill does it all.
    """
    tree = _walk(pid, pgid, known, create_time)
    if tree.group is not None and not tree.members:
        tree.close()
        return None
    _strike(tree)
    return tree


def _strike(tree: _Tree) -> None:
    tree.found = len(tree.members)
    tree.signal_all(signal.SIGTERM)
    tree.signal_all(signal.SIGCONT)


def _walk(
    pid: int, pgid: int | None, known: Iterable[psutil.Process], create_time: float | None
) -> _Tree:
    """Everything to signal, found before any signal: the root (if its identity holds) and
    its tree, the known processes' trees, and whether the group (``pgid``, else the root's
    own) is still ours."""
    tree = _Tree(pid)
    root = verified_process(pid, create_time)
    if pgid is None and root is not None:
        try:
            pgid = pid if os.getpgid(pid) == pid else None
        except OSError:
            pgid = None
    if root is not None:
        tree.add(root)
        tree.add_descendants(root.pid)
    for proc in known:
        if tree.add(proc) is not None:
            tree.add_descendants(proc.pid)
    tree.group = _our_group(safe_pgid(pgid), tree, create_time)
    return tree
