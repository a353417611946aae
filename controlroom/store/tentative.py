"""Tentative events: an operator's decision, queued for the log but not yet its own.

``AuditStore.commit`` is for an event that *is* an operator's decision
(approve, reject, restart): it must be on disk before the decision takes
effect, and if it cannot be written the decision must not happen, so the
event must not turn up in the log later either (a retried batch would put
it there). Such an event is tentative while queued: the first failed write
that holds it (or anything before it) takes it back, puts the caller's
replacement at its place (same run, seq and time: an ``error`` saying what
was not done and why) and fails the caller's ``commit``; the write that
commits it settles the caller's wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from controlroom._errors import AuditError
from controlroom.models import EventBase
from controlroom.store.rows import PendingRow

__all__ = ["Tentative"]


class Tentative:
    """The tentative events of one store, by identity, each with its caller's wait."""

    def __init__(self) -> None:
        self._events: dict[int, tuple[Callable[[AuditError], EventBase], asyncio.Future[None]]] = {}

    def __bool__(self) -> bool:
        return bool(self._events)

    def add(
        self, event: EventBase, withdrawn: Callable[[AuditError], EventBase]
    ) -> asyncio.Future[None]:
        """Hold ``event`` as tentative; the future settles with the write that holds it."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._events[id(event)] = (withdrawn, done)
        return done

    def committed(self, batch: list[PendingRow | EventBase]) -> None:
        """``batch`` is on disk: the tentative events in it are decisions now."""
        for event in batch:
            held = self._events.pop(id(event), None)
            if held is not None and not held[1].done():
                held[1].set_result(None)

    def withdraw(self, queue: list[PendingRow | EventBase], error: AuditError) -> None:
        """A write failed: every tentative event in ``queue`` is replaced, its caller failed."""
        if not self._events:
            return
        events, self._events = self._events, {}
        for index, event in enumerate(queue):
            held = events.get(id(event))
            if held is None or not isinstance(event, EventBase):
                continue
            replacement = held[0](error)
            fields = replacement.__dict__
            fields["run"], fields["seq"], fields["ts"] = event.run, event.seq, event.ts
            queue[index] = replacement
        for _, done in events.values():
            if not done.done():
                done.set_exception(error)
