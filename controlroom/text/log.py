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
from controlroom.text.registry import describe

__all__ = ["LOG_KINDS", "format_line", "worth_a_line"]


LOG_KINDS = frozenset(
    {
        "run_started",
        "run_ended",
        "agent_spawned",
        "agent_exited",
        "agent_crashed",
        "budget_warning",
        "budget_exceeded",
        "limit_exceeded",
        "containment",
        "egress",
        "breaker_opened",
        "breaker_reset",
        "kill_requested",
        "kill_completed",
        "agent_paused",
        "agent_resumed",
        "handoff",
        "handoff_rejected",
        "gate_requested",
        "gate_decided",
        "gate_expired",
        "orphan_found",
        "operator_action",
        "socket_refused",
        "proxy_started",
        "request_refused",
        "stream_cut",
        "meter_disagreement",
        "collision",
        "collision_cleared",
        "scope_violation",
        "handoff_checked",
        "integration_ready",
        "merge_completed",
        "merge_refused",
        "merge_skipped",
        "audit_failed",
        "audit_recovered",
        "notification_sent",
        "notification_failed",
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
