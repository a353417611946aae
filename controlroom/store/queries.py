"""Read-side queries over the audit log: what happened, to whom, and what it cost.

The one import path for readers of the log; each job lives in its own module
(listing, outcomes, timeline, runs, recorded, when) and is re-exported here.

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

from controlroom.store.listing import (
    EventRow,
    agents,
    get_event,
    iter_events,
    last_event_id,
    list_events,
)
from controlroom.store.outcomes import UNKNOWN, UsageTotals, derive_outcome
from controlroom.store.recorded import (
    recorded_cgroups,
    recorded_cgroups_in,
    recorded_processes,
    recorded_processes_in,
)
from controlroom.store.runs import AgentSummary, RunSummary, runs
from controlroom.store.timeline import Timeline, timeline
from controlroom.store.when import parse_when
from controlroom.text import BASE_KEYS

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
    "last_event_id",
    "list_events",
    "parse_when",
    "recorded_cgroups",
    "recorded_cgroups_in",
    "recorded_processes",
    "recorded_processes_in",
    "runs",
    "timeline",
]
