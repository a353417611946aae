"""A past run as a control port: the dashboard's screens, read-only, at any instant.

``Timeline`` holds one run's events and a cursor: an instant between the
first event and the last. Everything on screen is the fold of the events up
to the cursor (policy/swarmfold.py), taken at the cursor's time, so the
meters' clocks stand where they stood then. Moving forward folds only the
new events; moving back folds again from the nearest checkpoint (one every
``CHECKPOINT_EVERY`` events), so a long run steps back without refolding it
from the start.

``ReplayPort`` is a ``ControlPort`` over a timeline: ``snapshot()`` is the
fold at the cursor, the ``events`` query stops at the cursor, and every
command is refused, as a read-only API refuses it: a past run cannot be
changed.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
from collections.abc import AsyncIterator, Collection, Sequence
from pathlib import Path
from typing import TypeVar

from controlroom._errors import ControlError
from controlroom.control.calls import Args, Request, check_writable, whole_arg
from controlroom.models import EventBase
from controlroom.models.events import Event
from controlroom.models.views import PingView, SwarmView
from controlroom.policy.swarmfold import SwarmFold
from controlroom.store.replay import run_events

__all__ = ["CHECKPOINT_EVERY", "ReplayPort", "Timeline"]

R = TypeVar("R")

CHECKPOINT_EVERY = 500
"""Events between two saved folds (a step back refolds at most this many)."""


class Timeline:
    """A run's events and the replay's cursor (an instant, epoch seconds)."""

    def __init__(self, run: str, events: Sequence[EventBase]) -> None:
        self.run = run
        self.events = list(events)
        self._times = [e.ts for e in events]
        self.start = events[0].ts if events else 0.0
        self.end = events[-1].ts if events else 0.0
        self.at = self.start
        self._fold = SwarmFold()
        self._folded = 0  # how many events self._fold holds
        self._checkpoints: dict[int, SwarmFold] = {0: copy.deepcopy(self._fold)}

    @classmethod
    def load(cls, db: Path, run: str | None = None) -> Timeline:
        """The run ``run`` (default: the newest) of the audit file ``db``, cursor at its start."""
        chosen, events = run_events(db, run)
        timeline = cls(chosen, events)
        timeline.seek(timeline.start)
        return timeline

    # ------------------------------------------------------------------ the cursor

    @property
    def index(self) -> int:
        """How many events have happened at the cursor (those with ``ts <= at``)."""
        return bisect.bisect_right(self._times, self.at)

    def seek(self, at: float) -> None:
        """Move the cursor to ``at`` (kept within the run)."""
        self.at = min(max(at, self.start), self.end)

    def step(self, events: int) -> None:
        """Move by ``events`` events (negative: back): the cursor lands on that event's time."""
        if not self.events:
            return
        target = min(max(self.index + events, 1), len(self.events))
        self.at = self._times[target - 1]

    def current(self) -> EventBase | None:
        """The last event that has happened at the cursor."""
        index = self.index
        return self.events[index - 1] if index else None

    def upto(self) -> list[EventBase]:
        """Every event that has happened at the cursor, oldest first."""
        return self.events[: self.index]

    # ------------------------------------------------------------------ the picture

    def fold(self) -> SwarmFold:
        """The fold of every event up to the cursor."""
        index = self.index
        if index < self._folded:
            base = max(k for k in self._checkpoints if k <= index)
            self._fold, self._folded = copy.deepcopy(self._checkpoints[base]), base
        for position in range(self._folded, index):
            self._fold.apply(self.events[position])
            if (position + 1) % CHECKPOINT_EVERY == 0 and position + 1 not in self._checkpoints:
                self._checkpoints[position + 1] = copy.deepcopy(self._fold)
        self._folded = index
        return self._fold

    def snapshot(self) -> SwarmView:
        """What the dashboard showed at the cursor: the live API's ``SwarmView``."""
        return self.fold().view(self.at)


class ReplayPort:
    """The dashboard's port onto a timeline: looks work, commands are refused."""

    read_only = True

    def __init__(self, timeline: Timeline, db: Path) -> None:
        self.timeline = timeline
        self.description = f"replay of run {timeline.run} ({db})"
        self._closed = asyncio.Event()

    async def snapshot(self) -> SwarmView:
        return self.timeline.snapshot()

    async def call(self, request: Request[R]) -> R:
        check_writable(True, request.op)  # the one read-only refusal: a past run cannot be changed
        return request.parse(self._answer(request.op, request.args))

    def _answer(self, op: str, args: Args) -> object:
        if op == "snapshot":
            return self.timeline.snapshot()
        if op == "ping":
            swarm = self.timeline.fold().swarm
            return PingView(swarm=swarm, run=self.timeline.run, read_only=True)
        if op == "gates":
            return self.timeline.snapshot().gates
        if op == "handoffs":
            return self.timeline.snapshot().handoffs
        if op == "events":
            return self._events(args)
        raise ControlError(f"{op!r} is not available in a replay")

    def _events(self, args: Args) -> list[EventBase]:
        since, limit = whole_arg(args, "since", 0), min(whole_arg(args, "limit", 1000), 10_000)
        shown = [e for e in self.timeline.upto() if e.seq > since]
        return shown[-limit:] if args.get("newest") else shown[:limit]

    async def events(self, skip: Collection[str] = ()) -> AsyncIterator[Event]:
        """Nothing happens live in a past run: the stream ends when the port closes."""
        await self._closed.wait()
        return
        yield  # an async generator that yields nothing

    async def close(self) -> None:
        self._closed.set()
