"""Opening an audit database: is it ours, which schema, who writes it.

Plain ``sqlite3`` and synchronous: readers (``verify``, the queries behind
``controlroom audit``) use ``open_readonly`` directly, and the async writer
runs ``prepare_for_write`` and then ``open_for_writing`` in its own writer
thread, which owns that connection for the rest of the run. Every problem
an operator can cause (missing file, a file that is not SQLite or not ours,
a newer schema, a second writer) becomes one ``AuditError`` line that names
the file.

The run lock is an ``flock`` on a sidecar ``<db>.lock`` holding the writer's
pid: the kernel drops it when the process dies, however it dies, so a crash
never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from controlroom._errors import AuditError, StoreLockedError
from controlroom.store.schema import APPLICATION_ID, GENESIS_HASH, MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "ChainHead",
    "RunLock",
    "WriteStart",
    "check_ours",
    "lock_path_for",
    "open_for_writing",
    "open_readonly",
    "prepare_for_write",
    "read_chain_head",
]

_OUR_TABLES = frozenset({"events", "chain_head"})

WRITER_CACHE_KIB = 32 * 1024
"""The writer's page cache: the four indexes of a growing log stay in memory
(inserts cost a quarter less than with SQLite's 2 MiB default)."""


@dataclass(frozen=True)
class ChainHead:
    """The id and hash of the last row of the chain (id 0 and 64 zeros when empty)."""

    last_id: int
    hash: str


@dataclass(frozen=True)
class WriteStart:
    """Where a writer continues: the chain head and the last seq of its run."""

    head: ChainHead
    last_seq: int


def lock_path_for(db: Path) -> Path:
    """The sidecar lock file of an audit database."""
    return db.with_name(db.name + ".lock")


def _describe(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "not a database" in text:
        return "it is not an SQLite database"
    return text


def check_ours(conn: sqlite3.Connection, db: Path, *, allow_empty: bool) -> int:
    """Raise ``AuditError`` unless ``conn`` is a controlroom audit database we can read.

    Returns its schema version (0 for a brand-new, empty database, which is
    accepted only with ``allow_empty``).
    """
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.Error as exc:
        raise AuditError(f"{db} is not a controlroom audit database: {_describe(exc)}") from None
    if app_id not in (0, APPLICATION_ID):
        raise AuditError(
            f"{db} is not a controlroom audit database (it belongs to another application, "
            f"application_id {app_id:#x})"
        )
    if version > SCHEMA_VERSION:
        raise AuditError(
            f"{db} was written by a newer controlroom (schema version {version}; this one "
            f"knows up to {SCHEMA_VERSION}): upgrade controlroom"
        )
    if version == 0:
        if tables:
            raise AuditError(
                f"{db} is not a controlroom audit database (it has other tables: "
                f"{', '.join(sorted(tables)[:5])})"
            )
        if not allow_empty:
            raise AuditError(f"{db} is not a controlroom audit database (it is empty)")
        return 0
    missing = _OUR_TABLES - tables
    if missing:
        raise AuditError(
            f"{db} is not a controlroom audit database (no {', '.join(sorted(missing))} table)"
        )
    return version


def open_readonly(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open an audit database read-only (``mode=ro``) after checking it is ours.

    Safe while a writer is running: the database is in WAL mode, so readers
    see committed transactions and never block the writer.
    """
    db = Path(path)
    if not db.exists():
        raise AuditError(f"{db}: no such audit database")
    if not db.is_file():
        raise AuditError(f"{db} is not a file")
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise AuditError(f"cannot open audit database {db}: {_describe(exc)}") from None
    try:
        check_ours(conn, db, allow_empty=False)
    except BaseException:
        conn.close()
        raise
    return conn


def read_chain_head(conn: sqlite3.Connection) -> ChainHead | None:
    """The stored chain head, or None when no event was ever written."""
    row = conn.execute("SELECT last_id, hash FROM chain_head WHERE one = 1").fetchone()
    return None if row is None else ChainHead(int(row[0]), str(row[1]))


def _migrate(conn: sqlite3.Connection, db: Path, version: int) -> None:
    for target in range(version + 1, SCHEMA_VERSION + 1):
        script = MIGRATIONS[target - 1]
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {target};\nCOMMIT;"
            )
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            raise AuditError(
                f"cannot migrate audit database {db} to schema version {target}: {exc}"
            ) from None


def _continue_from(conn: sqlite3.Connection, db: Path, run_id: str) -> WriteStart:
    head = read_chain_head(conn)
    last = conn.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
    if head is None and last is None:
        head = ChainHead(0, GENESIS_HASH)
    elif head is None or last is None or (head.last_id, head.hash) != (last[0], last[1]):
        raise AuditError(
            f"{db}: the chain head does not match the last event (rows were deleted or "
            "added outside controlroom); run `controlroom audit verify` and start a new "
            "audit database"
        )
    row = conn.execute("SELECT max(seq) FROM events WHERE run = ?", (run_id,)).fetchone()
    return WriteStart(head=head, last_seq=int(row[0] or 0))


def prepare_for_write(path: Path, run_id: str) -> WriteStart:
    """Create or check the database, switch it to WAL, migrate it, find the chain head.

    The caller must hold the ``RunLock``: migrations and the head read are
    only race-free because nobody else writes.
    """
    if path.exists() and not path.is_file():
        raise AuditError(f"{path} is not a file")
    try:
        conn = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise AuditError(f"cannot open audit database {path}: {_describe(exc)}") from None
    try:
        version = check_ours(conn, path, allow_empty=True)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise AuditError(f"{path}: cannot switch the audit database to WAL mode ({mode})")
        _migrate(conn, path, version)
        return _continue_from(conn, path, run_id)
    except sqlite3.Error as exc:
        raise AuditError(f"cannot prepare audit database {path}: {_describe(exc)}") from None
    finally:
        conn.close()


def open_for_writing(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """The audit writer's connection, after ``prepare_for_write``; use it in one thread only.

    Autocommit mode (the writer says BEGIN and COMMIT itself), ``synchronous
    = NORMAL`` (WAL: a commit is durable against a crash of this process, and
    an OS crash can lose only the last commits, never corrupt the chain), no
    automatic checkpoint (see ``Checkpointer``) and a larger page cache.
    """
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise AuditError(f"cannot open audit database {path}: {_describe(exc)}") from None
    try:
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
    except sqlite3.Error as exc:
        conn.close()
        raise AuditError(f"cannot open audit database {path}: {_describe(exc)}") from None
    return conn


class RunLock:
    """Exclusive right to write one audit database, held for a run's lifetime."""

    def __init__(self, db: Path, lock_path: Path, fd: int) -> None:
        self.db = db
        self.path = lock_path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, db: Path, run_id: str = "") -> RunLock:
        """Take the lock or raise ``StoreLockedError`` naming the pid that holds it."""
        lock_path = lock_path_for(db)
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise AuditError(
                f"cannot create the lock file {lock_path}: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StoreLockedError(
                f"{db} is already being written by {holder} (lock file {lock_path}); "
                "stop that control room first or use another audit_db"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise AuditError(f"cannot lock {lock_path}: {exc.strerror or exc}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {run_id}\n".encode(), 0)
        return cls(db, lock_path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the lock up (the file stays: removing it would race a new writer)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        words = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
    except OSError:
        words = []
    if not words or not words[0].isdigit():
        return "another process"
    run = f", run {words[1]}" if len(words) > 1 else ""
    return f"pid {words[0]}{run}"
