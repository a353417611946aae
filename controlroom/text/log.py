"""Which events the headless and detached logs print, and how one line of them reads.

Usage and output lines stay in the audit log; a line is printed for what
an operator must see as it happens.
"""

from __future__ import annotations

import time

from controlroom.models import (
    AgentState,
    AgentStateChanged,
    EventBase,
    FilesChanged,
)
from controlroom.models.kinds import EventKind
from controlroom.text.registry import describe

__all__ = ["LOG_KINDS", "format_line", "worth_a_line"]


LOG_KINDS: frozenset[EventKind] = frozenset(
    {
        EventKind.RUN_STARTED,
        EventKind.RUN_ENDED,
        EventKind.AGENT_SPAWNED,
        EventKind.AGENT_EXITED,
        EventKind.AGENT_CRASHED,
        EventKind.BUDGET_WARNING,
        EventKind.BUDGET_EXCEEDED,
        EventKind.LIMIT_EXCEEDED,
        EventKind.CONTAINMENT,
        EventKind.EGRESS,
        EventKind.BREAKER_OPENED,
        EventKind.BREAKER_RESET,
        EventKind.KILL_REQUESTED,
        EventKind.KILL_COMPLETED,
        EventKind.AGENT_PAUSED,
        EventKind.AGENT_RESUMED,
        EventKind.HANDOFF,
        EventKind.HANDOFF_REJECTED,
        EventKind.GATE_REQUESTED,
        EventKind.GATE_DECIDED,
        EventKind.GATE_EXPIRED,
        EventKind.ORPHAN_FOUND,
        EventKind.OPERATOR_ACTION,
        EventKind.SOCKET_REFUSED,
        EventKind.PROXY_STARTED,
        EventKind.REQUEST_REFUSED,
        EventKind.STREAM_CUT,
        EventKind.METER_DISAGREEMENT,
        EventKind.COLLISION,
        EventKind.COLLISION_CLEARED,
        EventKind.SCOPE_VIOLATION,
        EventKind.HANDOFF_CHECKED,
        EventKind.INTEGRATION_READY,
        EventKind.MERGE_COMPLETED,
        EventKind.MERGE_REFUSED,
        EventKind.MERGE_SKIPPED,
        EventKind.AUDIT_FAILED,
        EventKind.AUDIT_RECOVERED,
        EventKind.NOTIFICATION_SENT,
        EventKind.NOTIFICATION_FAILED,
    }
)
"""Kinds the headless and detached logs print a line for (usage and output stay in the log)."""


def worth_a_line(event: EventBase) -> bool:
    """Whether a log prints ``event``: the kinds above, an agent blocked by its upstream, and a
    change set once git confirmed it (the watcher's quick looks between stay in the log)."""
    kind: str = getattr(event, "kind", "")
    if kind in LOG_KINDS:
        return True
    if isinstance(event, FilesChanged):
        return event.confirmed
    return isinstance(event, AgentStateChanged) and event.state == AgentState.BLOCKED


def format_line(event: EventBase) -> str:
    """``02:03:04 #57     runaway        budget exceeded: …`` (local time)."""
    clock = time.strftime("%H:%M:%S", time.localtime(event.ts))
    return f"{clock} #{event.seq:<6} {event.agent or '-':<14} {describe(event)}"
