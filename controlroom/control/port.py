"""How the dashboard reaches a swarm: the control API, in-process or over the socket.

The screens never touch the supervisor: they hold a ``ControlPort`` and use
three things — ``snapshot()`` (everything on screen, a ``SwarmView``),
``call(calls.X(...))`` (a command or query of the control API, its result
typed by the ``Call``; ``ControlError`` when refused) and ``events()`` (every
event as it happens, typed, for alerts and the live log; ``skip`` names the
kinds a reader drops anyway, so they are dropped at the source: the
dashboard skips ``usage``, 2,000 a second from 100 busy agents). ``LocalPort`` wraps
a ``ControlAPI`` in this process and hands over the API's own models (no
JSON round trip); ``RemotePort`` speaks to a control socket and validates
what arrives, once, so the same dashboard attaches to a headless swarm.
This module imports no Textual.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Protocol, TypeVar

from pydantic import ValidationError

from controlroom.control import calls
from controlroom.control.api import ControlAPI
from controlroom.control.calls import Request, check_writable
from controlroom.models.events import Event
from controlroom.models.views import SwarmView

__all__ = ["ControlPort", "LocalPort", "RemotePort"]

R = TypeVar("R")


class ControlPort(Protocol):
    """The dashboard's only way to a swarm."""

    read_only: bool
    description: str

    async def snapshot(self) -> SwarmView: ...

    async def call(self, request: Request[R]) -> R: ...

    def events(self, skip: Collection[str] = ()) -> AsyncIterator[Event]: ...

    async def close(self) -> None: ...


class LocalPort:
    """The control API of a supervisor running in this process."""

    def __init__(self, api: ControlAPI, *, read_only: bool = False) -> None:
        self.api = api
        self.read_only = read_only or api.read_only
        self.description = f"run {api.supervisor.run_id} (in this process)"
        self.events_seen = 0  # events taken in by ``events()`` streams, skipped ones too

    async def snapshot(self) -> SwarmView:
        return self.api.snapshot()

    async def call(self, request: Request[R]) -> R:
        check_writable(self.read_only, request.op)
        return request.parse(await self.api.call(request.op, request.args))

    async def events(self, skip: Collection[str] = ()) -> AsyncIterator[Event]:
        """Every event of the bus in order, but those of a kind in ``skip``.

        Taken a batch at a time (one wake-up for all that arrived meanwhile);
        a skipped event costs one set lookup, no validation and no hand-over.
        ``events_seen`` counts every event the stream took in, skipped or not.
        """
        skipped = frozenset(skip)
        subscription = self.api.subscribe()
        try:
            while (first := await subscription.get()) is not None:
                batch = [first, *subscription.drain()]
                self.events_seen += len(batch)
                for event in batch:
                    if getattr(event, "kind", None) not in skipped:
                        yield calls.EVENT.validate_python(event)
        finally:
            subscription.close()

    async def close(self) -> None:
        return None


class RemotePort:
    """The control API of a swarm running elsewhere, over its unix socket."""

    def __init__(self, socket: Path, *, read_only: bool = False) -> None:
        from controlroom.control.client import AsyncControlClient

        self.client = AsyncControlClient(socket)
        self.read_only = read_only
        self.description = f"attached to {socket}"
        self.unknown_events = 0  # events of a newer peer this version cannot read (skipped)

    async def snapshot(self) -> SwarmView:
        return calls.SNAPSHOT.parse(await self.client.request(calls.SNAPSHOT.op))

    async def call(self, request: Request[R]) -> R:
        check_writable(self.read_only, request.op)
        # Commands may block (a graceful stop waits out grace periods): no client timeout.
        raw = await self.client.request(request.op, request.args, timeout=math.inf)
        return request.parse(raw)

    async def events(self, skip: Collection[str] = ()) -> AsyncIterator[Event]:
        """Each event validated as it arrives; one this version does not know is skipped, counted.

        Views ignore a newer peer's extra fields; an event (strict, as the
        audit log is) cannot, and one unreadable event must not end the stream.
        The server leaves out the kinds in ``skip`` (a server that cannot: here, unvalidated).
        """
        skipped = frozenset(skip)
        async for raw in self.client.subscribe(skipped):
            if raw.get("kind") in skipped:  # an older server sends every kind
                continue
            try:
                yield calls.EVENT.validate_python(raw)
            except ValidationError:
                self.unknown_events += 1

    async def close(self) -> None:
        await self.client.close()
