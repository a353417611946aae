"""Who waits on the audit writer: a flush for its events' commit, a producer for room.

The writer's bookkeeping of futures, apart from the writer's loop: every
waiter is let go exactly once (a result, or the write's error), and a
closing store lets every producer go so none hangs on a dead log.
"""

from __future__ import annotations

import asyncio

from controlroom._errors import AuditError

__all__ = ["CommitWaiters"]


class CommitWaiters:
    """Flushes waiting for a count of committed events; producers waiting for room."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._flushes: list[tuple[int, asyncio.Future[None]]] = []
        self._room: set[asyncio.Future[None]] = set()

    @property
    def flushing(self) -> bool:
        """Someone waits for a commit: the writer should not wait for a fuller batch."""
        return bool(self._flushes)

    @property
    def want_room(self) -> bool:
        return bool(self._room)

    def flush(self, target: int) -> asyncio.Future[None]:
        """A future done once ``target`` events are committed (or failed with the write)."""
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._flushes.append((target, waiter))
        return waiter

    async def room(self, timeout: float | None) -> bool:
        """Wait until ``release_room``; False when ``timeout`` passed first."""
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._room.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return False
        finally:
            self._room.discard(waiter)
        return True

    def committed(self, count: int) -> None:
        """Let go every flush whose events are among the first ``count`` committed."""
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for target, waiter in self._flushes:
            if target > count:
                keep.append((target, waiter))
            elif not waiter.done():
                waiter.set_result(None)
        self._flushes = keep

    def fail(self, error: AuditError) -> None:
        """Every waiting flush raises ``error``."""
        waiters, self._flushes = self._flushes, []
        for _, waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)

    def release_room(self) -> None:
        waiters, self._room = self._room, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
