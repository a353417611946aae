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
  included);
* a run that contained its agents in cgroups recorded them (``containment``
  event): every process still in one of those cgroups is a survivor, even one
  that emptied its environment (``env -i``). The cgroups themselves are
  leftovers to remove (``leftover_cgroups``, ``remove_cgroups``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import psutil

from controlroom.inert import inert_line
from controlroom.models.records import RecordedProcess
from controlroom.process.cgroup import AgentCgroup
from controlroom.process.cgroupfs import layout
from controlroom.process.contain import kill_cgroup
from controlroom.process.marker import scan_markers

__all__ = [
    "Orphan",
    "find_orphans",
    "kill_cgroups",
    "leftover_cgroups",
    "remove_cgroups",
]

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
        """One line for a terminal; the command line is the process's own (inert here)."""
        return (
            f"orphan: agent {self.agent} of run {self.run} is still running "
            f"(pid {self.pid}, {self.how}): {inert_line(self.cmdline)[:80]}"
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
    recorded: list[RecordedProcess],
    exclude_run: str | None = None,
    cgroups: Mapping[str, list[str]] | None = None,
) -> list[Orphan]:
    """Live processes that belong to a recorded run other than ``exclude_run``."""
    runs = {r.run for r in recorded if r.run != exclude_run}
    runs.update(run for run in (cgroups or {}) if run != exclude_run)
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
    for run, dirs in (cgroups or {}).items():
        if run == exclude_run:
            continue
        for agent, pids in _cgroup_members(dirs).items():
            for pid in pids:
                _add(orphans, run, agent, pid, "cgroup")
    if runs:
        for pid, (run, agent) in scan_markers(runs).items():
            _add(orphans, run, agent, pid, "environment")
    return sorted(orphans.values(), key=lambda o: (o.run, o.agent, o.pid))


def _add(orphans: dict[int, Orphan], run: str, agent: str, pid: int, how: str) -> None:
    if pid in orphans or pid == os.getpid():
        return
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return
        orphans[pid] = Orphan(run, agent, pid, proc.create_time(), _cmdline(proc), how)
    except psutil.Error:
        return


# --------------------------------------------------------------------------- cgroups


def _v2_dirs(dirs: list[str]) -> list[str]:
    """The v2 ones among a run's recorded cgroup directories (only they have cgroup.kill)."""
    return [d for d in dirs if os.path.exists(os.path.join(d, "cgroup.kill"))]


def _agent_dirs(run_dir: str) -> list[tuple[str, str]]:
    try:
        names = sorted(os.listdir(run_dir))
    except OSError:
        return []
    return [
        (name.removeprefix("agent-"), os.path.join(run_dir, name))
        for name in names
        if name.startswith("agent-") and os.path.isdir(os.path.join(run_dir, name))
    ]


def _cgroup_members(dirs: list[str]) -> dict[str, list[int]]:
    members: dict[str, list[int]] = {}
    for run_dir in _v2_dirs(dirs):
        for agent, path in _agent_dirs(run_dir):
            pids = AgentCgroup(path, "", {}, set()).pids()
            if pids:
                members.setdefault(agent, []).extend(pids)
    return members


def leftover_cgroups(
    cgroups: Mapping[str, list[str]], exclude_run: str | None = None
) -> dict[str, list[str]]:
    """The recorded cgroup directories of other runs that still exist: run → directories."""
    return {
        run: existing
        for run, dirs in cgroups.items()
        if run != exclude_run and (existing := [d for d in dirs if os.path.isdir(d)])
    }


def remove_cgroups(dirs: list[str]) -> tuple[list[str], list[str]]:
    """Remove leftover run cgroups with no process left: (removed, still busy)."""
    removed: list[str] = []
    busy: list[str] = []
    for run_dir in dirs:
        for _, path in _agent_dirs(run_dir):
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                busy.append(path)
        try:
            os.rmdir(run_dir)
            removed.append(run_dir)
        except FileNotFoundError:
            pass
        except OSError:
            busy.append(run_dir)
    return removed, busy


async def kill_cgroups(dirs: list[str], grace: float) -> tuple[int, int]:
    """Kill every process in the agents' cgroups of these runs: (processes, survivors)."""
    found = layout()
    groups = []
    for run_dir in _v2_dirs(dirs):
        for _, path in _agent_dirs(run_dir):
            name = found.v2_name(path) if found.v2_mount else ""
            groups.append(AgentCgroup(path, name, {}, set()))
    processes = survivors = 0
    for group in groups:
        report = await kill_cgroup(group, grace)
        processes += report.processes
        survivors += report.survivors
    return processes, survivors
