"""Opening the audit log for one run's writer: the run lock, the writer's thread, its connection.

Apart from the writer because every step must be undone when a later one
fails (a lock left held would refuse the next run; a thread left running
would keep the interpreter alive).
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from controlroom._errors import AuditError
from controlroom.store.batch import BatchWriter
from controlroom.store.connection import ChainHead, RunLock, prepare_for_write

__all__ = ["Opened", "open_for_run"]


@dataclass(frozen=True, slots=True)
class Opened:
    """What a writer needs once the log is open: all of it held for the run's lifetime."""

    path: Path
    run_id: str
    lock: RunLock
    thread: ThreadPoolExecutor
    writer: BatchWriter
    head: ChainHead
    last_seq: int


async def open_for_run(db: Path, run_id: str, busy_timeout: float) -> Opened:
    """Lock ``db`` for ``run_id``, migrate it and connect in the writer's own thread.

    ``StoreLockedError`` when another writer holds it; ``AuditError`` when it
    cannot be opened. On any failure the thread is stopped and the lock let go.
    """
    lock = RunLock.acquire(db, run_id)
    loop = asyncio.get_running_loop()
    thread = ThreadPoolExecutor(1, thread_name_prefix=f"audit writer {db.name}")
    try:
        start = await loop.run_in_executor(thread, prepare_for_write, db, run_id)
        writer = await loop.run_in_executor(thread, BatchWriter.connect, db, busy_timeout)
    except sqlite3.Error as exc:
        thread.shutdown(wait=False)
        lock.release()
        raise AuditError(f"cannot open audit database {db}: {exc}") from None
    except BaseException:
        thread.shutdown(wait=False)
        lock.release()
        raise
    return Opened(db, run_id, lock, thread, writer, start.head, start.last_seq)
