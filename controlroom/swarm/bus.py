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

The recorder pushes back instead: while it is far behind (``backlogged``),
producers that can wait (the readers of agents' output pipes) ``await
room()``, so a flooding agent is slowed by its own full pipe rather than
the control room's memory growing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from controlroom.models import EventBase
from controlroom.store.redact import Redactor

__all__ = ["EventBus", "EventRecorder", "Subscription"]


class EventRecorder(Protocol):
    """What the bus needs of the audit store."""

    def append(self, event: EventBase) -> int: ...

    async def flush(self) -> None: ...

    @property
    def backlogged(self) -> bool: ...

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
        for listener in self._listeners:
            listener(event)
        for sub in self._subscriptions:
            sub._put(event)
        return event

    async def publish_durable(self, event: EventBase) -> EventBase:
        """Publish and wait until the event is committed: for events that accompany an action."""
        self.publish(event)
        await self._recorder.flush()
        return event

    async def flush(self) -> None:
        await self._recorder.flush()

    @property
    def backlogged(self) -> bool:
        """The recorder is far behind: producers that can wait should ``await room()``."""
        return self._recorder.backlogged

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
