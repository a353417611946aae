"""The audit store's writer: append now, commit in batches, chain every row.

``append`` (``append_many`` for a whole slice of an agent's output, at one
call's cost) stamps each event's run and seq, puts it on a list and returns;
it never waits. A writer task commits what is queued in one transaction per
batch, as soon as ``BATCH_EVENTS`` (2,000) are waiting or the oldest has waited
250 ms (``pacing.py`` says why), or at once when someone flushes. Events that
accompany an action (a kill, a gate decision, a budget stop) go through
``append_and_flush``, which returns only once they are on disk.

Each row's hash is ``sha256(prev_hash + payload)`` over the redacted
canonical JSON; ``chain_head`` is updated in the same transaction, so the
chain and its head can never disagree, and the chain continues across runs.
A batch is ONE call into the writer's own thread (batch.py says why not
aiosqlite).

Back-pressure: while more than ``HIGH_WATER_EVENTS`` events are appended
but not committed, ``backlogged`` is true and ``room()`` waits until the
writer has caught up: the reader stops taking a flooding agent's output, so
its pipe fills and its own writes block; memory stays bounded, nothing is
dropped, and the agents slow to what the log can take.

A failed write keeps the batch queued, makes ``flush`` raise ``AuditError``
and is retried: events are never dropped silently. ``commit`` is for an
event that *is* an operator's decision: committed, or taken back out of the
queue with an error in its place (``tentative.py``).

Append only from the event loop's thread. An event is rendered into its row as
it is appended (rows.py says why); a decision waits as itself: do not mutate it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType

from controlroom._errors import AuditError
from controlroom.models import EventBase
from controlroom.store.anchor import anchor_line, append_anchor
from controlroom.store.batch import disk_full
from controlroom.store.checkpoint import Checkpointer
from controlroom.store.connection import ChainHead
from controlroom.store.health import StoreHealth
from controlroom.store.opening import Opened, open_for_run
from controlroom.store.pacing import (
    BATCH_EVENTS,
    HIGH_WATER_EVENTS,
    MAX_BATCH_EVENTS,
    MAX_DELAY_SECONDS,
    PROBE_SECONDS,
    RETRY_SECONDS,
    STALL_SECONDS,
)
from controlroom.store.queue import EventQueue
from controlroom.store.redact import Redactor
from controlroom.store.tentative import Tentative
from controlroom.store.waiters import CommitWaiters

__all__ = ["BATCH_EVENTS", "HIGH_WATER_EVENTS", "MAX_DELAY_SECONDS", "AuditStore"]


class AuditStore:
    """An append-only, hash-chained SQLite audit log, written by one run at a time.

    Open it with ``await AuditStore.open(path, run_id, secrets)``; close it
    with ``await store.close()`` (or ``async with``). While it is open the
    database's run lock is held: another writer is refused.
    """

    def __init__(self, opened: Opened, redactor: Redactor) -> None:
        path = self._path = opened.path
        self._run_id = opened.run_id
        self._lock = opened.lock
        self._thread = opened.thread
        self._writer = opened.writer
        self._head = opened.head
        self._redactor = redactor
        self._loop = asyncio.get_running_loop()
        self._queue = EventQueue(opened.run_id, opened.last_seq)
        self._first_queued_at = 0.0
        self._max_delay, self._batch_events = MAX_DELAY_SECONDS, BATCH_EVENTS
        self._high_water = HIGH_WATER_EVENTS
        self._waiting = CommitWaiters(self._loop)
        self._tentative = Tentative()
        self.health = StoreHealth()
        self._kick = asyncio.Event()
        self._error: AuditError | None = None
        self._closing = False
        self._closed = False
        self._checkpointer = Checkpointer(path)
        self._anchor_file: Path | None = None
        self._task = asyncio.create_task(self._run(), name=f"audit writer {path.name}")
        self._task.add_done_callback(self._writer_ended)

    # ------------------------------------------------------------------ opening

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        run_id: str,
        secrets: Iterable[str] = (),
        *,
        busy_timeout: float = 5.0,
        max_delay: float = MAX_DELAY_SECONDS,
        batch_events: int = BATCH_EVENTS,
        high_water: int = HIGH_WATER_EVENTS,
        anchor_file: str | os.PathLike[str] | None = None,
    ) -> AuditStore:
        """Open (creating and migrating if needed) ``path`` for writing as run ``run_id``.

        With ``anchor_file``, ``close`` appends the head it committed last to
        that file (``store.anchor``): the writer's own record of the chain, not
        what the database file says by then.

        Raises ``StoreLockedError`` when another process (or another store in
        this one) writes the database, and ``AuditError`` when it is not an
        audit database this version can write.
        """
        if not run_id:
            raise ValueError("run_id must not be empty")
        redactor = Redactor(secrets)
        opened = await open_for_run(Path(path), run_id, busy_timeout)
        store = cls(opened, redactor)
        store._max_delay, store._batch_events = max_delay, batch_events
        store._high_water = high_water
        store._anchor_file = None if anchor_file is None else Path(anchor_file)
        return store

    async def __aenter__(self) -> AuditStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ state

    @property
    def path(self) -> Path:
        return self._path

    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    def last_seq(self) -> int:
        """The seq given to the most recently appended event of this run."""
        return self._queue.last_seq

    @property
    def pending(self) -> int:
        """Events appended but not yet committed."""
        return self._queue.pending

    @property
    def backlogged(self) -> bool:
        """More than the high-water mark of events await their commit: ``room()`` would wait."""
        return self._queue.pending > self._high_water

    @property
    def head(self) -> ChainHead:
        """The last committed row's id and hash."""
        return self._head

    @property
    def error(self) -> AuditError | None:
        """The last write failure, until a later write succeeds."""
        return self._error

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------------ writing

    def append(self, event: EventBase) -> int:
        """Queue ``event`` for writing and return its seq; never blocks.

        Stamps ``event.run`` (when empty) and ``event.seq``. Raises
        ``AuditError`` once the store is closing, ``ValueError`` for an event
        of another run or with a timestamp that is not a finite number.
        """
        return self.append_many((event,))

    def append_many(self, events: Sequence[EventBase], render: bool = True) -> int:
        """``append`` for a slice of events at one call's cost; those before a refused one stay.

        Each event is rendered now (``render=False`` only for a tentative one,
        which may be replaced before it is written).
        """
        if self._closing:
            kinds = ", ".join(repr(getattr(e, "kind", type(e).__name__)) for e in events)
            raise AuditError(f"audit store {self._path} is closed; cannot append {kinds}")
        queue = self._queue
        was = len(queue.events)
        try:
            queue.push_many(events, render)
        finally:
            if not was and queue.events:
                self._first_queued_at = self._loop.time()
                self._kick.set()
            elif len(queue.events) >= self._batch_events:
                self._kick.set()
        return queue.last_seq

    async def room(self, timeout: float | None = None) -> bool:
        """Wait, while backlogged, for the writer's next commit that leaves room; True then.

        For producers that can wait (the reader of agents' pipes): waiting
        here pushes back on a flooding agent. True at once when there is room,
        or the store is closing or its writer stopped (never hang on a dead
        store); False when ``timeout`` passed first. One commit lets every
        waiter go (fair to all; the backlog passes the mark by at most one
        step of each). A failing database keeps them waiting.
        """
        if not self.backlogged or self._closing or self._task.done():
            return True
        return await self._waiting.room(timeout)

    async def flush(self) -> None:
        """Return once every event appended before this call is committed.

        Raises ``AuditError`` if the write failed (the events stay queued and
        are retried; a later ``flush`` succeeds once the database recovers).
        """
        target = self._queue.appended
        if self._queue.committed >= target:
            return
        if self._task.done():
            raise self._error or AuditError(f"the audit writer of {self._path} has stopped")
        waiter = self._waiting.flush(target)
        self._kick.set()
        await waiter

    async def append_and_flush(self, event: EventBase) -> int:
        """Append ``event`` and wait until it (and all before it) is committed."""
        seq = self.append(event)
        await self.flush()
        return seq

    async def commit(self, event: EventBase, withdrawn: Callable[[AuditError], EventBase]) -> int:
        """Append ``event`` and return its seq once it is committed, or take it back.

        If the write that holds it fails, ``event`` is never written: the
        event ``withdrawn(error)`` returns takes its place in the queue (and
        its seq), and this raises that ``AuditError``.
        """
        seq = self.append_many((event,), render=False)
        done = self._tentative.add(event, withdrawn)
        self._kick.set()
        await done
        return seq

    async def close(self) -> None:
        """Flush, stop the writer, close the database and release the run lock.

        Raises ``AuditError`` naming how many events were lost if the final
        flush failed; the lock is released either way.
        """
        if self._closed:
            return
        self._closing = True
        self._waiting.release_room()
        failure: AuditError | None = None
        try:
            await self.flush()
        except AuditError as exc:
            tokens, cost = self._queue.usage()
            lacks = f", with {tokens:,} tokens and ${cost:.4f} of usage the log now lacks"
            failure = AuditError(
                f"{self.pending} audit events could not be written to {self._path}"
                f"{lacks if tokens or cost else ''}: {exc}"
            )
        finally:
            self._closed = True
            self._kick.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            try:
                await asyncio.to_thread(self._checkpointer.stop)
                # Queued behind any write still under way in the writer's thread.
                await self._loop.run_in_executor(self._thread, self._writer.close)
                self._thread.shutdown(wait=True)  # the thread is idle: this joins at once
            finally:
                self._lock.release()
        if self._anchor_file is not None:
            line = anchor_line(self._head, self._path, time.time())
            try:
                await asyncio.to_thread(append_anchor, self._anchor_file, line)
            except AuditError as exc:
                failure = exc if failure is None else AuditError(f"{failure}; {exc}")
        if failure is not None:
            raise failure

    # ------------------------------------------------------------------ the writer task

    async def _run(self) -> None:
        loop = self._loop
        while True:
            if not self._queue.events:
                self._kick.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(PROBE_SECONDS):
                        await self._kick.wait()
                if not self._queue.events:
                    await self._probe()  # a quiet log is checked too: a deletion is noticed
                continue
            urgent = self._waiting.flushing or self._tentative  # an action waits on it
            if not urgent and len(self._queue.events) < self._batch_events:
                delay = self._first_queued_at + self._max_delay - loop.time()
                if delay > 0:
                    self._kick.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._kick.wait()
                    continue
            await self._write_next_batch()

    async def _write_next_batch(self) -> None:
        batch = self._queue.take(MAX_BATCH_EVENTS)
        attempt = self._loop.run_in_executor(
            self._thread, self._writer.commit, batch, self._redactor, self._head
        )
        try:
            self._head = await self._answer(attempt)
        except Exception as exc:
            self._queue.put_back(batch)
            await self._failed(exc)
            return
        if self._tentative:
            self._tentative.committed(batch)
        self._queue.done(len(batch))
        self._checkpointer.poke()  # it copies the log into the database once it is big enough
        self._error = None
        self._waiting.committed(self._queue.committed)
        if self._waiting.want_room and not self.backlogged:
            self._waiting.release_room()
        if self.health.trouble is not None:
            await self._probe()

    async def _answer(self, attempt: asyncio.Future[ChainHead]) -> ChainHead:
        """The write's result; a write that does not return in time is trouble meanwhile."""
        done, _ = await asyncio.wait({attempt}, timeout=STALL_SECONDS)
        if not done:
            self.health.failing(
                AuditError(
                    f"the audit database {self._path} has not answered a write for "
                    f"{STALL_SECONDS:g} s"
                )
            )
        return await attempt

    async def _failed(self, exc: Exception) -> None:
        """A write failed: the swarm hears first, then decisions are refused, then a retry."""
        if isinstance(exc, AuditError):
            self._error = exc
        else:
            self._error = AuditError(f"cannot write to audit database {self._path}: {exc}")
        self.health.failing(self._error)  # watchers freeze the swarm, now
        self._tentative.withdraw(self._queue.events, self._error)
        self._waiting.fail(self._error)
        if disk_full(exc):
            spent = await self._loop.run_in_executor(self._thread, self._writer.spend_reserve)
            if spent:
                return  # tried again at once, in the room the reserve held
        await asyncio.sleep(RETRY_SECONDS)

    async def _probe(self) -> None:
        """Is the log sound? Trouble starts when its file is gone, ends once its reserve is back."""
        restore = self.health.trouble is not None
        try:
            sound = await self._loop.run_in_executor(self._thread, self._writer.probe, restore)
        except AuditError as exc:
            self._error = exc
            self.health.failing(exc)
            return
        if restore and sound and self._error is None:
            self.health.recovered()

    def _writer_ended(self, task: asyncio.Task[None]) -> None:
        """If the writer dies of a bug, waiting flushes fail instead of hanging."""
        self._waiting.release_room()
        if task.cancelled() and self._closed:
            return
        exc = None if task.cancelled() else task.exception()
        self._error = AuditError(f"the audit writer of {self._path} stopped: {exc!r}")
        self._tentative.withdraw(self._queue.events, self._error)
        self._waiting.fail(self._error)
