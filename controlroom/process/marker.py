"""The agent's marker: ``CONTROLROOM_RUN`` and ``CONTROLROOM_AGENT`` in every process's environment.

Where no cgroup can be made, the process tree is all the kill switch has,
and a process that double-forks and calls ``setsid`` leaves it. But it keeps
its environment (children inherit it), so one pass over ``/proc/*/environ``
finds every process of an agent that did not scrub its environment
(``env -i`` does: those only a cgroup finds). Read as raw bytes, not through
psutil: a kill pays for this pass over every process on the machine.
"""

from __future__ import annotations

import os

import psutil

__all__ = ["AGENT_KEY", "RUN_KEY", "marked_processes", "scan_markers"]

AGENT_KEY = "CONTROLROOM_AGENT"
RUN_KEY = "CONTROLROOM_RUN"


def _value(environ: bytes, key: bytes) -> bytes | None:
    """``key``'s value in a NUL-separated environment block, or None."""
    prefix = key + b"="
    if environ.startswith(prefix):
        start = len(prefix)
    else:
        at = environ.find(b"\0" + prefix)
        if at < 0:
            return None
        start = at + 1 + len(prefix)
    end = environ.find(b"\0", start)
    return environ[start : end if end >= 0 else None]


def scan_markers(runs: set[str]) -> dict[int, tuple[str, str]]:
    """Every live process whose marker names one of ``runs``: pid → (run, agent).

    Our own process is never included (the control room may have been
    started by an agent of another run, and carry its marker).
    """
    wanted = {run.encode() for run in runs}
    needle = RUN_KEY.encode() + b"="
    me = os.getpid()
    found: dict[int, tuple[str, str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                environ = fh.read()
        except OSError:
            continue
        if needle not in environ:
            continue
        run = _value(environ, RUN_KEY.encode())
        if run is None or run not in wanted:
            continue
        agent = _value(environ, AGENT_KEY.encode()) or b"?"
        found[int(name)] = (run.decode(errors="replace"), agent.decode(errors="replace"))
    return found


def marked_processes(run: str, agent: str) -> list[psutil.Process]:
    """The live processes carrying ``agent``'s marker of ``run`` (identity pinned by psutil)."""
    procs: list[psutil.Process] = []
    for pid, (_, who) in scan_markers({run}).items():
        if who != agent:
            continue
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                procs.append(proc)
        except psutil.Error:
            continue
    return procs
