"""Listing stored events: the rows themselves, filtered, paged, streamed.

Every query here is bounded by an index (``events_kind``, ``events_agent``,
``events_run``, ``events_ts`` or the rowid), so ``audit list`` and the live
tail stay fast on a million-event log; payloads are decoded only for the
rows a caller gets back. The indexed columns are trusted here (``verify``
checks they agree with the payload).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from controlroom._errors import AuditError
from controlroom.text import BASE_KEYS

__all__ = [
    "COLUMNS",
    "EventRow",
    "agents",
    "decode_row",
    "get_event",
    "iter_events",
    "last_event_id",
    "list_events",
    "run_span",
    "where_sql",
]

COLUMNS = "id, run, seq, ts, agent, kind, payload"
"""The columns ``decode_row`` reads, in its order."""


@dataclass(frozen=True, slots=True)
class EventRow:
    """One stored event: the indexed columns plus the event's own fields."""

    id: int
    ts: float
    run: str
    seq: int
    agent: str | None
    kind: str
    fields: dict[str, Any]
    hash: str = ""
    prev_hash: str = ""

    @property
    def payload(self) -> dict[str, Any]:
        """The stored event as it was written (to parse into its model, or to put into words)."""
        base = {"run": self.run, "seq": self.seq, "ts": self.ts, "agent": self.agent}
        return {**base, "kind": self.kind, **self.fields}


def decode_row(row: tuple[Any, ...]) -> EventRow:
    """A row of ``COLUMNS`` (plus ``prev_hash, hash`` when present) as an ``EventRow``."""
    event_id, run, seq, ts, agent, kind, payload = row[:7]
    try:
        data = json.loads(payload)
    except (TypeError, ValueError):
        raise AuditError(
            f"event {event_id}: stored payload is not valid JSON (run `controlroom audit verify`)"
        ) from None
    if not isinstance(data, dict):
        raise AuditError(f"event {event_id}: stored payload is not a JSON object")
    fields = {k: v for k, v in data.items() if k not in BASE_KEYS}
    extra = {"hash": row[8], "prev_hash": row[7]} if len(row) > 7 else {}
    return EventRow(event_id, ts, run, seq, agent, kind, fields, **extra)


def _filters(
    conn: sqlite3.Connection,
    run: str | None,
    agent: str | None,
    kind: str | Sequence[str] | None,
    since: float | None,
    until: float | None,
    after_id: int | None,
) -> tuple[list[str], list[Any]] | None:
    """WHERE terms and parameters; ``None`` when nothing can match (an unknown run).

    A run is turned into its id span plus ``+run`` (no index on that term),
    so SQLite walks ids, or the agent/kind index within the span, instead of
    sorting a whole run's rows from ``events_run``.
    """
    where: list[str] = []
    params: list[Any] = []
    if run is not None:
        span = run_span(conn, run)
        if span is None:
            return None
        where.extend(["id BETWEEN ? AND ?", "+run = ?"])
        params.extend([span[0], span[1], run])
    if agent is not None:
        where.append("agent = ?")
        params.append(agent)
    kinds = [kind] if isinstance(kind, str) else list(kind or [])
    if len(kinds) == 1:
        where.append("kind = ?")
        params.append(kinds[0])
    elif kinds:
        where.append(f"kind IN ({', '.join('?' * len(kinds))})")
        params.extend(kinds)
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    if until is not None:
        where.append("ts < ?")
        params.append(until)
    if after_id is not None:
        where.append("id > ?")
        params.append(after_id)
    return where, params


def run_span(conn: sqlite3.Connection, run: str) -> tuple[int, int] | None:
    """The first and last id of a run (runs never interleave: one writer per database)."""
    lo, hi = conn.execute("SELECT min(id), max(id) FROM events WHERE run = ?", (run,)).fetchone()
    return None if lo is None else (lo, hi)


def where_sql(where: list[str]) -> str:
    return f" WHERE {' AND '.join(where)}" if where else ""


