"""Which events are worth an operator's attention, and how often: pure, no I/O.

``notice_of`` names the notice an event stands for (``budget_stop`` for a
``budget_exceeded``…). Three notices need the swarm's state as well, and the
notifier decides them: ``gate_waiting`` fires when a gate has waited
``after_seconds`` and is still pending, ``crash`` also for a failed exit no
stop asked for, and ``swarm_finished`` once every agent has ended. ``Quiet`` is the
de-duplication: after a notice, the same kind for the same agent stays
quiet for ``min_interval_seconds`` (a looping agent pages once, not twenty
times).
"""

from __future__ import annotations

from controlroom.models import (
    AgentCrashed,
    BreakerOpened,
    BudgetExceeded,
    BudgetWarning,
    CollisionFound,
    EventBase,
    Notice,
    NotifyEventName,
    OrphanFound,
)
from controlroom.text import notice_text

__all__ = ["Quiet", "make_notice", "notice_of"]

_NOTICES: dict[type[EventBase], NotifyEventName] = {
    BudgetWarning: "budget_warning",
    BudgetExceeded: "budget_stop",
    BreakerOpened: "breaker_open",
    AgentCrashed: "crash",
    OrphanFound: "orphan_found",
    CollisionFound: "collision",
}


def notice_of(event: EventBase) -> NotifyEventName | None:
    """The notice ``event`` stands for by itself, or None."""
    return _NOTICES.get(type(event))


class Quiet:
    """When each (entry, notice, agent) last notified, to keep ``min_interval_seconds``."""

    def __init__(self) -> None:
        self._last: dict[tuple[int, str, str], float] = {}

    def allows(
        self, entry: int, notice: str, agent: str | None, now: float, interval: float
    ) -> bool:
        """True (and remembered) unless the same was notified less than ``interval`` ago."""
        key = (entry, notice, agent or "")
        last = self._last.get(key)
        if last is not None and now - last < interval:
            return False
        self._last[key] = now
        return True


def make_notice(
    swarm: str,
    run: str,
    notice: NotifyEventName,
    event: EventBase,
    waited: float | None = None,
) -> Notice:
    """The notification's body, from the (already redacted) event it tells of."""
    fields = event.model_dump(mode="json", exclude={"run"})
    return Notice(
        notice=notice,
        swarm=swarm,
        run=run,
        agent=event.agent,
        text=notice_text(swarm, notice, event, waited),
        ts=event.ts,
        seq=event.seq,
        waited_seconds=None if waited is None else round(waited, 3),
        event=fields,
    )
