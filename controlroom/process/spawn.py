"""Agent processes: start one, and the handle that ties it to its containment.

An agent is a subprocess in its own session and process group, with an
environment built from an allowlist (never the operator's whole
environment), born inside its own cgroup when the run has them, forked and
exec'd on the spawner thread (``spawner.py``) while the event loop goes on.
``AgentProcess`` is the handle the runner keeps: it ties the spawned process
to its containment (``contain.py``: its cgroup, or its tree and marker),
which finds, kills, pauses and samples it. The tree functions are
re-exported here so callers that import them from this module keep working.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial

import psutil

from controlroom._errors import AgentError
from controlroom.process import leaders, spawner
from controlroom.process.cgroup import AgentCgroup
from controlroom.process.child import ChildProcess
from controlroom.process.contain import (
    CgroupContainment,
    Containment,
    Termination,
    TreeContainment,
)
from controlroom.process.kill import KillReport, _open_pidfd, kill_process_tree
from controlroom.process.linux import pdeathsig_preexec
from controlroom.process.marker import AGENT_KEY, RUN_KEY
from controlroom.process.procscan import ProcTable
from controlroom.process.tree import (
    TreeCache,
    TreeSample,
    pause_tree,
    resume_tree,
    sample_tree,
)

__all__ = [
    "AgentProcess",
    "KillReport",
    "TreeCache",
    "TreeSample",
    "kill_process_tree",
    "pause_tree",
    "resume_tree",
    "sample_tree",
    "spawn_agent",
]

# --------------------------------------------------------------------------- spawn


@dataclass
class AgentProcess:
    """A running agent: its identity (pid + create time), group, process, containment."""

    pid: int
    pgid: int
    create_time: float
    process: ChildProcess
    argv: list[str]
    contain: Containment
    pidfd: int | None = None

    async def kill(
        self, grace: float, hurry: asyncio.Event | None = None, first: Termination | None = None
    ) -> KillReport:
        """Kill every process of the agent, however it tried to leave (see ``contain.py``).

        ``hurry``, once set, cuts the grace period short; ``first``: the kill's
        first step, already taken (``contain.terminate``).
        """
        return await self.contain.kill(grace, hurry, first)

    def pause(self) -> int:
        return self.contain.pause()

    def resume(self) -> int:
        return self.contain.resume()

    def sample(self, table: ProcTable | None = None) -> TreeSample:
        return self.contain.sample(table)

    def close(self) -> None:
        """Release the pidfd and our ends of its pipes (its exit was collected by ``process``)."""
        self.process.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def _preexec(joins: list[Callable[[], None]]) -> Callable[[], None] | None:
    steps = [*joins]
    deathsig = pdeathsig_preexec()
    if deathsig is not None:
        steps.append(deathsig)
    if not steps:
        return None

    def run() -> None:
        for step in steps:
            step()

    return run


async def spawn_agent(
    argv: list[str],
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    *,
    agent: str = "",
    limit: int = 2**16,
    stdout: int | None = None,
    stderr: int | None = None,
    cgroup: AgentCgroup | None = None,
) -> AgentProcess:
    """Start ``argv`` in its own session with pipes on all three streams.

    ``stdout`` and ``stderr``, when given, are the write ends of pipes the
    caller reads itself (``pipes.OutputPipes``); otherwise pipes read as
    asyncio streams (``process.stdout``, ``process.stderr``).
    With ``cgroup``, the child moves itself into it before it execs (a
    failure to do so fails the start: an agent never runs outside its
    cgroup). Without, it is contained by its tree and by the marker in
    ``env`` (``CONTROLROOM_RUN``/``CONTROLROOM_AGENT``), when ``env`` has one.

    On Linux the child also gets ``PR_SET_PDEATHSIG=SIGKILL``, so it dies
    with the control room. That fires when the *thread* that forked dies
    (here: the spawner thread, which lives as long as the process) and only
    reaches the agent's leader, so it is a best effort; the supervisor's
    orphan check is the guarantee.
    ``limit`` is the asyncio stream buffer limit for line reads.
    """
    who = f"agent {agent!r}: " if agent else ""
    if not argv or not argv[0]:
        raise AgentError(f"{who}cannot start an empty command")
    proc, create_time = await _start(argv, cwd, env, who, limit, stdout, stderr, cgroup)
    pid = proc.pid
    pidfd = _open_pidfd(pid)
    return AgentProcess(
        pid=pid,
        pgid=pid,
        create_time=create_time,
        process=proc,
        argv=list(argv),
        contain=_containment(pid, create_time, env, cgroup),
        pidfd=pidfd,
    )


@dataclass
class _Started:
    """What the spawner thread hands back: the child, and its create time (read there too)."""

    popen: subprocess.Popen[bytes]
    create_time: float


def _popen(
    argv: list[str],
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    stdout: int | None,
    stderr: int | None,
    cgroup: AgentCgroup | None,
) -> _Started:
    """The fork and exec, on the spawner thread: every blocking step of a start is here."""
    fds = cgroup.open_procs() if cgroup is not None else []
    try:
        with leaders.forking() as register:  # the orphan reaper waits: the leader is not one
            popen = subprocess.Popen(
                argv,
                bufsize=0,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE if stdout is None else stdout,
                stderr=subprocess.PIPE if stderr is None else stderr,
                start_new_session=True,
                preexec_fn=_preexec([AgentCgroup.joiner(fds)] if cgroup is not None else []),
            )
            register(popen.pid)
    finally:
        for fd in fds:
            os.close(fd)
    try:
        create_time = psutil.Process(popen.pid).create_time()
    except psutil.Error:  # it already exited (it is not reaped: only we reap it)
        create_time = time.time()
    return _Started(popen, create_time)


def _discard(future: Future[_Started]) -> None:
    """A start nobody waits for any more (its caller was cancelled): kill it and reap it."""
    if future.cancelled() or future.exception() is not None:
        return
    popen = future.result().popen
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)
    popen.wait()
    leaders.collected(popen.pid)
    for pipe in (popen.stdin, popen.stdout, popen.stderr):
        if pipe is not None:
            pipe.close()


async def _start(
    argv: list[str],
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    who: str,
    limit: int,
    stdout: int | None,
    stderr: int | None,
    cgroup: AgentCgroup | None,
) -> tuple[ChildProcess, float]:
    """The exec itself (joining ``cgroup`` before it), or an ``AgentError`` that says why not.

    The fork and exec run on the spawner thread while the loop awaits them
    (``spawner.py``): the reader, and the governor on its path, keep going.
    """
    future = spawner.submit(partial(_popen, argv, cwd, env, stdout, stderr, cgroup))
    try:
        started = await asyncio.shield(asyncio.wrap_future(future))
    except asyncio.CancelledError:
        if not future.cancel():  # already forking: the child is killed once it exists
            future.add_done_callback(_discard)
        raise
    except subprocess.SubprocessError as exc:  # the pre-exec step failed: it never ran
        where = cgroup.path if cgroup is not None else "?"
        raise AgentError(
            f"{who}cannot start {argv[0]!r}: joining its cgroup {where} failed"
        ) from exc
    except OSError as exc:
        raise _start_error(exc, who, argv, cwd, cgroup) from exc
    return await ChildProcess.attach(started.popen, limit), started.create_time


def _start_error(
    exc: OSError,
    who: str,
    argv: list[str],
    cwd: str | os.PathLike[str],
    cgroup: AgentCgroup | None,
) -> AgentError:
    """Why the start failed: its cgroup, its folder or its program could not be opened."""
    reason = exc.strerror or str(exc)
    name = exc.filename
    if cgroup is not None and name is not None and str(name).startswith(cgroup.path):
        return AgentError(f"{who}cannot open its cgroup {cgroup.path}: {reason}")
    if exc.filename is not None and os.fspath(exc.filename) == os.fspath(cwd):
        return AgentError(
            f"{who}cannot start {argv[0]!r}: working directory {os.fspath(cwd)!r}: {reason}"
        )
    return AgentError(f"{who}cannot start program {argv[0]!r}: {reason}")


def _containment(
    pid: int, create_time: float, env: Mapping[str, str], cgroup: AgentCgroup | None
) -> Containment:
    """The agent's cgroup when it has one; else its tree, and the run's marker in its env."""
    if cgroup is not None:
        return CgroupContainment(cgroup, pid)
    marker = (env[RUN_KEY], env[AGENT_KEY]) if RUN_KEY in env and AGENT_KEY in env else None
    return TreeContainment(pid, pid, create_time, marker)
