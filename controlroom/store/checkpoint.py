"""Copying the audit log's write-ahead log into its database: from a thread of its own, by size.

SQLite's automatic checkpoint runs inside the commit that crosses the
threshold, so one commit in a few hundred would wait for the copy and an
fsync (tens of milliseconds): exactly the ``flush`` an operator's kill is
waiting on. The writer turns that off and this thread checkpoints (PASSIVE:
it never blocks the writer or readers).

When is decided by what the log holds, not by how many events went in: a
commit writes every page it changed, and how many that is grows with the
agents that spoke as much as with the events (about 1 KiB of log per event
for 100 agents). The writer pokes this thread after every commit; it reads
how many bytes of log are not yet copied from the WAL-index header in
``<db>-shm`` (``mxFrame - nBackfill``: SQLite's documented file format,
https://sqlite.org/walformat.html, shared by every SQLite since 3.7.0) and
checkpoints once that reaches ``CHECKPOINT_BYTES``, and once the log has
been quiet for a second, so that an idle log is all in the database. A
header it cannot read (no such file, another format, a torn read) means:
checkpoint at most once a second, as this thread did before it could tell.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import threading
import time
from pathlib import Path

from controlroom.store.pacing import CHECKPOINT_BYTES

__all__ = ["Checkpointer", "wal_backlog"]

_WAL_INDEX_VERSION = 3007000
_HEADER = struct.Struct("=I4x4xBxHI")
"""iVersion, isInit, szPage, mxFrame: the first 20 of the header's 48 bytes (native order)."""
_COPY = 48
"""The header is stored twice; SQLite trusts it only when both copies agree."""
_BACKFILL = struct.Struct("=I")
_BACKFILL_AT = 96
"""``nBackfill``: the checkpoint-info block follows the two copies."""
_FRAME_HEADER = 24


def _sqlites_shm_fd(shm: str) -> int | None:
    """The descriptor SQLite in this process holds ``shm`` open by, or None.

    Never open the file ourselves: closing *any* descriptor of a file drops
    every POSIX lock this process holds on it, SQLite's included. Without its
    lock on ``-shm``, the next connection from another process believes it is
    the first, truncates the file, and SQLite's mapping of it here dies of
    SIGBUS (a fresh-clone CI run lost a control room that way, exit -7).
    """
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:  # no /proc: the backlog cannot be told
        return None
    for name in names:
        try:
            if os.readlink(f"/proc/self/fd/{name}") == shm:
                return int(name)
        except (OSError, ValueError):
            continue
    return None


def wal_backlog(db: Path) -> int | None:
    """Bytes of ``db``'s write-ahead log not yet copied into it; None when it cannot be told.

    Read through SQLite's own descriptor of ``<db>-shm`` (``_sqlites_shm_fd``
    says why), so only while a connection of this process has the log open.
    """
    fd = _sqlites_shm_fd(os.path.realpath(f"{db}-shm"))
    if fd is None:
        return None
    try:
        raw = os.pread(fd, _BACKFILL_AT + _BACKFILL.size, 0)
    except OSError:  # closed meanwhile: next time
        return None
    if len(raw) < _BACKFILL_AT + _BACKFILL.size or raw[:_COPY] != raw[_COPY : 2 * _COPY]:
        return None
    version, initialised, page, frames = _HEADER.unpack_from(raw)
    if version != _WAL_INDEX_VERSION or not initialised:
        return None
    copied: int = _BACKFILL.unpack_from(raw, _BACKFILL_AT)[0]
    size: int = 65536 if page == 1 else page
    backlog: int = max(0, frames - copied) * (size + _FRAME_HEADER)
    return backlog


class Checkpointer:
    """The checkpoint thread of one audit database (see the module docstring)."""

    def __init__(self, db: Path, *, threshold: int = CHECKPOINT_BYTES, quiet: float = 1.0) -> None:
        self._db = db
        self._threshold = threshold
        self._quiet = quiet
        self._wake = threading.Event()
        self._stopping = False
        self.checkpoints = 0
        self._last = 0.0
        self.last_error: str | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"audit checkpoint {db.name}", daemon=True
        )
        self._thread.start()

    def poke(self) -> None:
        """A commit happened: checkpoint if the log is big enough (cheap; from any thread)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread (blocks until a running checkpoint ends)."""
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _due(self, poked: bool) -> bool:
        backlog = wal_backlog(self._db)
        if backlog is None:  # cannot tell: once a quiet period, however busy the writer is
            return time.monotonic() - self._last >= self._quiet
        return backlog >= self._threshold if poked else backlog > 0

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._db, isolation_level=None, timeout=1.0)
        except sqlite3.Error as exc:
            self.last_error = str(exc)
            return
        try:
            while True:
                poked = self._wake.wait(self._quiet)
                self._wake.clear()
                if self._stopping:
                    return
                if not self._due(poked):
                    continue
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                    self._last = time.monotonic()
                except sqlite3.Error as exc:  # the writer's auto-less WAL just grows meanwhile
                    self.last_error = str(exc)
        finally:
            conn.close()