def iter_events(
    conn: sqlite3.Connection,
    run: str | None = None,
    agent: str | None = None,
    kind: str | Sequence[str] | None = None,
    since: float | None = None,
    until: float | None = None,
    after_id: int | None = None,
) -> Iterator[EventRow]:
    """Every matching event, oldest first, streamed (an export of millions stays small)."""
    found = _filters(conn, run, agent, kind, since, until, after_id)
    if found is None:
        return
    where, params = found
    cursor = conn.execute(f"SELECT {COLUMNS} FROM events{where_sql(where)} ORDER BY id", params)
    for row in cursor:
        yield decode_row(row)


def list_events(
    conn: sqlite3.Connection,
    run: str | None = None,
    agent: str | None = None,
    kind: str | Sequence[str] | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int | None = None,
    after_id: int | None = None,
) -> list[EventRow]:
    """Matching events in ascending id order.

    ``since`` is inclusive, ``until`` exclusive (epoch seconds). With
    ``limit`` and no ``after_id`` you get the *newest* ``limit`` events (what
    ``audit list --limit 20`` means: the last twenty, still oldest first);
    with ``after_id`` too you get the first ``limit`` after that id (paging
    forward, as a live tail does). "Newest" is by id, except when ``until``
    is the only filter: then it is by time (the same rows unless a clock
    went backwards), so the ``events_ts`` index can answer at once.
    """
    if limit is None:
        return list(iter_events(conn, run, agent, kind, since, until, after_id))
    if limit <= 0:
        return []
    kinds = [kind] if isinstance(kind, str) else list(kind or [])
    newest = after_id is None
    order = "DESC" if newest else "ASC"
    if len(kinds) > 1:
        # One index-ordered scan per kind, merged: `kind IN (...) ORDER BY id`
        # would make SQLite sort every matching row before taking `limit`.
        parts, params = [], []
        for one in kinds:
            found = _filters(conn, run, agent, one, since, until, after_id)
            if found is None:
                return []
            where, part_params = found
            parts.append(
                f"SELECT * FROM (SELECT {COLUMNS} FROM events{where_sql(where)} "
                f"ORDER BY id {order} LIMIT ?)"
            )
            params.extend([*part_params, limit])
        sql = f"{' UNION ALL '.join(parts)} ORDER BY id {order} LIMIT ?"
        params.append(limit)
    else:
        found = _filters(conn, run, agent, kind, since, until, after_id)
        if found is None:
            return []
        where, params = found
        # Bounded only by `until`, the newest rows are found walking `events_ts`
        # back from it; walking ids down from the top would read every later row.
        by_time = newest and until is not None and run is None and agent is None and not kinds
        key = f"ts {order}, id {order}" if by_time else f"id {order}"
        sql = f"SELECT {COLUMNS} FROM events{where_sql(where)} ORDER BY {key} LIMIT ?"
        params.append(limit)
    rows = [decode_row(r) for r in conn.execute(sql, params)]
    rows.sort(key=lambda e: e.id)
    return rows


def get_event(conn: sqlite3.Connection, event_id: int) -> EventRow | None:
    """One event with its chain hashes, or ``None`` if there is no such id."""
    row = conn.execute(
        f"SELECT {COLUMNS}, prev_hash, hash FROM events WHERE id = ?", (event_id,)
    ).fetchone()
    return None if row is None else decode_row(row)


def agents(conn: sqlite3.Connection) -> list[str]:
    """Every agent name in the log, sorted (one index probe per name, not a scan)."""
    rows = conn.execute(
        """
        WITH RECURSIVE names(name) AS (
            SELECT min(agent) FROM events WHERE agent IS NOT NULL
            UNION ALL
            SELECT (SELECT min(agent) FROM events WHERE agent > names.name)
            FROM names WHERE names.name IS NOT NULL
        )
        SELECT name FROM names WHERE name IS NOT NULL
        """
    ).fetchall()
    return [r[0] for r in rows]


def last_event_id(conn: sqlite3.Connection) -> int:
    """The id of the newest event (0 in an empty log)."""
    return int(conn.execute("SELECT max(id) FROM events").fetchone()[0] or 0)
