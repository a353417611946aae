"""The event bus: every event is redacted, stamped and recorded first, then fanned out.

Redaction comes first (the audit store's own ``Redactor``: API keys and the
values of every ``secret_env``), in place, so no listener, subscriber or
screen ever holds a secret an agent printed. Recording comes next so that
nothing a subscriber sees can be missing from the audit log. Subscribers
(the headless printer, the control socket, the TUI) each get a bounded
queue: a subscriber that falls behind loses the oldest events it has not
read and is told how many (``Subscription.dropped``), and can catch up from
the store with ``events since seq``; it never slows the supervisor down or
grows memory without bound.

An operator's decision is the exception to "fan out at once":
``publish_committed`` shows it to nobody until it is committed, and if it
cannot be committed, nobody ever sees it (they see the error that replaced
it): a screen must not show an approval the log does not hold.

The recorder pushes back instead: while it is far behind (``backlogged``),
producers that can wait (the readers of agents' output pipes) ``await
room()``, so a flooding agent is slowed by its own full pipe rather than
the control room's memory growing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from controlroom._errors import AuditError
from controlroom.models import EventBase
from controlroom.store.health import StoreHealth
from controlroom.store.redact import Redactor

__all__ = ["EventBus", "EventRecorder", "Subscription"]


class EventRecorder(Protocol):
    """What the bus needs of the audit store."""

    def append(self, event: EventBase) -> int: ...

    def append_many(self, events: Sequence[EventBase]) -> int: ...

    async def flush(self) -> None: ...

    async def commit(
        self, event: EventBase, withdrawn: Callable[[AuditError], EventBase]
    ) -> int: ...

    @property
    def backlogged(self) -> bool: ...

    @property
    def pending(self) -> int: ...

    @property
    def last_seq(self) -> int: ...

    @property
    def error(self) -> AuditError | None: ...

    @property
    def health(self) -> StoreHealth: ...

    async def room(self, timeout: float | None = None) -> bool: ...


class Subscription:
    """A bounded, lossy-at-the-oldest-end queue of events for one subscriber."""

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._items: deque[EventBase] = deque(maxlen=maxsize)
        self._ready = asyncio.Event()
        self.dropped = 0
        self.closed = False

    def _put(self, event: EventBase) -> None:
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(event)
        self._ready.set()

    def _put_many(self, events: Sequence[EventBase]) -> None:
        items = self._items
        maxlen = items.maxlen
        assert maxlen is not None
        over = len(items) + len(events) - maxlen
        if over > 0:
            self.dropped += over
        items.extend(events)
        self._ready.set()

    def drain(self) -> list[EventBase]:
        """Everything queued now, without waiting (for fixed-rate consumers like the TUI)."""
        items = list(self._items)
        self._items.clear()
        self._ready.clear()
        return items

    async def get(self) -> EventBase | None:
        """The next event, or None once the subscription is closed and empty."""
        while not self._items:
            if self.closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def close(self) -> None:
        self.closed = True
        self._ready.set()
        self._bus._unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[EventBase]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[EventBase]:
        while (event := await self.get()) is not None:
            yield event


class EventBus:
    """Redacts, stamps (through the recorder), records, then hands each event to every reader."""

    def __init__(self, recorder: EventRecorder, redactor: Redactor | None = None) -> None:
        self._recorder = recorder
        self.redactor = redactor if redactor is not None else Redactor()
        self._subscriptions: list[Subscription] = []
        self._listeners: list[Callable[[EventBase], None]] = []

    def publish(self, event: EventBase) -> EventBase:
        self.redactor.redact_model(event)
        self._recorder.append(event)
        self._fan_out(event)
        return event

    def publish_many(self, events: Sequence[EventBase]) -> None:
        """``publish`` for a slice of an agent's output: one append, one hand-over per reader.

        Each reader still sees the events in order, and the log holds them in
        the same order; the slice costs one call where a publish each cost one
        per event.
        """
        if not events:
            return
        redact = self.redactor.redact_model
        for event in events:
            redact(event)
        self._recorder.append_many(events)
        for listener in self._listeners:
            for event in events:
                listener(event)
        for sub in self._subscriptions:
            sub._put_many(events)

    async def publish_committed(
        self, event: EventBase, withdrawn: Callable[[AuditError], EventBase]
    ) -> EventBase:
        """Record ``event`` and only then show it; if it cannot be recorded, never.

        For an event that is a decision: the caller carries the decision out
        only after this returns. On failure ``withdrawn(error)`` (an error
        saying what was not done) takes the event's place in the log and is
        shown instead, and the ``AuditError`` is raised.
        """
        self.redactor.redact_model(event)
        shown: list[EventBase] = []

        def instead(error: AuditError) -> EventBase:
            replacement = withdrawn(error)
            self.redactor.redact_model(replacement)
            shown.append(replacement)
            return replacement

        try:
            await self._recorder.commit(event, instead)
        except AuditError:
            for replacement in shown:
                self._fan_out(replacement)
            raise
        self._fan_out(event)
        return event

    def _fan_out(self, event: EventBase) -> None:
        for listener in self._listeners:
            listener(event)
        for sub in self._subscriptions:
            sub._put(event)

    async def publish_durable(self, event: EventBase) -> EventBase:
        """Publish and wait until the event is committed: for events that accompany an action."""
        self.publish(event)
        await self._recorder.flush()
        return event

    async def flush(self) -> None:
        await self._recorder.flush()

    @property
    def failing(self) -> bool:
        """The recorder's last write failed (and no later one has succeeded yet)."""
        return self._recorder.error is not None

    @property
    def backlogged(self) -> bool:
        """The recorder is far behind: producers that can wait should ``await room()``."""
        return self._recorder.backlogged

    @property
    def events_taken(self) -> int:
        """Events of this run handed to the recorder so far (its last seq)."""
        return self._recorder.last_seq

    @property
    def backlog(self) -> int:
        """Events handed to the recorder and not yet committed."""
        return self._recorder.pending

    async def room(self, timeout: float | None = None) -> bool:
        """Wait until the recorder has made room (at once when it is not behind).

        False when ``timeout`` passed first.
        """
        return await self._recorder.room(timeout)

    def listen(self, listener: Callable[[EventBase], None]) -> None:
        """A synchronous listener, called in publish order (keep it cheap)."""
        self._listeners.append(listener)

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        sub = Subscription(self, maxsize)
        self._subscriptions.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def close(self) -> None:
        for sub in list(self._subscriptions):
            sub.close()
