"""One interface to an agent's processes, whichever way they are contained.

``AgentProcess`` (spawn.py) holds one of these and asks it to kill, pause,
resume, sample and look for what the agent left behind:

* ``CgroupContainment``: the agent's own cgroup (cgroup.py). Kill is
  SIGTERM to every member, then ``cgroup.kill``; done when ``cgroup.events``
  says ``populated 0``, and survivors are counted from ``cgroup.procs``, never
  from what we knew. Pause is ``cgroup.freeze``. Meters read the cgroup's files.
* ``TreeContainment``: where no cgroup could be made. The tree walk
  (tree.py, kill.py), plus every process carrying the agent's marker in its
  environment (marker.py), re-parented ones included.

Both return the same ``KillReport`` and ``TreeSample``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import psutil

from controlroom.process import leaders
from controlroom.process.cgroup import AgentCgroup, cgroup_of
from controlroom.process.hurry import unless_hurried
from controlroom.process.kill import KillReport, TreeKill, kill_process_tree, terminate_tree
from controlroom.process.marker import marked_processes
from controlroom.process.pids import child_pids
from controlroom.process.procscan import ProcTable, sample_from_table
from controlroom.process.tree import (
    TreeCache,
    TreeSample,
    pause_tree,
    resume_tree,
    sample_tree,
)

__all__ = [
    "CgroupContainment",
    "Containment",
    "Termination",
    "TreeContainment",
    "kill_cgroup",
    "reap_adopted",
    "terminate_cgroup",
]

_FREEZE_WAIT_SECONDS = 0.5  # a task in uninterruptible sleep may hold a freeze back; go on then


@dataclass(slots=True)
class Termination:
    """A kill's first step, taken at once: every process sent SIGTERM, a frozen agent thawed.

    Why apart from the kill: whoever decides a stop takes this step in the
    same call (the governor's stop, beside a flood, waits for no task hop and
    no loop turn between its decision and the signal); ``kill`` carries on
    from it (waits out the grace, escalates, verifies). ``taken`` False: the
    step could not be taken at once, and ``kill`` takes it itself.
    """

    started: float = field(default_factory=time.perf_counter)
    seen: set[int] = field(default_factory=set)  # the processes sent SIGTERM
    done: bool = False  # nothing was left running: nothing to wait for
    taken: bool = True
    tree: TreeKill | None = None  # process-tree containment: the tree walked and signalled


class Containment(Protocol):
    """How one agent's processes are found, stopped, frozen and measured."""

    mode: str  # "cgroup" or "process-tree"
    cgroup: str  # the cgroup's directory, or ""

    def terminate(self, grace: float) -> Termination:
        """The kill's first step, now (synchronous): SIGTERM unless ``grace`` is 0."""
        ...

    async def kill(
        self, grace: float, hurry: asyncio.Event | None = None, first: Termination | None = None
    ) -> KillReport:
        """Kill every process; ``first``: its first step, already taken by ``terminate``."""
        ...

    def pause(self) -> int: ...

    async def settle_paused(self) -> bool: ...

    def resume(self) -> int: ...

    def sample(self, table: ProcTable | None = None) -> TreeSample:
        """CPU, memory, processes; ``table``: one /proc pass shared by every agent's sample."""
        ...

    def strikes(self) -> dict[str, int]: ...

    def leftovers(self) -> int: ...


class CgroupContainment:
    """An agent whose every process was born in its own cgroup."""

    mode = "cgroup"

    def __init__(self, group: AgentCgroup, leader: int) -> None:
        self.group = group
        self.cgroup = group.path
        self.leader = leader

    def terminate(self, grace: float) -> Termination:
        try:
            return terminate_cgroup(self.group, grace)
        except OSError:  # the cgroup's files refused: the kill takes the step (and says so)
            return Termination(taken=False)

    async def kill(
        self, grace: float, hurry: asyncio.Event | None = None, first: Termination | None = None
    ) -> KillReport:
        return await kill_cgroup(self.group, grace, leader=self.leader, hurry=hurry, first=first)

    def pause(self) -> int:
        self.group.freeze(True)
        return len(self.group.pids())

    async def settle_paused(self) -> bool:
        return await self.group.wait_for("frozen", 1, _FREEZE_WAIT_SECONDS)

    def resume(self) -> int:
        self.group.freeze(False)
        return len(self.group.pids())

    def sample(self, table: ProcTable | None = None) -> TreeSample:
        pids = self.group.pids()
        memory = self.group.memory_bytes()
        if memory is None:
            memory = sum(_rss(pid) for pid in pids)
        return TreeSample(
            cpu_percent=self.group.cpu_percent(), rss_bytes=memory, processes=len(pids)
        )

    def strikes(self) -> dict[str, int]:
        return self.group.strikes()

    def leftovers(self) -> int:
        return len(self.group.pids())


