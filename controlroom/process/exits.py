"""How an agent's process ends: its exit status as soon as it exits, and the signal that ended it.

Kept on the OS side: waiting for an exit must not wait for the pipes a
leftover daemon still holds (Python 3.11's ``Process.wait`` does).
"""

from __future__ import annotations

import asyncio
import signal

from controlroom.process.spawn import AgentProcess

__all__ = ["exit_status", "signal_name"]

_EXIT_POLL_SECONDS = 0.1  # how soon an exit is noticed while something still holds the pipes


async def exit_status(proc: AgentProcess) -> int:
    """The exit status, as soon as the agent's process has exited.

    Not just ``Process.wait()``: on Python 3.11 that also waits until
    every holder of the agent's stdout/stderr has closed it, so a
    daemon the agent left behind (it called setsid, nobody can find
    it) would keep the agent "running" for as long as the daemon lives.
    """
    waiter = asyncio.ensure_future(proc.process.wait())
    while not waiter.done():
        await asyncio.wait({waiter}, timeout=_EXIT_POLL_SECONDS)
        if proc.process.returncode is not None:
            break
    if waiter.done():
        return waiter.result()
    waiter.cancel()
    # Something else still holds its stdin: closing our end lets asyncio finish the
    # transport (its process has exited, so close() signals nothing); no public API.
    transport = getattr(proc.process, "_transport", None)
    if transport is not None:
        transport.close()
    returncode = proc.process.returncode
    assert returncode is not None
    return returncode


def signal_name(returncode: int | None) -> str | None:
    """``SIGTERM`` for a process a signal ended (a negative returncode); None otherwise."""
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"
