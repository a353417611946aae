"""The audit store's writer: append now, commit in batches, chain every row.

``append`` is what producers call for every event: it stamps the event's run
and seq, puts it on a list and returns; it never waits. A writer task commits
what is queued in one transaction per batch, as soon as ``BATCH_EVENTS``
(250) are waiting or the oldest has waited 50 ms, or at once when someone
flushes.
Events that accompany an action (a kill, a gate decision, a budget stop) go
through ``append_and_flush``, which returns only once they are on disk.

Each row's hash is ``sha256(prev_hash + payload)`` over the redacted
canonical JSON; ``chain_head`` is updated in the same transaction, so the
chain and its head can never disagree, and the chain continues across runs.

Serialising, redacting and hashing a batch runs inside aiosqlite's worker
thread, not on the event loop: the rows are handed to ``executemany`` as a
generator, which sqlite3 consumes in that thread (aiosqlite has no public
"run this function in your thread" call; this stays on its public API).
A failed write keeps the batch queued, makes ``flush`` raise ``AuditError``
and is retried: events are never dropped silently.

Call ``append`` only from the event loop's thread, and do not mutate an
event after appending it: it is serialised later, in the writer's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from controlroom._errors import AuditError
from controlroom.models import EventBase
from controlroom.store.connection import ChainHead, Checkpointer, RunLock, prepare_for_write
from controlroom.store.redact import Redactor, canonical_dumps

__all__ = ["BATCH_EVENTS", "MAX_DELAY_SECONDS", "AuditStore"]

BATCH_EVENTS = 250
"""A batch is written as soon as this many events are queued.

