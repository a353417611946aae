"""verify_chain against logs tampered with by plain sqlite3, one kind of tampering per test."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import pytest

from controlroom._errors import AuditError
from controlroom.models import StatusEvent, Usage
from controlroom.store import AuditStore, open_readonly, verify_chain
from controlroom.store.rows import canonical_json

RUN = "20260101-120000-abcd"
EVENTS = 20


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A log of 20 good events, closed (no writer attached)."""
    path = tmp_path / "audit.db"

    async def write() -> None:
        async with await AuditStore.open(path, RUN) as store:
            for i in range(EVENTS):
                store.append(StatusEvent(agent=f"agent-{i % 3}", text=f"step {i}"))

    asyncio.run(write())
    return path


def tamper(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    try:
        for sql in statements:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def row(path: Path, row_id: int) -> tuple[str, str, str]:
    conn = sqlite3.connect(path)
    try:
        payload, prev, digest = conn.execute(
            "SELECT payload, prev_hash, hash FROM events WHERE id = ?", (row_id,)
        ).fetchone()
        return payload, prev, digest
    finally:
        conn.close()


def test_an_untouched_log_verifies(db: Path) -> None:
    result = verify_chain(db)
    assert result.ok
    assert (result.events, result.first_bad_id) == (EVENTS, None)
    assert "chain intact" in result.reason


def test_edited_payload_is_detected(db: Path) -> None:
    tamper(db, "UPDATE events SET payload = replace(payload, 'step 7', 'step 8') WHERE id = 8")
    result = verify_chain(db)
    assert not result.ok
    assert result.first_bad_id == 8
    assert result.events == 7
    assert "hash does not match its payload" in result.reason


def test_edited_payload_with_recomputed_hash_breaks_the_next_link(db: Path) -> None:
    payload, prev, _ = row(db, 8)
    forged = payload.replace("step 7", "step X")
    digest = hashlib.sha256((prev + forged).encode()).hexdigest()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE events SET payload = ?, hash = ? WHERE id = 8", (forged, digest))
    conn.commit()
    conn.close()
    result = verify_chain(db)
    assert (result.ok, result.first_bad_id) == (False, 9)
    assert "prev_hash" in result.reason


def test_edited_column_is_detected(db: Path) -> None:
    tamper(db, "UPDATE events SET agent = 'agent-9' WHERE id = 5")
    result = verify_chain(db)
    assert (result.ok, result.first_bad_id) == (False, 5)
    assert "agent column ('agent-9') differs from its payload ('agent-1')" in result.reason


def test_deleted_row_is_detected(db: Path) -> None:
    tamper(db, "DELETE FROM events WHERE id = 6")
    result = verify_chain(db)
    assert (result.ok, result.first_bad_id) == (False, 7)
    assert "row(s) 6 are missing" in result.reason


def test_swapped_pair_is_detected(db: Path) -> None:
    tamper(
        db,
        "UPDATE events SET id = -1 WHERE id = 10",
        "UPDATE events SET id = 10 WHERE id = 11",
        "UPDATE events SET id = 11 WHERE id = -1",
    )
    result = verify_chain(db)
    assert (result.ok, result.first_bad_id) == (False, 10)
    assert "prev_hash is not the hash of the row before it" in result.reason


def test_inserted_row_is_detected(db: Path) -> None:
    # A forger makes room after row 12 and inserts a well-formed, correctly hashed row.
    _, _, hash12 = row(db, 12)
    event = StatusEvent(run=RUN, seq=13, agent="agent-0", text="forged")
    payload = canonical_json(event)
    digest = hashlib.sha256((hash12 + payload).encode()).hexdigest()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE events SET id = -id WHERE id > 12")
    conn.execute("UPDATE events SET id = -id + 1 WHERE id < 0")
    conn.execute(
        "INSERT INTO events VALUES (13, ?, 13, ?, 'agent-0', 'status', ?, ?, ?)",
        (RUN, event.ts, payload, hash12, digest),
    )
    conn.commit()
    conn.close()
    result = verify_chain(db)
    assert (result.ok, result.first_bad_id) == (False, 14)
    assert result.events == 13


def test_row_appended_behind_the_head_is_detected(db: Path) -> None:
    _, _, last = row(db, EVENTS)
    event = Usage(run=RUN, seq=EVENTS + 1, agent="agent-0", input_tokens=1)
    payload = canonical_json(event)
    digest = hashlib.sha256((last + payload).encode()).hexdigest()
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO events VALUES (?, ?, ?, ?, 'agent-0', 'usage', ?, ?, ?)",
        (EVENTS + 1, RUN, EVENTS + 1, event.ts, payload, last, digest),
    )
    conn.commit()
    conn.close()
    result = verify_chain(db)
    assert (result.ok, result.first_bad_id) == (False, EVENTS + 1)
    assert "added outside controlroom" in result.reason


def test_truncated_tail_is_detected(db: Path) -> None:
    tamper(db, f"DELETE FROM events WHERE id > {EVENTS - 3}")
    result = verify_chain(db)
    assert not result.ok
    assert result.first_bad_id == EVENTS - 2
    assert result.events == EVENTS - 3
    assert f"truncated: chain_head says the last row is {EVENTS}" in result.reason


def test_removed_chain_head_is_detected(db: Path) -> None:
    tamper(db, "DELETE FROM chain_head")
    result = verify_chain(db)
    assert (result.ok, result.first_bad_id) == (False, 1)
    assert "chain_head is missing" in result.reason


def test_payload_that_is_not_json_is_detected(db: Path) -> None:
    _, prev, _ = row(db, 3)
    garbage = "not json {"
    digest = hashlib.sha256((prev + garbage).encode()).hexdigest()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE events SET payload = ?, hash = ? WHERE id = 3", (garbage, digest))
    conn.commit()
    conn.close()
    result = verify_chain(db)
    assert (result.ok, result.first_bad_id) == (False, 3)
    assert "not valid JSON" in result.reason


def test_empty_log_verifies(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"

    async def create() -> None:
        async with await AuditStore.open(path, RUN):
            pass

    asyncio.run(create())
    result = verify_chain(path)
    assert (result.ok, result.events, result.first_bad_id) == (True, 0, None)


def test_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(AuditError, match=f"^{missing}: no such audit database$"):
        verify_chain(missing)
    assert not missing.exists()  # a read-only check creates nothing


def test_a_file_that_is_not_sqlite_is_one_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x00\x01garbage" * 1000)
    with pytest.raises(AuditError, match=f"{junk} is not a controlroom audit database"):
        verify_chain(junk)


def test_someone_elses_database_is_one_clear_error(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(AuditError, match="not a controlroom audit database"):
        verify_chain(other)
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(AuditError, match="it is empty"):
        open_readonly(empty)


def test_open_readonly_cannot_write(db: Path) -> None:
    conn = open_readonly(db)
    try:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == EVENTS
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM events")
    finally:
        conn.close()
