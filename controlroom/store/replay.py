"""One past run's events, whole and in order, for ``controlroom replay``.

A replay folds a run from its first event to its last (policy/swarmfold.py),
so it reads the run's payloads once, by its ``seq`` order, through a
read-only connection (safe beside a running control room). The run is the
one named, else the newest in the file; a name the file does not hold is one
line listing the runs it does hold.
"""

from __future__ import annotations

from pathlib import Path

from controlroom._errors import AuditError
from controlroom.models import EVENT_ADAPTER, EventBase
from controlroom.store.connection import open_readonly

__all__ = ["run_events"]


def run_events(db: Path, run: str | None = None) -> tuple[str, list[EventBase]]:
    """(the run's id, its events oldest first); the newest run when ``run`` is None."""
    conn = open_readonly(db)
    try:
        known = [r for (r,) in conn.execute("SELECT run FROM events GROUP BY run ORDER BY min(id)")]
        if not known:
            raise AuditError(f"{db}: the audit log holds no run")
        chosen = known[-1] if run is None else run
        if chosen not in known:
            listed = ", ".join(known[-5:])
            raise AuditError(f"{db}: no run {chosen!r} (latest runs: {listed})")
        rows = conn.execute(
            "SELECT payload FROM events WHERE run = ? ORDER BY seq", (chosen,)
        ).fetchall()
    finally:
        conn.close()
    return chosen, [EVENT_ADAPTER.validate_json(payload) for (payload,) in rows]
