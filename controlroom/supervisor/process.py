"""Agent processes: start one, watch its tree, pause it, and kill all of it.

An agent is a subprocess in its own session and process group, with an
environment built from an allowlist (never the operator's whole
environment). Everything it forks is its *tree*: the descendants psutil can
walk, the members of its process group and session, and processes seen in
earlier samples that re-parented to the supervisor (a child subreaper, see
``linux.py``) after their parent died. The kill switch signals the whole
tree, waits for it to go, escalates to SIGKILL after the grace period and
verifies that nothing is left.

Pid reuse: a pid is only ever signalled while its psutil identity (pid plus
create time) still matches, and on Linux through a pidfd opened before that
check, so a recycled pid is never hit.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import select
import signal
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import psutil

from controlroom._errors import AgentError
from controlroom.models import AgentSpec
from controlroom.supervisor.linux import HAS_PIDFD, IS_LINUX, pdeathsig_preexec

__all__ = [
    "BASE_ENV_KEYS",
    "AgentProcess",
    "KillReport",
    "TreeCache",
    "TreeSample",
    "build_argv",
    "build_env",
    "kill_process_tree",
    "pause_tree",
    "resume_tree",
    "sample_tree",
    "spawn_agent",
]

BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "TERM", "LC_ALL")
"""Passed through from the operator's environment when set; everything else must be named."""

_PLACEHOLDER = re.compile(r"\{(task|handoff)\}")
# psutil derives both create times the same way; this only absorbs float noise.
_CREATE_TIME_TOLERANCE = 1e-3
_REMNANT_POLL_SECONDS = 0.003  # how long a lingering group may take to be reaped before we scan
_POLL_INTERVAL = 0.005  # exit polling when pidfds are not available


# --------------------------------------------------------------------------- spawn


def build_env(
    spec: AgentSpec,
    run_id: str,
    handoff_file: str | None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The agent's whole environment: the base allowlist, its named keys, and ours."""
    source = os.environ if environ is None else environ
    env = {key: source[key] for key in BASE_ENV_KEYS if key in source}
    for key in (*spec.env, *spec.secret_env):
        if key in source:
            env[key] = source[key]
    env["CONTROLROOM_AGENT"] = spec.name
    env["CONTROLROOM_RUN"] = run_id
    env["CONTROLROOM_HANDOFF_FILE"] = handoff_file or ""
    return env


def build_argv(spec: AgentSpec, task: str, handoff_text: str) -> list[str]:
    """The command with ``{task}`` and ``{handoff}`` filled in, in one pass.

    One pass, so a task that itself contains ``{handoff}`` stays as written;
    any other braces (JSON in an argument, ``{other}``) are left alone.
    """
    values = {"task": task, "handoff": handoff_text}
    return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in spec.command]


@dataclass
class AgentProcess:
    """A running agent: its identity (pid + create time), group, and asyncio process."""

    pid: int
    pgid: int
    create_time: float
    process: asyncio.subprocess.Process
    argv: list[str]
    pidfd: int | None = None
    cache: TreeCache = field(default_factory=lambda: TreeCache())

    async def kill(self, grace: float) -> KillReport:
        """Kill the whole tree, including orphans seen by earlier ``sample`` calls."""
        return await kill_process_tree(
            self.pid,
            grace=grace,
            pgid=self.pgid,
            known=self.cache.known(),
            create_time=self.create_time,
        )

    def pause(self) -> int:
        return pause_tree(
            self.pid, pgid=self.pgid, create_time=self.create_time, known=self.cache.known()
        )

    def resume(self) -> int:
        return resume_tree(
            self.pid, pgid=self.pgid, create_time=self.create_time, known=self.cache.known()
        )

    def sample(self) -> TreeSample:
        return sample_tree(self.pid, self.cache)

    def close(self) -> None:
        """Release the pidfd (the process itself is reaped by asyncio)."""
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


async def spawn_agent(
    argv: list[str],
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    *,
    agent: str = "",
    limit: int = 2**16,
) -> AgentProcess:
    """Start ``argv`` in its own session with pipes on all three streams.

    On Linux the child also gets ``PR_SET_PDEATHSIG=SIGKILL``, so it dies
    with the control room. That fires when the *thread* that forked dies
    (here: the event-loop thread) and only reaches the agent's leader, so it
    is a best effort; the supervisor's orphan check is the guarantee.
    ``limit`` is the asyncio stream buffer limit for line reads.
    """
    who = f"agent {agent!r}: " if agent else ""
    if not argv or not argv[0]:
        raise AgentError(f"{who}cannot start an empty command")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=pdeathsig_preexec(),
            limit=limit,
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.filename is not None and os.fspath(exc.filename) == os.fspath(cwd):
            raise AgentError(
                f"{who}cannot start {argv[0]!r}: working directory {os.fspath(cwd)!r}: {reason}"
            ) from exc
        raise AgentError(f"{who}cannot start program {argv[0]!r}: {reason}") from exc

    pid = proc.pid
    pidfd = _open_pidfd(pid)
    try:
        create_time = psutil.Process(pid).create_time()
    except psutil.Error:  # it already exited and was reaped
        create_time = time.time()
    return AgentProcess(
        pid=pid, pgid=pid, create_time=create_time, process=proc, argv=list(argv), pidfd=pidfd
    )


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
            alive = proc.is_running() and not _is_zombie(proc)
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
                    self.gone = not self.proc.is_running() or _is_zombie(self.proc)
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
        added = (self.add_pid(c) for c in _descendant_pids(pid) if c not in self.members)
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
        while _group_exists(self.group):
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.0005)
        else:
            return []
        found = (self.add_pid(p) for p in _scan_group_or_session(self.group))
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
    if not _group_exists(group):
        return None
    leader = _verified_process(group, None)
    if leader is None or create_time is None:
        return group
    try:
        same = abs(leader.create_time() - create_time) <= _CREATE_TIME_TOLERANCE
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
) -> KillReport:
    """SIGTERM the whole tree of ``pid``, SIGKILL what is left after ``grace`` seconds.

    The tree is walked *before* any signal (a dying parent hands its children
    to init or to us). It is: ``pid`` (only if its create time still equals
    ``create_time`` when given) and its descendants, each ``known`` process
    still running and its descendants, and any live member of process group
    ``pgid`` (or of the session of that id) found when the group outlives the
    known processes. Stopped (paused) processes get SIGCONT so SIGTERM lands.
    Orphans adopted by us (subreaper) are reaped. Safe on a tree that is
    already gone: survivors 0, no exception.
    """
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    root = _verified_process(pid, create_time)
    if pgid is None and root is not None:
        try:
            pgid = pid if os.getpgid(pid) == pid else None
        except OSError:
            pgid = None
    tree = _Tree(pid)
    escalated = False
    try:
        if root is not None:
            tree.add(root)
            tree.add_descendants(root.pid)
        for proc in known:
            if tree.add(proc) is not None:
                tree.add_descendants(proc.pid)
        tree.group = _our_group(_safe_pgid(pgid), tree, create_time)
        if tree.group is not None and not tree.members:  # only leftovers of the group remain
            for member in await tree.remnants():
                tree.add_descendants(member.pid)
        processes = len(tree.members)

        tree.signal_all(signal.SIGTERM)
        tree.signal_all(signal.SIGCONT)
        if grace > 0:
            await tree.settle(loop.time() + grace, signal.SIGTERM)
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
        duration_ms=(time.perf_counter() - started) * 1000,
        processes=processes,
        survivors=left,
        escalated=escalated,
    )


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
