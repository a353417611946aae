"""Reads of the audit log from inside the event loop (aiosqlite), for a running swarm.

The supervisor's own reads while it runs (a screen or a client catching up
on events it missed) must not block the loop that keeps the agents in
check, so they go through aiosqlite's thread; the CLI's reads, which own
their process, use plain read-only sqlite3 (``queries``).
"""

from __future__ import annotations

from pathlib import Path

from controlroom.models import EVENT_ADAPTER, EventBase

__all__ = ["events_since"]


async def events_since(
    db: Path, run: str, seq: int, limit: int = 1000, *, newest: bool = False
) -> list[EventBase]:
    """``run``'s events after ``seq``, oldest first; with ``newest``, the last ``limit`` of them."""
    import aiosqlite

    order = "DESC" if newest else "ASC"
    async with aiosqlite.connect(f"file:{db}?mode=ro", uri=True) as conn:
        cursor = await conn.execute(
            f"SELECT payload FROM events WHERE run = ? AND seq > ? ORDER BY seq {order} LIMIT ?",
            (run, seq, limit),
        )
        rows = list(await cursor.fetchall())
    if newest:
        rows.reverse()
    return [EVENT_ADAPTER.validate_json(payload) for (payload,) in rows]
