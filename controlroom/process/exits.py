"""How an agent's process ends: its exit status as soon as it exits, and the signal that ended it.

Kept on the OS side: waiting for an exit must not wait for the pipes a
leftover daemon still holds (Python 3.11's ``Process.wait`` did; ours,
``child.ChildProcess.wait``, does not).
"""

from __future__ import annotations

import signal

from controlroom.process.spawn import AgentProcess

__all__ = ["exit_status", "signal_name"]


async def exit_status(proc: AgentProcess) -> int:
    """The exit status, as soon as the agent's process has exited.

    Not once its pipes are closed: a daemon the agent left behind (it called
    setsid, nobody can find it) may hold them for as long as it lives, and
    the agent is not "running" for that (``ChildProcess.wait``).
    """
    return await proc.process.wait()


def signal_name(returncode: int | None) -> str | None:
    """``SIGTERM`` for a process a signal ended (a negative returncode); None otherwise."""
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"
