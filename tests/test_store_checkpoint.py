"""The audit log's checkpoints come by the size of what is not yet copied, and when it goes quiet.

Real SQLite files in WAL mode, written the way the audit writer writes them
(no automatic checkpoint), and the real checkpoint thread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from controlroom.store.checkpoint import Checkpointer, wal_backlog

FRAME = 4096 + 24


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE t (x TEXT)")
    yield conn
    conn.close()


def write(conn: sqlite3.Connection, kib: int) -> None:
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * kib)
    conn.execute("COMMIT")


def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_backlog_is_the_log_a_checkpoint_has_not_copied(
    tmp_path: Path, writer: sqlite3.Connection
) -> None:
    db = tmp_path / "a.db"
    write(writer, 200)
    backlog = wal_backlog(db)
    reader = sqlite3.connect(db, isolation_level=None)
    busy, frames, copied = reader.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    reader.close()
    assert (busy, copied) == (0, frames) and frames > 40
    assert backlog == frames * FRAME
    assert wal_backlog(db) == 0  # all copied
    write(writer, 10)
    assert 0 < (wal_backlog(db) or 0) < 20 * FRAME  # the log starts again from its beginning


def test_backlog_of_a_database_without_a_log_is_unknown(tmp_path: Path) -> None:
    assert wal_backlog(tmp_path / "none.db") is None
    (tmp_path / "odd.db-shm").write_bytes(b"\1" * 200)  # not a WAL index SQLite wrote
    assert wal_backlog(tmp_path / "odd.db") is None


def test_a_commit_is_checkpointed_once_the_log_holds_enough(
    tmp_path: Path, writer: sqlite3.Connection
) -> None:
    db = tmp_path / "a.db"
    checkpointer = Checkpointer(db, threshold=100 * FRAME, quiet=60.0)
    try:
        write(writer, 20)
        checkpointer.poke()
        time.sleep(0.3)
        assert checkpointer.checkpoints == 0 and (wal_backlog(db) or 0) > 0
        write(writer, 400)
        checkpointer.poke()
        until(lambda: checkpointer.checkpoints == 1)
        assert wal_backlog(db) == 0
    finally:
        checkpointer.stop()
    assert checkpointer.last_error is None


def test_a_quiet_log_is_checkpointed_whatever_its_size(
    tmp_path: Path, writer: sqlite3.Connection
) -> None:
    db = tmp_path / "a.db"
    checkpointer = Checkpointer(db, threshold=1 << 30, quiet=0.1)
    try:
        write(writer, 5)
        checkpointer.poke()
        until(lambda: wal_backlog(db) == 0)
        assert checkpointer.checkpoints == 1
        time.sleep(0.3)
        assert checkpointer.checkpoints == 1  # nothing new: no checkpoint
    finally:
        checkpointer.stop()


def test_a_log_whose_size_cannot_be_read_is_checkpointed_once_a_quiet_period(
    tmp_path: Path,
) -> None:
    db = tmp_path / "journal.db"  # a rollback journal: no WAL index to read
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.close()
    assert wal_backlog(db) is None
    checkpointer = Checkpointer(db, threshold=1, quiet=0.5)
    try:
        for _ in range(50):  # a commit every 20 ms for a second
            checkpointer.poke()
            time.sleep(0.02)
        until(lambda: checkpointer.checkpoints >= 1)
    finally:
        checkpointer.stop()
    assert checkpointer.checkpoints <= 4  # not one per poke


WRITER = """
import asyncio, sys
from controlroom.models import Usage
from controlroom.store import AuditStore

async def main() -> None:
    async with await AuditStore.open(sys.argv[1], "20261202-183000-shm", max_delay=0.005) as store:
        for i in range(int(sys.argv[2])):
            store.append(Usage(agent=f"a{i % 50}", input_tokens=i))
            if i % 200 == 0:
                await store.flush()
    print("done", flush=True)

asyncio.run(main())
"""


def test_readers_coming_and_going_never_break_the_writers_log(tmp_path: Path) -> None:
    """Another process opening and closing the log while the store writes: the store lives on.

    The checkpoint thread once read ``<db>-shm`` through a descriptor of its own and
    closed it, which dropped SQLite's locks on the file in the writer's process; a
    reader's connection then took itself for the first, truncated the file, and the
    writer died of SIGBUS (exit -7): this failed 4 runs of 4 before the fix.
    """
    import subprocess
    import sys

    db = tmp_path / "audit.db"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), "60000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        until(lambda: db.exists() and (tmp_path / "audit.db-shm").exists())
        while writer.poll() is None:
            reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0)
            try:
                reader.execute("SELECT count(*) FROM events").fetchone()
            except sqlite3.OperationalError:
                pass  # not created yet
            finally:
                reader.close()
        out, err = writer.communicate(timeout=60)
    finally:
        writer.kill()
        writer.wait()
    assert (writer.returncode, out.strip()) == (0, "done"), err[-2000:]
