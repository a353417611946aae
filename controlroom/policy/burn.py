"""Burn rates: tokens, dollars and turns per minute over a sliding 60 s window.

One-second buckets, so sliding the window is O(1) amortised on a meter's
hot path; a window younger than a minute is measured over its true age
(floored at one bucket, so a first burst projects no absurd rate).
"""

from __future__ import annotations

from collections import deque

__all__ = ["BUCKET_SECONDS", "WINDOW_SECONDS", "BurnWindow"]

WINDOW_SECONDS = 60.0
"""Burn rates are measured over this sliding window."""

BUCKET_SECONDS = 1.0
"""Events less than this far apart share one window bucket (the window's resolution)."""

_MINUTE = 60.0


class BurnWindow:
    """What was spent in the last ``WINDOW_SECONDS``, bucketed by second."""

    __slots__ = ("_buckets", "_tokens", "_cost", "_turns", "origin")

    def __init__(self) -> None:
        # [opened_at, tokens, cost, turns] per bucket
        self._buckets: deque[list[float]] = deque()
        self._tokens = 0.0
        self._cost = 0.0
        self._turns = 0.0
        self.origin: float | None = None  # when metering began, for young windows

    def add(self, now: float, tokens: int, cost: float, turns: int) -> None:
        buckets = self._buckets
        if buckets and now - buckets[-1][0] < BUCKET_SECONDS:
            last = buckets[-1]
            last[1] += tokens
            last[2] += cost
            last[3] += turns
        else:
            buckets.append([now, tokens, cost, turns])
            if buckets[0][0] <= now - WINDOW_SECONDS:
                self._slide(now)
            if self.origin is None:
                self.origin = now
        self._tokens += tokens
        self._cost += cost
        self._turns += turns

    def clear(self) -> None:
        """Forget what was spent (the wire's figures replace the agent's own)."""
        self._buckets.clear()
        self._tokens = self._cost = self._turns = 0.0

    def _slide(self, now: float) -> None:
        """Drop buckets opened WINDOW_SECONDS or more before ``now``."""
        buckets = self._buckets
        horizon = now - WINDOW_SECONDS
        while buckets and buckets[0][0] <= horizon:
            _, tokens, cost, turns = buckets.popleft()
            self._tokens -= tokens
            self._cost -= cost
            self._turns -= turns
        if not buckets:  # no float residue once the window is empty
            self._tokens = self._cost = self._turns = 0.0

    def _span(self, now: float) -> float:
        """Seconds the window covers: 60, or less while metering is younger than that."""
        origin = self.origin
        if origin is None:
            return WINDOW_SECONDS
        return max(BUCKET_SECONDS, min(WINDOW_SECONDS, now - origin))

    def per_minute(self, now: float) -> tuple[float, float, float]:
        """(tokens, USD, turns) per minute over the window ending at ``now``."""
        self._slide(now)
        scale = _MINUTE / self._span(now)
        return self._tokens * scale, self._cost * scale, self._turns * scale
