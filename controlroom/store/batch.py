"""The writer thread's side of the audit store: one connection, one transaction per batch.

Everything here runs in the writer's single thread, which created the
connection (sqlite3 refuses to let another thread use it). Before every
transaction (and, while idle, once a second) the writer checks that the path
it was opened on still names the file it writes: SQLite goes on writing
happily into a database file that was deleted or replaced under it, and
every such commit is lost the moment the connection closes. The writer also
holds the run's reserve of room on the database's file system (reserve.py).

A batch is ONE call into this thread: serialise, redact and hash every
event (``rows.chain_rows``), insert the rows with multi-row INSERTs, move
the chain head, commit; then one result comes back to the event loop. The
design names aiosqlite for the store, and the writer used it until a swarm
of flooding agents showed what it costs: every ``await`` on it is a whole
event-loop turn (0.3 to 1 s under such a flood) and a transaction took four
of them, and its ``executemany`` steps SQLite once per row, giving the GIL
up and waiting to take it back from the busy loop thread each time (one
5,000-row batch took 6 s; the backlog reached 600,000 events and 1 GB).
A multi-row INSERT of up to 1,024 rows takes the GIL back a few dozen times
per transaction instead. aiosqlite is used nowhere else.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from controlroom._errors import AuditError
from controlroom.models import EventBase
from controlroom.store.connection import ChainHead, open_for_writing
from controlroom.store.redact import Redactor
from controlroom.store.reserve import RESERVE_BYTES, Reserve
from controlroom.store.rows import COLUMNS, PendingRow, chain_rows

__all__ = ["MAX_ROWS_PER_INSERT", "BatchWriter", "disk_full"]

MAX_ROWS_PER_INSERT = 1_024
"""Rows in one INSERT statement (9,216 parameters; SQLite allows 32,766 by default)."""

_INSERT = "INSERT INTO events (id, run, seq, ts, agent, kind, payload, prev_hash, hash) VALUES "
_SET_HEAD = "INSERT OR REPLACE INTO chain_head (one, last_id, hash) VALUES (1, ?, ?)"


def _insert_sql(rows: int) -> str:
    return _INSERT + ",".join(["(?,?,?,?,?,?,?,?,?)"] * rows)


def disk_full(exc: BaseException) -> bool:
    """Did a write fail for want of room ("database or disk is full")?"""
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


class BatchWriter:
    """The connection the writer thread owns, and the file it was opened on."""

    def __init__(self, conn: sqlite3.Connection, path: Path, reserve: Reserve) -> None:
        self._conn = conn
        self._path = path
        self._identity = _identity(path)
        self._reserve = reserve
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // COLUMNS
        largest = 1
        while largest * 2 <= min(limit, MAX_ROWS_PER_INSERT):
            largest *= 2
        # Power-of-two statement sizes: any batch is a few statements, and the
        # connection's statement cache holds every size there is.
        self._sizes = [1 << n for n in range(largest.bit_length() - 1, -1, -1)]
        self._sql = {size: _insert_sql(size) for size in self._sizes}

    @classmethod
    def connect(cls, path: Path, busy_timeout: float) -> BatchWriter:
        """The writer's connection, once the run's reserve is held (refused without room)."""
        reserve = Reserve(path)
        try:
            if not reserve.allocate():
                raise AuditError(
                    f"no room on the file system of {path} for the audit log's reserve "
                    f"({RESERVE_BYTES // 1024} KiB): free some space first"
                )
        except OSError as exc:
            raise AuditError(
                f"cannot make the audit log's reserve {reserve.path}: {exc.strerror or exc}"
            ) from None
        try:
            conn = open_for_writing(path, busy_timeout)
        except BaseException:
            reserve.remove()
            raise
        try:
            return cls(conn, path, reserve)
        except OSError as exc:
            conn.close()
            reserve.remove()
            raise AuditError(f"cannot open audit database {path}: {exc.strerror or exc}") from None

    def spend_reserve(self) -> bool:
        """Free the reserve for the log's last words; False when it was spent already."""
        return self._reserve.spend()

    def probe(self, restore: bool) -> bool:
        """Is the log sound: its file in place and (``restore``: allocated again) its reserve?

        Raises ``AuditError`` when the file is gone or replaced.
        """
        self.check_file()
        if restore:
            try:
                return self._reserve.allocate()
            except OSError:
                return False
        return self._reserve.held

    def check_file(self) -> None:
        """Raise ``AuditError`` unless the path still names the database this writer writes."""
        try:
            now = _identity(self._path)
        except FileNotFoundError:
            raise AuditError(
                f"the audit database {self._path} was deleted while the run was writing it"
            ) from None
        except OSError as exc:
            raise AuditError(
                f"cannot check the audit database {self._path}: {exc.strerror or exc}"
            ) from None
        if now != self._identity:
            raise AuditError(
                f"the audit database {self._path} was replaced by another file while the run "
                "was writing it"
            )

    def commit(
        self, events: list[PendingRow | EventBase], redactor: Redactor, head: ChainHead
    ) -> ChainHead:
        """Chain ``events`` onto ``head`` and commit them with the new head, or nothing."""
        self.check_file()
        values, new_head = chain_rows(events, redactor, head)
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._insert(values)
            conn.execute(_SET_HEAD, (new_head.last_id, new_head.hash))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        return new_head

    def _insert(self, values: list[Any]) -> None:
        left = len(values) // COLUMNS
        start = 0
        for size in self._sizes:
            while left >= size:
                end = start + size * COLUMNS
                self._conn.execute(self._sql[size], values[start:end])
                start = end
                left -= size

    def close(self) -> None:
        try:
            self._conn.close()  # the last connection out checkpoints the rest
        finally:
            self._reserve.remove()
