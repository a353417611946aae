"""Each agent's recent burn rate, sampled from successive snapshots, for the sparklines.

The supervisor reports only the current ``tokens_per_minute``; the trend is
the dashboard's to remember. One sample per ``every`` seconds of snapshot
time (not per refresh), so the line shows the last minutes whatever the
refresh rate, and a bounded deque per agent keeps memory flat.
"""

from __future__ import annotations

from collections import deque

__all__ = ["BurnHistory"]


class BurnHistory:
    """``samples`` values per agent, one every ``every`` seconds."""

    def __init__(self, samples: int = 16, every: float = 5.0) -> None:
        self.samples = samples
        self.every = every
        self._values: dict[str, deque[float]] = {}
        self._taken_at: dict[str, float] = {}

    def observe(self, agent: str, tokens_per_minute: float, ts: float) -> bool:
        """Record a sample if ``every`` seconds passed since the last; True when recorded."""
        last = self._taken_at.get(agent)
        if last is not None and ts - last < self.every:
            return False
        values = self._values.get(agent)
        if values is None:
            values = self._values[agent] = deque(maxlen=self.samples)
        values.append(max(0.0, tokens_per_minute))
        self._taken_at[agent] = ts
        return True

    def values(self, agent: str) -> tuple[float, ...]:
        return tuple(self._values.get(agent, ()))
