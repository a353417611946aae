"""One agent's story in one run (``audit timeline``): its steps, spend and end.

Reads the agent's rows once through the (agent, id) index, bounded by the
run's id span; usage and output lines are summed and counted, not listed.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from controlroom.models.kinds import EventKind
from controlroom.store.listing import COLUMNS, EventRow, decode_row, run_span
from controlroom.store.outcomes import END_KINDS, UsageTotals, derive_outcome

__all__ = ["Timeline", "timeline"]


@dataclass(slots=True)
class Timeline:
    """One agent's story in one run: its steps, what it spent, how it ended."""

    agent: str
    run: str
    steps: list[EventRow]
    usage: UsageTotals
    outcome: str
    reason: str
    attempts: int
    output_lines: int
    malformed_lines: int
    first_ts: float
    last_ts: float


def timeline(conn: sqlite3.Connection, agent: str, run: str | None = None) -> Timeline | None:
    """The story of ``agent`` in ``run`` (default: the newest run it appears in).

    Steps are the agent's events except usage and output lines (those are
    summed and counted), plus the decisions on its gates even when the
    decision event is not stamped with the agent. ``None``: no such agent/run.
    """
    if run is None:
        row = conn.execute(
            "SELECT run FROM events WHERE agent = ? ORDER BY id DESC LIMIT 1", (agent,)
        ).fetchone()
        if row is None:
            return None
        run = str(row[0])
    span = run_span(conn, run)
    if span is None:
        return None
    # `+run` keeps SQLite on the (agent, id) index, bounded by the run's id span.
    cursor = conn.execute(
        f"SELECT {COLUMNS} FROM events WHERE agent = ? AND id BETWEEN ? AND ? AND +run = ? "
        "ORDER BY id",
        (agent, span[0], span[1], run),
    )
    steps: list[EventRow] = []
    usage = UsageTotals()
    last: dict[str, tuple[int, dict[str, Any]]] = {}
    outputs = malformed = attempts = 0
    first_ts = last_ts = None
    for raw in cursor:
        first_ts = raw[3] if first_ts is None else first_ts
        last_ts = raw[3]
        kind = raw[5]
        if kind == EventKind.AGENT_OUTPUT:
            outputs += 1
            continue
        event = decode_row(raw)
        if kind == EventKind.USAGE:
            usage.add(event.fields)
        elif kind == EventKind.MALFORMED_OUTPUT:
            malformed += 1
        else:
            steps.append(event)
        if kind in END_KINDS:
            last[kind] = (event.id, event.fields)
        attempts += kind == EventKind.AGENT_SPAWNED
    if first_ts is None or last_ts is None:
        return None
    steps = _with_gate_decisions(conn, steps, span, run)
    outcome, reason = derive_outcome(last)
    return Timeline(
        agent, run, steps, usage, outcome, reason, attempts, outputs, malformed, first_ts, last_ts
    )


def _with_gate_decisions(
    conn: sqlite3.Connection, steps: list[EventRow], span: tuple[int, int], run: str
) -> list[EventRow]:
    gates = {s.fields.get("gate_id") for s in steps if s.kind == EventKind.GATE_REQUESTED}
    if not gates:
        return steps
    seen = {s.id for s in steps}
    cursor = conn.execute(
        f"SELECT {COLUMNS} FROM events"
        f" WHERE kind IN ('{EventKind.GATE_DECIDED}', '{EventKind.GATE_EXPIRED}')"
        " AND id BETWEEN ? AND ? AND +run = ?",
        (span[0], span[1], run),
    )
    extra = [
        e for e in map(decode_row, cursor) if e.id not in seen and e.fields.get("gate_id") in gates
    ]
    return sorted(steps + extra, key=lambda e: e.id) if extra else steps
