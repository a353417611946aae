"""Agent processes: start one, and the handle that ties it to its tree and kill switch.

An agent is a subprocess in its own session and process group, with an
environment built from an allowlist (never the operator's whole
environment). ``AgentProcess`` is the handle the runner keeps: it ties the
spawned process to its tree (``tree.py``: find, pause, sample) and to the
kill switch (``kill.py``). Those names are re-exported here so callers that
import them from this module keep working.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import psutil

from controlroom._errors import AgentError
from controlroom.process.kill import KillReport, _open_pidfd, kill_process_tree
from controlroom.process.linux import pdeathsig_preexec
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
    stdout: int | None = None,
    stderr: int | None = None,
) -> AgentProcess:
    """Start ``argv`` in its own session with pipes on all three streams.

    ``stdout`` and ``stderr``, when given, are the write ends of pipes the
    caller reads itself (``pipes.OutputPipes``); otherwise asyncio's own.

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
            stdout=asyncio.subprocess.PIPE if stdout is None else stdout,
            stderr=asyncio.subprocess.PIPE if stderr is None else stderr,
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
