"""Read-side queries over the audit log: what happened, to whom, and what it cost.

These answer "what did the agent do and why?" weeks after a run, so they
work on a plain read-only ``sqlite3`` connection (``connection.open_readonly``;
no supervisor, no event loop) and stay fast on a million-event database:
every query is bounded by an index (``events_kind``, ``events_agent``,
``events_run``, ``events_ts``, or the rowid) and nothing loads the whole
table. Payloads are decoded only for the rows a caller actually gets back.

Events are stored as the canonical JSON of the ``Event`` model; the indexed
columns ``run``, ``seq``, ``ts``, ``agent``, ``kind`` are trusted here
(``verify`` is what checks they agree with the payload).
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controlroom._errors import AuditError
from controlroom.models.records import RecordedProcess
from controlroom.store.connection import open_readonly
from controlroom.text import BASE_KEYS, exit_text

__all__ = [
    "BASE_KEYS",
    "UNKNOWN",
    "AgentSummary",
    "EventRow",
    "RunSummary",
    "Timeline",
    "UsageTotals",
    "agents",
    "derive_outcome",
    "get_event",
    "iter_events",
    "list_events",
    "parse_when",
    "runs",
    "timeline",
]


UNKNOWN = "running/unknown"
"""Outcome of a run without ``run_ended`` (still running, or the supervisor died)."""

_COLS = "id, run, seq, ts, agent, kind, payload"
_QUIET_KINDS = ("usage", "agent_output", "malformed_output")
"""Kinds a timeline counts and sums instead of telling one by one."""
_END_KINDS = (
    "agent_state",
    "agent_spawned",
    "agent_exited",
    "agent_crashed",
    "kill_completed",
    "budget_exceeded",
    "limit_exceeded",
    "breaker_opened",
)
"""Kinds ``derive_outcome`` looks at (the last of each, per agent and run)."""


# --------------------------------------------------------------------------- rows


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


def _decode(row: tuple[Any, ...]) -> EventRow:
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


# --------------------------------------------------------------------------- time


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(value: str, *, now: float | None = None) -> float:
    """``90m``, ``3w`` (that long before ``now``) or an ISO date/datetime → epoch seconds.

    A date or datetime without a zone is UTC. Raises ``ValueError`` with a
    message that shows the accepted forms.
    """
    text = value.strip()
    match = _DURATION.match(text)
    if match:
        base = time.time() if now is None else now
        return base - float(match[1]) * _UNIT_SECONDS[match[2]]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a duration (like 90m or 3w; units s, m, h, d, w) "
            "nor an ISO date or time (like 2026-11-01 or 2026-11-01T12:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# --------------------------------------------------------------------------- listing


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
        span = _run_span(conn, run)
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


def _run_span(conn: sqlite3.Connection, run: str) -> tuple[int, int] | None:
    """The first and last id of a run (runs never interleave: one writer per database)."""
    lo, hi = conn.execute("SELECT min(id), max(id) FROM events WHERE run = ?", (run,)).fetchone()
    return None if lo is None else (lo, hi)


def _where_sql(where: list[str]) -> str:
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
    cursor = conn.execute(f"SELECT {_COLS} FROM events{_where_sql(where)} ORDER BY id", params)
    for row in cursor:
        yield _decode(row)


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
                f"SELECT * FROM (SELECT {_COLS} FROM events{_where_sql(where)} "
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
        sql = f"SELECT {_COLS} FROM events{_where_sql(where)} ORDER BY {key} LIMIT ?"
        params.append(limit)
    rows = [_decode(r) for r in conn.execute(sql, params)]
    rows.sort(key=lambda e: e.id)
    return rows


def get_event(conn: sqlite3.Connection, event_id: int) -> EventRow | None:
    """One event with its chain hashes, or ``None`` if there is no such id."""
    row = conn.execute(
        f"SELECT {_COLS}, prev_hash, hash FROM events WHERE id = ?", (event_id,)
    ).fetchone()
    return None if row is None else _decode(row)


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


# --------------------------------------------------------------------------- outcomes


@dataclass(slots=True)
class UsageTotals:
    """Sums of ``usage`` events: exactly what the meter counted (and priced)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cost_usd: float = 0.0
    turns: int = 0

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
        )

    def add(self, fields: dict[str, Any]) -> None:
        self.input_tokens += int(fields.get("input_tokens") or 0)
        self.output_tokens += int(fields.get("output_tokens") or 0)
        self.cache_read_input_tokens += int(fields.get("cache_read_input_tokens") or 0)
        self.cache_creation_input_tokens += int(fields.get("cache_creation_input_tokens") or 0)
        self.cost_usd += float(fields.get("cost_usd") or 0.0)
        turns = fields.get("turns")
        self.turns += 1 if turns is None else int(turns)

    def as_dict(self) -> dict[str, int | float]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cost_usd": self.cost_usd,
            "turns": self.turns,
        }