class TreeContainment:
    """An agent known by its tree, group, session and environment marker."""

    mode = "process-tree"
    cgroup = ""

    def __init__(
        self, pid: int, pgid: int, create_time: float, marker: tuple[str, str] | None
    ) -> None:
        self.pid = pid
        self.pgid = pgid
        self.create_time = create_time
        self.marker = marker  # (run, agent)
        self.cache = TreeCache()

    def known(self) -> list[psutil.Process]:
        """Processes seen in earlier samples, and every one carrying the marker now."""
        found = {p.pid: p for p in self.cache.known()}
        if self.marker is not None:
            for proc in marked_processes(*self.marker):
                found.setdefault(proc.pid, proc)
        return list(found.values())

    def terminate(self, grace: float) -> Termination:
        """The walk and SIGTERM now; left to ``kill`` when only a group's leftovers remain
        (finding them waits for the leader's reaping)."""
        known = self.known()
        tree = terminate_tree(self.pid, pgid=self.pgid, known=known, create_time=self.create_time)
        if tree is None:
            return Termination(taken=False)
        return Termination(started=tree.started, tree=tree)

    async def kill(
        self, grace: float, hurry: asyncio.Event | None = None, first: Termination | None = None
    ) -> KillReport:
        return await kill_process_tree(
            self.pid,
            grace=grace,
            pgid=self.pgid,
            known=() if first is not None and first.tree is not None else self.known(),
            create_time=self.create_time,
            hurry=hurry,
            first=None if first is None else first.tree,
        )

    def pause(self) -> int:
        return pause_tree(
            self.pid, pgid=self.pgid, create_time=self.create_time, known=self.known()
        )

    async def settle_paused(self) -> bool:
        return True

    def resume(self) -> int:
        return resume_tree(
            self.pid, pgid=self.pgid, create_time=self.create_time, known=self.known()
        )

    def sample(self, table: ProcTable | None = None) -> TreeSample:
        if table is not None:
            return sample_from_table(self.pid, self.cache, table)
        return sample_tree(self.pid, self.cache)

    def strikes(self) -> dict[str, int]:
        return {}

    def leftovers(self) -> int:
        return sum(1 for p in self.known() if p.pid != self.pid and _alive(p))


def terminate_cgroup(group: AgentCgroup, grace: float) -> Termination:
    """SIGTERM every member (unless ``grace`` is 0), then thaw a paused agent to act on it.

    The SIGTERMs go first, while a frozen agent cannot run: it acts on
    them as soon as it is thawed, and spends nothing in between. One not
    frozen is not thawed (a write that takes the cgroup lock, for nothing).
    Whether anything is left (``cgroup.events``) is read after the signals,
    not before: an empty cgroup has no members to signal anyway, and every
    system call ahead of the SIGTERM is a GIL release the audit writer may
    take (up to a switch interval each, beside a flood).
    """
    first = Termination()
    if grace > 0:
        group.signal_members(signal.SIGTERM, first.seen)
        if group.frozen:
            group.freeze(False)
        group.signal_members(signal.SIGTERM, first.seen)  # forked meanwhile
    first.done = not group.populated()
    return first


async def kill_cgroup(
    group: AgentCgroup,
    grace: float,
    *,
    leader: int | None = None,
    kill_wait: float = 2.0,
    hurry: asyncio.Event | None = None,
    first: Termination | None = None,
) -> KillReport:
    """SIGTERM every member, ``cgroup.kill`` what is left after ``grace``; verify by the kernel.

    ``first``: the SIGTERMs already sent (``terminate_cgroup``), else sent
    now. Before ``cgroup.kill`` the cgroup is frozen and its members read:
    nothing forks between that count and the kill. ``processes`` counts
    every member the kill met; ``survivors`` is what ``cgroup.procs`` still
    lists when the wait ends (0 once ``cgroup.events`` says ``populated 0``).
    Setting ``hurry`` ends the grace period at once.
    """
    if first is None or not first.taken:
        first = terminate_cgroup(group, grace)
    started, seen, done = first.started, first.seen, first.done
    escalated = False
    if not done and grace > 0:
        done = await unless_hurried(hurry, group.wait_for("populated", 0, grace), False)
    if not done:
        escalated = True
        group.freeze(True)
        await group.wait_for("frozen", 1, _FREEZE_WAIT_SECONDS)
        seen.update(group.pids())
        group.kill()
        done = await group.wait_for("populated", 0, kill_wait)
    survivors = 0 if done else len(group.pids())
    group.freeze(False)  # the next attempt of the agent is born in this cgroup
    _reap(seen - {leader})
    return KillReport(
        duration_ms=(time.perf_counter() - started) * 1000,
        processes=len(seen),
        survivors=survivors,
        escalated=escalated,
    )


def reap_adopted(cgroups: Collection[str]) -> int:
    """Collect the exit status of our zombie children that came from the agents' cgroups.

    As child subreaper the control room adopts an agent's orphans, and must
    reap them when they die. Only zombies whose ``/proc/<pid>/cgroup`` names
    one of ``cgroups``, and no agent's leader (``leaders``: its runner collects
    its status, and no leader is forked while we look), are taken: no other
    child's status is ever stolen. One pass over our children: call it once per
    sampling round, not per agent, off the loop (it may wait out a fork).
    """
    names = set(cgroups)
    with leaders.reaping() as spared:
        adopted = [
            pid
            for pid in child_pids(os.getpid())
            if pid not in spared and _zombie(pid) and cgroup_of(pid) in names
        ]
        return _reap(adopted)


def _reap(pids: Iterable[int]) -> int:
    """Reap those of ``pids`` that are zombie children of ours (others are left alone)."""
    me = os.getpid()
    reaped = 0
    for pid in pids:
        stat = _stat(pid)
        if stat is None or stat[0] != b"Z" or stat[1] != me:
            continue
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                reaped += 1
        except ChildProcessError:
            continue
    return reaped


def _stat(pid: int) -> tuple[bytes, int] | None:
    """(state, parent pid) from ``/proc/<pid>/stat``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[0], int(fields[1])


def _zombie(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] == b"Z"


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
