"""How often the main screen refreshes: 4 Hz while a refresh is cheap, slower when it is not.

A refresh (one snapshot, brought onto every pane, then the changed lines
painted) costs CPU in proportion to the swarm: with 100 agents flooding
(bench/tui_load.py) about 13 ms, which at 4 Hz was 5 % of a core, as much as
the rest of the dashboard and a third of what running the swarm costs. So
the dashboard holds its refreshes to ``CPU_BUDGET`` (3 %) of a core: the next
tick waits as long as the last refreshes cost divided by the budget, never
less than ``REFRESH_SECONDS`` (4 Hz: a small swarm) and never more than
``MAX_REFRESH_SECONDS`` (1 Hz). A busy machine makes refreshes dearer and so
rarer, which is when the swarm needs the CPU most.

Only the timed refresh is paced: keys, the selection and modals act at once.
Something the operator must see soon (``HURRY_KINDS``: a gate waiting or
decided, an operator's action done) pulls the next tick in to
``REFRESH_SECONDS``, at most once per ``HURRY_EVERY_SECONDS``, so a stream of
such events cannot undo the budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from controlroom.models.kinds import EventKind

__all__ = [
    "CPU_BUDGET",
    "HURRY_EVERY_SECONDS",
    "HURRY_KINDS",
    "MAX_REFRESH_SECONDS",
    "WARMUP_REFRESHES",
    "RefreshPace",
]

CPU_BUDGET = 0.03
"""The share of one core the timed refreshes may take (snapshot, apply and paint)."""

MAX_REFRESH_SECONDS = 1.0
"""However dear a refresh, the screen is at most this old."""

HURRY_EVERY_SECONDS = 1.0

HURRY_KINDS = frozenset(
    {
        EventKind.GATE_REQUESTED,
        EventKind.GATE_DECIDED,
        EventKind.GATE_EXPIRED,
        EventKind.KILL_COMPLETED,
        EventKind.OPERATOR_ACTION,
        EventKind.AGENT_PAUSED,
        EventKind.AGENT_RESUMED,
    }
)
"""Events whose effect on screen should not wait for a slow tick."""

_SMOOTHING = 0.5
"""Weight of the newest refresh in the running cost (one slow refresh, a GC pass, halves)."""

WARMUP_REFRESHES = 4
"""Refreshes not counted: the first frames lay out and paint the whole screen (30-40 ms each
at 160 x 48, whatever the swarm), which says nothing about what a refresh costs."""


class RefreshPace:
    """The running cost of a refresh, and the wait before the next one that it allows."""

    def __init__(
        self, budget: float = CPU_BUDGET, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.budget = budget
        self.clock = clock
        self.cost = 0.0  # CPU seconds of one refresh, paint included, smoothed
        self.refreshes = 0
        self.due = 0.0  # when the next tick is armed for (clock time)
        self._paint = 0.0
        self._last_hurry = -math.inf
        self._hurry_next = False  # a refresh was under way when news came: the next one is soon

    def painted(self, seconds: float) -> None:
        """The screen was painted, taking ``seconds`` of CPU (counted to the next refresh)."""
        self._paint += seconds

    def uncovered(self) -> None:
        """The screen is shown again: its whole repaint is no refresh's cost (not counted)."""
        self._paint = -math.inf

    def refreshed(self, seconds: float) -> None:
        """A refresh took ``seconds`` of CPU; the paints since the last one are added to it."""
        cost, self._paint = seconds + max(0.0, self._paint), 0.0
        self.refreshes += 1
        if self.refreshes <= WARMUP_REFRESHES:
            return
        self.cost = cost if self.cost == 0.0 else (1 - _SMOOTHING) * self.cost + _SMOOTHING * cost

    def interval(self, shortest: float) -> float:
        """Seconds to the next tick: the cost over the budget, within [shortest, 1 s]."""
        if self._hurry_next:
            self._hurry_next = False
            return shortest
        return min(MAX_REFRESH_SECONDS, max(shortest, self.cost / self.budget))

    def armed(self, wait: float) -> None:
        """The next tick is armed ``wait`` seconds from now."""
        self.due = self.clock() + wait

    def hurry(self, shortest: float, *, armed: bool) -> bool:
        """News to show soon: True when the armed tick should come in ``shortest`` instead.

        Once per ``HURRY_EVERY_SECONDS``. With no tick armed (a refresh under
        way, whose snapshot may predate the news) the next interval is ``shortest``.
        """
        now = self.clock()
        if now - self._last_hurry < HURRY_EVERY_SECONDS:
            return False
        self._last_hurry = now
        if not armed:
            self._hurry_next = True
            return False
        return self.due - now > shortest