def derive_outcome(last: dict[str, tuple[int, dict[str, Any]]]) -> tuple[str, str]:
    """How an agent ended, as ``(state, reason)``, from the last event of each kind.

    ``last`` maps a kind of ``_END_KINDS`` to ``(id, fields)`` of its last
    event. The last ``agent_state`` wins; logs without one are read from
    what happened after the last spawn, the cause before the symptom: a
    budget stop or an open breaker, then a kill, then the exit itself.
    """
    if "agent_state" in last:
        fields = last["agent_state"][1]
        return str(fields.get("state", "unknown")), str(fields.get("reason", ""))
    spawned = last.get("agent_spawned", (0, {}))[0]

    def after_spawn(kind: str) -> dict[str, Any] | None:
        hit = last.get(kind)
        return hit[1] if hit is not None and hit[0] > spawned else None

    if (f := after_spawn("budget_exceeded")) is not None:
        return "budget_stopped", f"{f.get('limit')} {f.get('value')} over cap {f.get('cap')}"
    if (f := after_spawn("limit_exceeded")) is not None:
        return "failed", f"limit: {f.get('limit')} exceeded"
    if (f := after_spawn("breaker_opened")) is not None:
        return "breaker_open", str(f.get("reason", ""))
    if after_spawn("kill_completed") is not None:
        return "killed", ""
    if (f := after_spawn("agent_exited")) is not None:
        return ("done" if f.get("success") else "failed"), exit_text(
            f.get("returncode"), f.get("signal")
        )
    if (f := after_spawn("agent_crashed")) is not None:
        return "failed", str(f.get("reason", ""))
    return (UNKNOWN if spawned else "unknown"), ""


