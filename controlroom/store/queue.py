"""The audit writer's queue: events stamped with their run and seq, waiting for a commit.

``push`` is on every producer's path, so it does the least it can: two plain
fields written through ``__dict__`` and a list append. The counts it keeps
(appended, committed) are what flushes and back-pressure compare.
"""

from __future__ import annotations

import math

from controlroom.models import EventBase, Usage

__all__ = ["EventQueue"]


class EventQueue:
    """The events of one run appended but not yet committed, in seq order."""

    def __init__(self, run_id: str, last_seq: int) -> None:
        self.run_id = run_id
        self.last_seq = last_seq
        self.events: list[EventBase] = []
        self.appended = 0
        self.committed = 0

    @property
    def pending(self) -> int:
        """Events appended but not yet committed."""
        return self.appended - self.committed

    def push(self, event: EventBase) -> int:
        """Stamp ``event`` (run when empty, next seq), queue it, return how many are queued.

        ``ValueError`` for an event of another run or with a timestamp that
        is not a finite number.
        """
        # Stamped through __dict__: both fields are plain (no validator), and this
        # runs once per event on the event loop, where pydantic's setattr is not free.
        fields = event.__dict__
        run = fields["run"]
        if not run:
            fields["run"] = self.run_id
        elif run != self.run_id:
            raise ValueError(
                f"event of run {run!r} appended to the audit store of run {self.run_id!r}"
            )
        if not math.isfinite(event.ts):
            raise ValueError(f"event timestamp must be a finite number, not {event.ts!r}")
        self.last_seq += 1
        fields["seq"] = self.last_seq
        events = self.events
        events.append(event)
        self.appended += 1
        return len(events)

    def take(self, most: int) -> list[EventBase]:
        """The oldest ``most`` queued events, out of the queue (put back if their write fails)."""
        if len(self.events) <= most:
            batch, self.events = self.events, []
        else:
            batch = self.events[:most]
            del self.events[:most]
        return batch

    def put_back(self, batch: list[EventBase]) -> None:
        self.events[:0] = batch

    def done(self, count: int) -> None:
        self.committed += count

    def usage(self) -> tuple[int, float]:
        """Tokens and cost of the ``usage`` events still queued (what a lost batch takes along)."""
        usage = [e for e in self.events if isinstance(e, Usage)]
        return sum(e.total_tokens for e in usage), sum(e.cost_usd for e in usage)