Smaller than it could be on purpose: a ``flush`` waits for everything queued
before it, so the queue's size is its latency (about 15 µs per event). 250
keeps that to a few milliseconds at 20,000 events/s; throughput does not
suffer, because a writer that is busy finds bigger batches waiting anyway.
"""

MAX_DELAY_SECONDS = 0.050
"""…or as soon as the oldest queued event has waited this long."""

MAX_BATCH_EVENTS = 5_000
"""Upper bound of one transaction when the writer has fallen behind."""

CHECKPOINT_EVENTS = 2_000
"""Poke the checkpointer after this many committed events (about 1 MB of log)."""

RETRY_SECONDS = 0.2
"""Pause before a failed batch is tried again."""

_INSERT = (
    "INSERT INTO events (id, run, seq, ts, agent, kind, payload, prev_hash, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SET_HEAD = "INSERT OR REPLACE INTO chain_head (one, last_id, hash) VALUES (1, ?, ?)"

Row = tuple[int, str, int, float, str | None, str, str, str, str]


def _dump(event: EventBase) -> dict[str, Any]:
    """The event as JSON data; never raises, so one odd event cannot block the log."""
    try:
        return event.model_dump(mode="json")
    except Exception:  # a value pydantic cannot serialise, e.g. in an ``extra`` dict
        pass
    try:
        return event.model_dump(mode="json", fallback=repr)
    except Exception:
        return {
            "run": event.run,
            "seq": event.seq,
            "ts": event.ts,
            "agent": event.agent,
            "kind": str(getattr(event, "kind", "unknown")),
            "unserializable": repr(event),
        }


def _encodable(payload: str) -> str:
    """Lone surrogates (not valid UTF-8) become their JSON ``\\uXXXX`` escapes."""
    return payload.encode("utf-8", "backslashreplace").decode("utf-8")


class _ChainTail:
    """Where the chain ends after the rows generated so far (committed or not)."""

    __slots__ = ("hash", "last_id")

    def __init__(self, head: ChainHead) -> None:
        self.last_id = head.last_id
        self.hash = head.hash


def _chain_rows(events: list[EventBase], redactor: Redactor, tail: _ChainTail) -> Iterator[Row]:
    """Serialise, redact and hash ``events`` into rows, advancing ``tail``.

    A generator: it runs wherever it is consumed, i.e. in the database thread.
    """
    dumped = [_dump(event) for event in events]
    payloads = [canonical_dumps(data) for data in dumped]
    for index in redactor.redact_batch(payloads):
        # The indexed columns must agree with the stored (redacted) payload.
        dumped[index] = json.loads(payloads[index])
    row_id, prev = tail.last_id, tail.hash
    sha256 = hashlib.sha256
    for data, payload in zip(dumped, payloads, strict=True):
        try:
            digest = sha256((prev + payload).encode()).hexdigest()
        except UnicodeEncodeError:
            payload = _encodable(payload)
            digest = sha256((prev + payload).encode()).hexdigest()
        row_id += 1
        yield (
            row_id,
            data["run"],
            data["seq"],
            data["ts"],
            data["agent"],
            data["kind"],
            payload,
            prev,
            digest,
        )
        prev = digest
        tail.last_id, tail.hash = row_id, digest


class AuditStore:
    """An append-only, hash-chained SQLite audit log, written by one run at a time.

    Open it with ``await AuditStore.open(path, run_id, secrets)``; close it
    with ``await store.close()`` (or ``async with``). While it is open the
    database's run lock is held: another writer is refused.
    """

    def __init__(
        self,
        path: Path,
        run_id: str,
        lock: RunLock,
        conn: aiosqlite.Connection,
        head: ChainHead,
        last_seq: int,
        redactor: Redactor,
    ) -> None:
        self._path = path
        self._run_id = run_id
        self._lock = lock
        self._conn = conn
        self._head = head
        self._seq = last_seq
        self._redactor = redactor
        self._loop = asyncio.get_running_loop()
        self._pending: list[EventBase] = []
        self._first_queued_at = 0.0
        self._max_delay = MAX_DELAY_SECONDS
        self._batch_events = BATCH_EVENTS
        self._appended = 0
        self._committed = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._kick = asyncio.Event()
        self._error: AuditError | None = None
        self._closing = False
        self._closed = False
        self._checkpointer = Checkpointer(path)
        self._since_checkpoint = 0
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
    ) -> AuditStore:
        """Open (creating and migrating if needed) ``path`` for writing as run ``run_id``.

        Raises ``StoreLockedError`` when another process (or another store in
        this one) writes the database, and ``AuditError`` when it is not an
        audit database this version can write.
        """
        if not run_id:
            raise ValueError("run_id must not be empty")
        db = Path(path)
        redactor = Redactor(secrets)
        lock = RunLock.acquire(db, run_id)
        try:
            start = await asyncio.to_thread(prepare_for_write, db, run_id)
            conn = await aiosqlite.connect(db, timeout=busy_timeout)
            try:
                await conn.execute("PRAGMA synchronous = NORMAL")
                await conn.execute("PRAGMA wal_autocheckpoint = 0")  # see Checkpointer
            except BaseException:
                await conn.close()
                raise
            store = cls(db, run_id, lock, conn, start.head, start.last_seq, redactor)
        except sqlite3.Error as exc:
            lock.release()
            raise AuditError(f"cannot open audit database {db}: {exc}") from None
        except BaseException:
            lock.release()
            raise
        store._max_delay = max_delay
        store._batch_events = batch_events
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
        return self._seq

    @property
    def pending(self) -> int:
        """Events appended but not yet committed."""
        return self._appended - self._committed

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
        if self._closing:
            kind = getattr(event, "kind", type(event).__name__)
            raise AuditError(f"audit store {self._path} is closed; cannot append {kind!r}")
        if not event.run:
            event.run = self._run_id
        elif event.run != self._run_id:
            raise ValueError(
                f"event of run {event.run!r} appended to the audit store of run {self._run_id!r}"
            )
        if not math.isfinite(event.ts):
            raise ValueError(f"event timestamp must be a finite number, not {event.ts!r}")
        self._seq += 1
        event.seq = self._seq
        pending = self._pending
        pending.append(event)
        self._appended += 1
        queued = len(pending)
        if queued == 1:
            self._first_queued_at = self._loop.time()
            self._kick.set()
        elif queued >= self._batch_events:
            self._kick.set()
        return self._seq

    async def flush(self) -> None:
        """Return once every event appended before this call is committed.

        Raises ``AuditError`` if the write failed (the events stay queued and
        are retried; a later ``flush`` succeeds once the database recovers).
        """
        target = self._appended
        if self._committed >= target:
            return
        if self._task.done():
            raise self._error or AuditError(f"the audit writer of {self._path} has stopped")
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append((target, waiter))
        self._kick.set()
        await waiter

    async def append_and_flush(self, event: EventBase) -> int:
        """Append ``event`` and wait until it (and all before it) is committed."""
        seq = self.append(event)
        await self.flush()
        return seq

    async def close(self) -> None:
        """Flush, stop the writer, close the database and release the run lock.

        Raises ``AuditError`` naming how many events were lost if the final
        flush failed; the lock is released either way.
        """
        if self._closed:
            return
        self._closing = True
        failure: AuditError | None = None
        try:
            await self.flush()
        except AuditError as exc:
            failure = AuditError(
                f"{self.pending} audit events could not be written to {self._path}: {exc}"
            )
        finally:
            self._closed = True
            self._kick.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            try:
                await asyncio.to_thread(self._checkpointer.stop)
                await self._conn.close()  # the last connection out checkpoints the rest
            finally:
                self._lock.release()
        if failure is not None:
            raise failure

    # ------------------------------------------------------------------ the writer task

    async def _run(self) -> None:
        loop = self._loop
        while True:
            if not self._pending:
                self._kick.clear()
                await self._kick.wait()
                continue
            if not self._waiters and len(self._pending) < self._batch_events:
                delay = self._first_queued_at + self._max_delay - loop.time()
                if delay > 0:
                    self._kick.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._kick.wait()
                    continue
            await self._write_next_batch()

    async def _write_next_batch(self) -> None:
        batch = self._pending[:MAX_BATCH_EVENTS]
        del self._pending[:MAX_BATCH_EVENTS]
        try:
            self._head = await self._write(batch)
        except Exception as exc:
            self._pending[:0] = batch
            self._error = AuditError(f"cannot write to audit database {self._path}: {exc}")
            self._release_waiters(self._error)
            await asyncio.sleep(RETRY_SECONDS)
            return
        self._committed += len(batch)
        self._since_checkpoint += len(batch)
        if self._since_checkpoint >= CHECKPOINT_EVENTS:
            self._since_checkpoint = 0
            self._checkpointer.poke()
        self._error = None
        self._release_waiters(None)

    async def _write(self, batch: list[EventBase]) -> ChainHead:
        """One transaction: the batch's rows and the new chain head."""
        tail = _ChainTail(self._head)
        try:
            await self._conn.executemany(_INSERT, _chain_rows(batch, self._redactor, tail))
            await self._conn.execute(_SET_HEAD, (tail.last_id, tail.hash))
            await self._conn.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                await self._conn.rollback()
            raise
        return ChainHead(tail.last_id, tail.hash)

    def _release_waiters(self, error: AuditError | None) -> None:
        if error is not None:
            waiters, self._waiters = self._waiters, []
            for _, waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            return
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for target, waiter in self._waiters:
            if target > self._committed:
                keep.append((target, waiter))
            elif not waiter.done():
                waiter.set_result(None)
        self._waiters = keep

    def _writer_ended(self, task: asyncio.Task[None]) -> None:
        """If the writer dies of a bug, waiting flushes fail instead of hanging."""
        if task.cancelled() and self._closed:
            return
        exc = None if task.cancelled() else task.exception()
        self._error = AuditError(f"the audit writer of {self._path} stopped: {exc!r}")
        self._release_waiters(self._error)