# --------------------------------------------------------------------------- timeline


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
    span = _run_span(conn, run)
    if span is None:
        return None
    # `+run` keeps SQLite on the (agent, id) index, bounded by the run's id span.
    cursor = conn.execute(
        f"SELECT {_COLS} FROM events WHERE agent = ? AND id BETWEEN ? AND ? AND +run = ? "
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
        if kind == "agent_output":
            outputs += 1
            continue
        event = _decode(raw)
        if kind == "usage":
            usage.add(event.fields)
        elif kind == "malformed_output":
            malformed += 1
        else:
            steps.append(event)
        if kind in _END_KINDS:
            last[kind] = (event.id, event.fields)
        attempts += kind == "agent_spawned"
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
    gates = {s.fields.get("gate_id") for s in steps if s.kind == "gate_requested"}
    if not gates:
        return steps
    seen = {s.id for s in steps}
    cursor = conn.execute(
        f"SELECT {_COLS} FROM events WHERE kind IN ('gate_decided', 'gate_expired') "
        "AND id BETWEEN ? AND ? AND +run = ?",
        (span[0], span[1], run),
    )
    extra = [
        e for e in map(_decode, cursor) if e.id not in seen and e.fields.get("gate_id") in gates
    ]
    return sorted(steps + extra, key=lambda e: e.id) if extra else steps


# --------------------------------------------------------------------------- runs


@dataclass(slots=True)
class AgentSummary:
    name: str
    usage: UsageTotals = field(default_factory=UsageTotals)
    outcome: str = "unknown"
    reason: str = ""


@dataclass(slots=True)
class RunSummary:
    """One run: when, which swarm, how it ended, and what each agent spent."""

    id: str
    swarm: str
    started: float
    ended: float | None  # the run_ended event's time; None while running/unknown
    last_ts: float
    outcome: str
    detail: str
    events: int
    agents: dict[str, AgentSummary]
    first_id: int = 0
    metered_tokens: int | None = None  # what run_ended says the meters counted
    metered_cost_usd: float | None = None

    def unrecorded(self) -> str:
        """How the usage rows fall short of what run_ended says was metered ("" if they agree)."""
        if self.metered_tokens is None:
            return ""
        usage = self.usage
        metered_cost = self.metered_cost_usd or 0.0
        if self.metered_tokens == usage.total_tokens and abs(metered_cost - usage.cost_usd) < 1e-6:
            return ""
        return (
            f"the meters counted {self.metered_tokens:,} tokens and ${metered_cost:.4f}; "
            f"the usage events add up to {usage.total_tokens:,} and ${usage.cost_usd:.4f}"
        )

    @property
    def usage(self) -> UsageTotals:
        total = UsageTotals()
        for summary in self.agents.values():
            total.add(summary.usage.as_dict())
        return total


def runs(conn: sqlite3.Connection, run: str | None = None) -> list[RunSummary]:
    """Every run (or just ``run``), oldest first, with per-agent usage and outcomes.

    Counting events walks the ``events_run`` index once (no row is read);
    usage and outcomes read only ``usage`` and lifecycle rows.
    """
    only = " AND run = ?" if run is not None else ""
    args: tuple[str, ...] = (run,) if run is not None else ()
    spans = conn.execute(
        f"SELECT run, count(*), min(id), max(id) FROM events WHERE 1{only} GROUP BY run", args
    ).fetchall()
    if not spans:
        return []
    ids = [s[2] for s in spans] + [s[3] for s in spans]
    ts_of = dict(
        conn.execute(
            f"SELECT id, ts FROM events WHERE id IN ({', '.join('?' * len(ids))})", ids
        ).fetchall()
    )
    summaries = {
        name: RunSummary(name, "", ts_of[lo], None, ts_of[hi], UNKNOWN, "", count, {}, lo)
        for name, count, lo, hi in spans
    }
    for name, kind, ts, payload in conn.execute(
        f"SELECT run, kind, ts, payload FROM events WHERE kind IN ('run_started', 'run_ended')"
        f"{only} ORDER BY id",
        args,
    ):
        fields = json.loads(payload)
        if kind == "run_started":
            summaries[name].swarm = str(fields.get("swarm", ""))
        else:
            ended = summaries[name]
            ended.outcome = str(fields.get("outcome", UNKNOWN))
            ended.detail = str(fields.get("detail", ""))
            ended.ended = ts
            if isinstance(fields.get("total_tokens"), int):
                ended.metered_tokens = int(fields["total_tokens"])
                ended.metered_cost_usd = float(fields.get("cost_usd") or 0.0)

    def agent_of(name: str, agent: str) -> AgentSummary:
        return summaries[name].agents.setdefault(agent, AgentSummary(agent))

    for name, agent, i, o, cr, cc, cost, turns in conn.execute(
        "SELECT run, agent,"
        " sum(json_extract(payload, '$.input_tokens')),"
        " sum(json_extract(payload, '$.output_tokens')),"
        " sum(json_extract(payload, '$.cache_read_input_tokens')),"
        " sum(json_extract(payload, '$.cache_creation_input_tokens')),"
        " total(json_extract(payload, '$.cost_usd')),"
        " sum(coalesce(json_extract(payload, '$.turns'), 1))"
        f" FROM events WHERE kind = 'usage' AND agent IS NOT NULL{only} GROUP BY run, agent",
        args,
    ):
        agent_of(name, agent).usage = UsageTotals(
            int(i or 0), int(o or 0), int(cr or 0), int(cc or 0), float(cost), int(turns or 0)
        )

    lasts: dict[tuple[str, str], dict[str, tuple[int, dict[str, Any]]]] = {}
    kinds = ", ".join(f"'{k}'" for k in _END_KINDS)
    # SQLite returns the bare `payload` column from the row holding max(id).
    for name, agent, kind, last_id, payload in conn.execute(
        f"SELECT run, agent, kind, max(id), payload FROM events WHERE kind IN ({kinds})"
        f" AND agent IS NOT NULL{only} GROUP BY run, agent, kind",
        args,
    ):
        lasts.setdefault((name, agent), {})[kind] = (last_id, json.loads(payload))
    for (name, agent), last in lasts.items():
        summary = agent_of(name, agent)
        summary.outcome, summary.reason = derive_outcome(last)
    for run_summary in summaries.values():
        run_summary.agents = dict(sorted(run_summary.agents.items()))
    return sorted(summaries.values(), key=lambda s: s.first_id)


def recorded_processes(conn: sqlite3.Connection, runs: int = 20) -> list[RecordedProcess]:
    """The agent processes recorded by the newest ``runs`` runs of this database."""
    run_rows = conn.execute(
        "SELECT run FROM events WHERE kind = 'run_started' ORDER BY id DESC LIMIT ?", (runs,)
    ).fetchall()
    found: list[RecordedProcess] = []
    for (run,) in run_rows:
        for agent, payload in conn.execute(
            "SELECT agent, payload FROM events WHERE run = ? AND kind = 'agent_spawned'",
            (run,),
        ):
            data = json.loads(payload)
            found.append(
                RecordedProcess(run, agent or "", int(data["pid"]), float(data["create_time"]))
            )
    return found


def recorded_processes_in(db: Path, runs: int = 20) -> list[RecordedProcess]:
    """``recorded_processes`` of the database file ``db`` (none when it does not exist yet)."""
    if not db.exists():
        return []
    conn = open_readonly(db)
    try:
        return recorded_processes(conn, runs)
    finally:
        conn.close()


def recorded_cgroups(conn: sqlite3.Connection, runs: int = 20) -> dict[str, list[str]]:
    """The cgroup directories each of the newest ``runs`` runs made (``containment`` events)."""
    run_rows = conn.execute(
        "SELECT run FROM events WHERE kind = 'run_started' ORDER BY id DESC LIMIT ?", (runs,)
    ).fetchall()
    found: dict[str, list[str]] = {}
    for (run,) in run_rows:
        for (payload,) in conn.execute(
            "SELECT payload FROM events WHERE run = ? AND kind = 'containment'", (run,)
        ):
            dirs = json.loads(payload).get("cgroups") or []
            found.setdefault(run, []).extend(str(d) for d in dirs)
    return found


def recorded_cgroups_in(db: Path, runs: int = 20) -> dict[str, list[str]]:
    """``recorded_cgroups`` of the database file ``db`` (none when it does not exist yet)."""
    if not db.exists():
        return {}
    conn = open_readonly(db)
    try:
        return recorded_cgroups(conn, runs)
    finally:
        conn.close()


def last_event_id(conn: sqlite3.Connection) -> int:
    """The id of the newest event (0 in an empty log)."""
    return int(conn.execute("SELECT max(id) FROM events").fetchone()[0] or 0)
