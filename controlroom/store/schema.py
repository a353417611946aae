"""The audit database's schema and its migrations, versioned with ``PRAGMA user_version``.

One append-only table, ``events``. Each row's ``hash`` is
``sha256(prev_hash || payload)`` where ``payload`` is the event's canonical
JSON (already redacted) and ``prev_hash`` is the previous row's hash (64 zeros
for the first row). The columns ``run``, ``seq``, ``ts``, ``agent`` and
``kind`` are copies of payload fields kept for indexed queries; ``verify``
checks that they agree with the payload. ``chain_head`` holds the id and hash
of the last row, so a truncated tail is detectable too.
"""

from __future__ import annotations

__all__ = ["APPLICATION_ID", "GENESIS_HASH", "MIGRATIONS", "SCHEMA_VERSION"]

GENESIS_HASH = "0" * 64

APPLICATION_ID = 0x43524F4D
"""``PRAGMA application_id`` of an audit database ("CROM"): marks the file as ours."""

MIGRATIONS: list[str] = [
    # version 1
    f"""
    PRAGMA application_id = {APPLICATION_ID};
    CREATE TABLE IF NOT EXISTS events (
        id        INTEGER PRIMARY KEY,
        run       TEXT    NOT NULL,
        seq       INTEGER NOT NULL,
        ts        REAL    NOT NULL,
        agent     TEXT,
        kind      TEXT    NOT NULL,
        payload   TEXT    NOT NULL,
        prev_hash TEXT    NOT NULL,
        hash      TEXT    NOT NULL
    );
    CREATE INDEX IF NOT EXISTS events_run   ON events (run, seq);
    CREATE INDEX IF NOT EXISTS events_agent ON events (agent, id);
    CREATE INDEX IF NOT EXISTS events_kind  ON events (kind, id);
    CREATE INDEX IF NOT EXISTS events_ts    ON events (ts);
    CREATE TABLE IF NOT EXISTS chain_head (
        one     INTEGER PRIMARY KEY CHECK (one = 1),
        last_id INTEGER NOT NULL,
        hash    TEXT    NOT NULL
    );
    CREATE TABLE IF NOT EXISTS meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
