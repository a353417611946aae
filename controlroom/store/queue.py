"""The audit writer's queue: events stamped with their run and seq, waiting for a commit.

``push_many`` is on every producer's path: two plain fields written through
``__dict__``, then the event rendered into its ``PendingRow`` (rows.py says why
here, on the loop's thread, and not in the writer's). An event that may still be
withdrawn is queued as itself (``render=False``). The counts it keeps
(appended, committed) are what flushes and back-pressure compare.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from controlroom.models import EventBase
from controlroom.store.rows import PendingRow, pending_row, pending_usage

__all__ = ["EventQueue"]


class EventQueue:
    """The events of one run appended but not yet committed, in seq order."""

    def __init__(self, run_id: str, last_seq: int) -> None:
        self.run_id = run_id
        self.last_seq = last_seq
        self.events: list[PendingRow | EventBase] = []
        self.appended = 0
        self.committed = 0

    @property
    def pending(self) -> int:
        """Events appended but not yet committed."""
        return self.appended - self.committed

    def push_many(self, batch: Sequence[EventBase], render: bool = True) -> int:
        """Stamp each event (run when empty, next seq) and queue it; how many are queued then.

        One call for a whole slice of an agent's output. ``ValueError`` for an
        event of another run or with a timestamp that is not a finite number;
        the events before it stay queued.
        """
        run_id = self.run_id
        isfinite = math.isfinite
        seq = self.last_seq
        stamped = 0
        try:
            for event in batch:
                fields = event.__dict__
                run = fields["run"]
                if not run:
                    fields["run"] = run_id
                elif run != run_id:
                    raise ValueError(
                        f"event of run {run!r} appended to the audit store of run {run_id!r}"
                    )
                if not isfinite(event.ts):
                    raise ValueError(f"event timestamp must be a finite number, not {event.ts!r}")
                seq += 1
                fields["seq"] = seq
                stamped += 1
        finally:
            self.last_seq = seq
            taken = batch[:stamped] if stamped < len(batch) else batch
            self.events.extend(map(pending_row, taken) if render else taken)
            self.appended += stamped
        return len(self.events)

    def take(self, most: int) -> list[PendingRow | EventBase]:
        """The oldest ``most`` queued events, out of the queue (put back if their write fails)."""
        if len(self.events) <= most:
            batch, self.events = self.events, []
        else:
            batch = self.events[:most]
            del self.events[:most]
        return batch

    def put_back(self, batch: list[PendingRow | EventBase]) -> None:
        self.events[:0] = batch

    def done(self, count: int) -> None:
        self.committed += count

    def usage(self) -> tuple[int, float]:
        """Tokens and cost of the ``usage`` events still queued (what a lost batch takes along)."""
        return pending_usage(self.events)
