"""Every event kind as a ``StrEnum``: screens and the CLI name a kind through it, never a literal.

A kind compares equal to its string (``EventKind.USAGE == "usage"``), so the
audit log and the socket keep the strings they always carried. The members are
the ``kind`` of every event of ``models.events``; a test holds the two equal.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["EventKind"]


class EventKind(StrEnum):
    """The ``kind`` of an event (``models.events``)."""

    AGENT_CRASHED = "agent_crashed"
    AGENT_EXITED = "agent_exited"
    AGENT_OUTPUT = "agent_output"
    AGENT_PAUSED = "agent_paused"
    AGENT_RESULT = "agent_result"
    AGENT_RESUMED = "agent_resumed"
    AGENT_SPAWNED = "agent_spawned"
    AGENT_STATE = "agent_state"
    AUDIT_FAILED = "audit_failed"
    AUDIT_RECOVERED = "audit_recovered"
    BREAKER_OPENED = "breaker_opened"
    BREAKER_RESET = "breaker_reset"
    BUDGET_EXCEEDED = "budget_exceeded"
    BUDGET_WARNING = "budget_warning"
    COLLISION = "collision"
    COLLISION_CLEARED = "collision_cleared"
    CONFIG_LOADED = "config_loaded"
    CONTAINMENT = "containment"
    EGRESS = "egress"
    ERROR = "error"
    FILES_CHANGED = "files_changed"
    GATE_DECIDED = "gate_decided"
    GATE_EXPIRED = "gate_expired"
    GATE_REQUESTED = "gate_requested"
    HANDOFF = "handoff"
    HANDOFF_CHECKED = "handoff_checked"
    HANDOFF_REJECTED = "handoff_rejected"
    INTEGRATION_READY = "integration_ready"
    KILL_COMPLETED = "kill_completed"
    KILL_REQUESTED = "kill_requested"
    LIMIT_EXCEEDED = "limit_exceeded"
    MALFORMED_OUTPUT = "malformed_output"
    MERGE_COMPLETED = "merge_completed"
    MERGE_REFUSED = "merge_refused"
    MERGE_SKIPPED = "merge_skipped"
    METER_DISAGREEMENT = "meter_disagreement"
    NOTIFICATION_FAILED = "notification_failed"
    NOTIFICATION_SENT = "notification_sent"
    OPERATOR_ACTION = "operator_action"
    ORPHAN_FOUND = "orphan_found"
    PROXY_STARTED = "proxy_started"
    REQUEST_REFUSED = "request_refused"
    RUN_ENDED = "run_ended"
    RUN_STARTED = "run_started"
    SCOPE_VIOLATION = "scope_violation"
    SOCKET_REFUSED = "socket_refused"
    STATUS = "status"
    STREAM_CUT = "stream_cut"
    TOOL_CALL = "tool_call"
    USAGE = "usage"
