"""An agent's running time: a clock that runs while its process runs and stops while paused.

Pure: every method takes ``now`` (monotonic seconds). ``AgentMeter`` is
built on it, so the governor's wall-time check reads plain attributes on
its hot path.
"""

from __future__ import annotations

__all__ = ["RunClock"]


class RunClock:
    """Seconds running, over all runs, paused time excluded."""

    __slots__ = ("_accumulated", "_running_since", "_paused_since", "_running")

    def __init__(self) -> None:
        self._accumulated = 0.0
        self._running_since: float | None = None  # set while running and not paused
        self._paused_since: float | None = None
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    @property
    def paused(self) -> bool:
        return self._paused_since is not None

    @property
    def ticking(self) -> bool:
        """Running and not paused: wall time is being spent now."""
        return self._running_since is not None

    def start(self, now: float) -> bool:
        """The agent's process started (again): the clock runs. False if it already ran."""
        if self._running:
            return False
        self._running = True
        self._running_since = now
        self._paused_since = None
        return True

    def pause(self, now: float) -> None:
        """The agent was paused (SIGSTOP): its clock stops. No-op unless running."""
        if not self._running or self._paused_since is not None:
            return
        self._accumulate(now)
        self._paused_since = now

    def resume(self, now: float) -> float:
        """The agent was resumed; return how long it was paused (0 if it was not)."""
        paused_since = self._paused_since
        if not self._running or paused_since is None:
            return 0.0
        self._paused_since = None
        self._running_since = now
        return max(0.0, now - paused_since)

    def stop(self, now: float) -> None:
        """The agent's process ended: its clock stops until the next ``start``."""
        if not self._running:
            return
        self._accumulate(now)
        self._running = False
        self._paused_since = None

    def _accumulate(self, now: float) -> None:
        since = self._running_since
        if since is not None:
            self._accumulated += max(0.0, now - since)
            self._running_since = None

    def elapsed(self, now: float) -> float:
        """Seconds the agent has been running, over all its runs, paused time excluded."""
        since = self._running_since
        if since is None or now <= since:
            return self._accumulated
        return self._accumulated + (now - since)
