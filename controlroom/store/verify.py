"""Verifying the audit chain: was anything edited, deleted, inserted or reordered?

Walks every row in id order on a read-only connection, inside one read
transaction (a consistent snapshot even while a writer appends), streaming
rows so a million-event log never sits in memory. For each row it checks
that ids are consecutive, that ``prev_hash`` is the previous row's hash, that
``hash`` recomputes from ``prev_hash + payload``, that the payload is a JSON
object whose run/seq/ts/agent/kind agree with the indexed columns, and that
seq increases within each run; at the end, that ``chain_head`` names the last
row, which is what exposes a truncated tail.

What the chain alone cannot see: someone who can write the file (an agent
runs as the operator's user) cutting the tail and moving ``chain_head``
back, or rewriting every row from some point on with fresh hashes, head
included. Given anchors (``store.anchor``: heads kept outside the database),
it also proves the log still extends each of them: the row with the
anchor's id exists and has the anchor's hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controlroom._errors import AuditError
from controlroom.store.anchor import Anchor, extends
from controlroom.store.connection import ChainHead, open_readonly, read_chain_head
from controlroom.store.schema import GENESIS_HASH

__all__ = ["VerifyResult", "open_readonly", "verify_chain"]

_COLUMNS = ("run", "seq", "ts", "agent", "kind")


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of ``verify_chain``: ``ok``, or the first row that is wrong and why.

    ``head`` is the verified head (set when ``ok``): what an anchor records.
    """

    ok: bool
    events: int
    first_bad_id: int | None
    reason: str
    head: ChainHead | None = None


def _column_mismatch(data: Any, columns: tuple[Any, ...]) -> str:
    if not isinstance(data, dict):
        return "its payload is not a JSON object"
    for name, value in zip(_COLUMNS, columns, strict=True):
        if name not in data:
            return f"its payload has no {name!r}"
        if data[name] != value:
            return f"its {name} column ({value!r}) differs from its payload ({data[name]!r})"
    return ""


def verify_chain(path: str | os.PathLike[str], anchors: Sequence[Anchor] = ()) -> VerifyResult:
    """Check the whole chain of the audit database at ``path``, and that it extends ``anchors``.

    Raises ``AuditError`` when the file is missing or not an audit database;
    a database that is ours but tampered with gives ``ok=False``.
    """
    conn = open_readonly(path)
    try:
        conn.execute("BEGIN")  # one snapshot for the rows and the head
        found: dict[int, str] = {}  # the hash of every row an anchor names
        result = _walk(conn, frozenset(a.event_id for a in anchors), found)
        if not result.ok or not anchors or result.head is None:
            return result
        return _check_anchors(result, result.head, anchors, found)
    except sqlite3.Error as exc:
        raise AuditError(f"cannot read audit database {path}: {exc}") from None
    finally:
        conn.close()


def _walk(conn: sqlite3.Connection, wanted: frozenset[int], found: dict[int, str]) -> VerifyResult:
    head = read_chain_head(conn)
    rows = conn.execute(
        "SELECT id, run, seq, ts, agent, kind, payload, prev_hash, hash FROM events ORDER BY id"
    )
    count = 0
    last_id = 0
    prev = GENESIS_HASH
    last_seq: dict[str, int] = {}
    for row in rows:
        row_id, run, seq, stored = row[0], row[1], row[2], row[8]
        problem = _row_problem(row, last_id, prev, last_seq)
        if problem:
            return VerifyResult(False, count, row_id, f"row {row_id}: {problem}")
        last_seq[run] = seq
        if row_id in wanted:
            found[row_id] = stored
        count += 1
        last_id = row_id
        prev = stored
    return _against_head(head, count, last_id, prev)


def _row_problem(
    row: tuple[Any, ...], last_id: int, prev: str, last_seq: dict[str, int]
) -> str | None:
    """What is wrong with one row, given the row before it (None: it is sound)."""
    row_id, run, seq, ts, agent, kind, payload, prev_hash, stored = row
    if row_id != last_id + 1:
        missing = f"{last_id + 1}" if row_id == last_id + 2 else f"{last_id + 1}-{row_id - 1}"
        return f"follows row {last_id}: row(s) {missing} are missing"
    if prev_hash != prev:
        return (
            "its prev_hash is not the hash of the row before it "
            "(a row was deleted, inserted or moved)"
        )
    if not isinstance(payload, str):
        return "its payload is not text"
    if hashlib.sha256((prev + payload).encode()).hexdigest() != stored:
        return "its hash does not match its payload (the row was edited)"
    try:
        data = json.loads(payload)
    except ValueError:
        return "its payload is not valid JSON"
    mismatch = _column_mismatch(data, (run, seq, ts, agent, kind))
    if mismatch:
        return mismatch
    if isinstance(seq, int) and seq <= last_seq.get(run, 0):
        return f"seq {seq} of run {run} does not follow seq {last_seq[run]}"
    return None


def _against_head(head: ChainHead | None, count: int, last_id: int, prev: str) -> VerifyResult:
    """The walked chain (``count`` rows, ending at ``last_id`` with hash ``prev``) vs its head."""
    if head is None:
        if count:
            return VerifyResult(False, count, 1, "chain_head is missing")
        return VerifyResult(True, 0, None, "empty: no events", ChainHead(0, GENESIS_HASH))
    if (head.last_id, head.hash) == (last_id, prev):
        return VerifyResult(True, count, None, f"{count} events, chain intact", head)
    if head.last_id > last_id:
        return VerifyResult(
            False,
            count,
            last_id + 1,
            f"truncated: chain_head says the last row is {head.last_id}, "
            f"but the log ends at row {last_id}",
        )
    if head.last_id < last_id:
        return VerifyResult(
            False,
            count,
            head.last_id + 1,
            f"rows after {head.last_id} (the chain head) were added outside controlroom",
        )
    return VerifyResult(
        False, count, last_id, f"row {last_id}: its hash differs from the chain head's"
    )


def _check_anchors(
    result: VerifyResult, head: ChainHead, anchors: Sequence[Anchor], found: dict[int, str]
) -> VerifyResult:
    """``result`` (an intact chain) checked against every anchor, the earliest first."""
    found[0] = GENESIS_HASH  # an anchor of an empty log
    for anchor in sorted(anchors, key=lambda a: a.event_id):
        taken = f"anchor {anchor.where} (taken {anchor.time})"
        stored = found.get(anchor.event_id)
        if stored is None:
            return VerifyResult(
                False,
                result.events,
                head.last_id + 1,
                f"the log ends at event {head.last_id}, but {taken} names event "
                f"{anchor.event_id}: events after {head.last_id} were deleted",
            )
        if stored != anchor.hash:
            return VerifyResult(
                False,
                result.events,
                anchor.event_id,
                f"event {anchor.event_id}'s hash differs from {taken}: the log was "
                f"rewritten at or before event {anchor.event_id}",
            )
    return VerifyResult(True, result.events, None, f"{result.reason}; {extends(anchors)}", head)
