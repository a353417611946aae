"""Every run in the log (``audit runs``): when, which swarm, how it ended, who spent what.

A handful of grouped queries over the ``events_run`` and ``events_kind``
indexes, never a scan of every payload.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from controlroom.models.kinds import EventKind
from controlroom.store.outcomes import END_KINDS, UNKNOWN, UsageTotals, derive_outcome

__all__ = ["AgentSummary", "RunSummary", "runs"]


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
    scope = _Scope(run)
    summaries = _spans(conn, scope)
    if not summaries:
        return []
    _read_run_events(conn, scope, summaries)
    _read_usage(conn, scope, summaries)
    _read_outcomes(conn, scope, summaries)
    for run_summary in summaries.values():
        run_summary.agents = dict(sorted(run_summary.agents.items()))
    return sorted(summaries.values(), key=lambda s: s.first_id)


@dataclass(frozen=True, slots=True)
class _Scope:
    """The SQL term and arguments that narrow a query to one run (or to none)."""

    run: str | None

    @property
    def sql(self) -> str:
        return " AND run = ?" if self.run is not None else ""

    @property
    def args(self) -> tuple[str, ...]:
        return (self.run,) if self.run is not None else ()


def _spans(conn: sqlite3.Connection, scope: _Scope) -> dict[str, RunSummary]:
    """One summary per run from its event count and first and last ids."""
    spans = conn.execute(
        f"SELECT run, count(*), min(id), max(id) FROM events WHERE 1{scope.sql} GROUP BY run",
        scope.args,
    ).fetchall()
    if not spans:
        return {}
    ids = [s[2] for s in spans] + [s[3] for s in spans]
    ts_of = dict(
        conn.execute(
            f"SELECT id, ts FROM events WHERE id IN ({', '.join('?' * len(ids))})", ids
        ).fetchall()
    )
    return {
        name: RunSummary(name, "", ts_of[lo], None, ts_of[hi], UNKNOWN, "", count, {}, lo)
        for name, count, lo, hi in spans
    }


def _read_run_events(
    conn: sqlite3.Connection, scope: _Scope, summaries: dict[str, RunSummary]
) -> None:
    """The swarm from ``run_started``; outcome, end and meter figures from ``run_ended``."""
    for name, kind, ts, payload in conn.execute(
        "SELECT run, kind, ts, payload FROM events"
        f" WHERE kind IN ('{EventKind.RUN_STARTED}', '{EventKind.RUN_ENDED}')"
        f"{scope.sql} ORDER BY id",
        scope.args,
    ):
        fields = json.loads(payload)
        if kind == EventKind.RUN_STARTED:
            summaries[name].swarm = str(fields.get("swarm", ""))
            continue
        ended = summaries[name]
        ended.outcome = str(fields.get("outcome", UNKNOWN))
        ended.detail = str(fields.get("detail", ""))
        ended.ended = ts
        if isinstance(fields.get("total_tokens"), int):
            ended.metered_tokens = int(fields["total_tokens"])
            ended.metered_cost_usd = float(fields.get("cost_usd") or 0.0)


def _agent(summaries: dict[str, RunSummary], name: str, agent: str) -> AgentSummary:
    return summaries[name].agents.setdefault(agent, AgentSummary(agent))


def _read_usage(conn: sqlite3.Connection, scope: _Scope, summaries: dict[str, RunSummary]) -> None:
    """Per run and agent, the sums of its ``usage`` events (summed by SQLite).

    As in the meter (policy/meters.py): once the metering proxy metered an
    agent, its spend is the wire's alone; what it said itself (its own and
    reconcile rows) is a second account of the same tokens, not more spend.
    """
    sums: dict[tuple[str, str], dict[bool, UsageTotals]] = {}
    for name, agent, wire, i, o, cr, cc, cost, turns in conn.execute(
        "SELECT run, agent, json_extract(payload, '$.source') = 'proxy',"
        " sum(json_extract(payload, '$.input_tokens')),"
        " sum(json_extract(payload, '$.output_tokens')),"
        " sum(json_extract(payload, '$.cache_read_input_tokens')),"
        " sum(json_extract(payload, '$.cache_creation_input_tokens')),"
        " total(json_extract(payload, '$.cost_usd')),"
        " sum(coalesce(json_extract(payload, '$.turns'), 1))"
        f" FROM events WHERE kind = '{EventKind.USAGE}' AND agent IS NOT NULL{scope.sql}"
        " GROUP BY run, agent, 3",
        scope.args,
    ):
        sums.setdefault((name, agent), {})[bool(wire)] = UsageTotals(
            int(i or 0), int(o or 0), int(cr or 0), int(cc or 0), float(cost), int(turns or 0)
        )
    for (name, agent), by_wire in sums.items():
        _agent(summaries, name, agent).usage = by_wire.get(True) or by_wire[False]


def _read_outcomes(
    conn: sqlite3.Connection, scope: _Scope, summaries: dict[str, RunSummary]
) -> None:
    """Per run and agent, its outcome from the last event of each lifecycle kind."""
    lasts: dict[tuple[str, str], dict[str, tuple[int, dict[str, Any]]]] = {}
    kinds = ", ".join(f"'{k}'" for k in END_KINDS)
    # SQLite returns the bare `payload` column from the row holding max(id).
    for name, agent, kind, last_id, payload in conn.execute(
        f"SELECT run, agent, kind, max(id), payload FROM events WHERE kind IN ({kinds})"
        f" AND agent IS NOT NULL{scope.sql} GROUP BY run, agent, kind",
        scope.args,
    ):
        lasts.setdefault((name, agent), {})[kind] = (last_id, json.loads(payload))
    for (name, agent), last in lasts.items():
        summary = _agent(summaries, name, agent)
        summary.outcome, summary.reason = derive_outcome(last)
