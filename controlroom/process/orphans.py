"""Finding agents that outlived the control room that started them.

A control room that dies (SIGKILL, OOM, a closed SSH session) must not leave
agents spending money unseen. Agents get PR_SET_PDEATHSIG where the platform
has it, but that covers only the agent's own process, not grandchildren it
forked. So at every start we look for survivors two ways:

* every ``agent_spawned`` event recorded a pid and its create time: a process
  with that pid *and* that create time is the same process, still alive;
* every agent's environment carries ``CONTROLROOM_RUN``, which descendants
  inherit: any live process whose environment names an earlier run of this
  audit database is a survivor of that run (grandchildren that called setsid
  included).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil

from controlroom.models.records import RecordedProcess

__all__ = ["Orphan", "find_orphans"]

_CREATE_TIME_TOLERANCE = 0.05


@dataclass(frozen=True)
class Orphan:
    run: str
    agent: str
    pid: int
    create_time: float
    cmdline: str
    how: str  # "recorded" (an agent's own process) or "environment" (a descendant)

    def describe(self) -> str:
        return (
            f"orphan: agent {self.agent} of run {self.run} is still running "
            f"(pid {self.pid}, {self.how}): {self.cmdline[:80]}"
        )


def _same_process(proc: psutil.Process, create_time: float) -> bool:
    try:
        return abs(proc.create_time() - create_time) < _CREATE_TIME_TOLERANCE and (
            proc.status() != psutil.STATUS_ZOMBIE
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline()) or proc.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "?"


def find_orphans(
    recorded: list[RecordedProcess], exclude_run: str | None = None
) -> list[Orphan]:
    """Live processes that belong to a recorded run other than ``exclude_run``."""
    runs = {r.run for r in recorded if r.run != exclude_run}
    orphans: dict[int, Orphan] = {}
    for rec in recorded:
        if rec.run == exclude_run:
            continue
        try:
            proc = psutil.Process(rec.pid)
        except psutil.NoSuchProcess:
            continue
        if _same_process(proc, rec.create_time):
            orphans[rec.pid] = Orphan(
                rec.run, rec.agent, rec.pid, rec.create_time, _cmdline(proc), "recorded"
            )
    if runs:
        me = os.getpid()
        for proc in psutil.process_iter(["pid"]):
            if proc.pid == me or proc.pid in orphans:
                continue
            try:
                env = proc.environ()
                if env.get("CONTROLROOM_RUN") not in runs:
                    continue
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                orphans[proc.pid] = Orphan(
                    env["CONTROLROOM_RUN"],
                    env.get("CONTROLROOM_AGENT", "?"),
                    proc.pid,
                    proc.create_time(),
                    _cmdline(proc),
                    "environment",
                )
            except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
                continue
    return sorted(orphans.values(), key=lambda o: (o.run, o.agent, o.pid))
