"""Events of control: handoffs and gates, breakers, kills, pauses, the operator, the log's health.

Each records an action or decision, written to the audit log before the
action is reported done.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from controlroom.models.event_base import EventBase
from controlroom.models.handoff import Handoff
from controlroom.models.state import GateKind

__all__ = [
    "AgentPaused",
    "AgentResumed",
    "AuditFailed",
    "AuditRecovered",
    "BreakerOpened",
    "BreakerReset",
    "GateDecided",
    "GateExpired",
    "GateRequested",
    "HandoffEvent",
    "HandoffRejected",
    "KillCompleted",
    "KillRequested",
    "NotificationFailed",
    "NotificationSent",
    "OperatorAction",
    "SocketRefused",
]


class HandoffEvent(EventBase):
    """A valid handoff produced by an agent (it may still wait at a gate)."""

    kind: Literal["handoff"] = "handoff"
    handoff: Handoff
    attempt: int = 1
    extra: dict[str, Any] = Field(default_factory=dict)


class HandoffRejected(EventBase):
    """A handoff that broke a rule; nothing was truncated, the stage fails."""

    kind: Literal["handoff_rejected"] = "handoff_rejected"
    field: str
    reason: str


class GateRequested(EventBase):
    kind: Literal["gate_requested"] = "gate_requested"
    gate_id: str
    gate_kind: GateKind
    title: str = ""
    detail: str = ""
    handoff: Handoff | None = None
    tool: dict[str, Any] | None = None  # {"name": ..., "input": {...}}
    timeout_seconds: float | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class GateDecided(EventBase):
    kind: Literal["gate_decided"] = "gate_decided"
    gate_id: str
    approved: bool
    by: str
    reason: str = ""


class GateExpired(EventBase):
    """A gate nobody decided in time: it counts as rejected."""

    kind: Literal["gate_expired"] = "gate_expired"
    gate_id: str
    waited_seconds: float = 0.0


class BreakerOpened(EventBase):
    kind: Literal["breaker_opened"] = "breaker_opened"
    reason: str
    failures: int = 0


class BreakerReset(EventBase):
    kind: Literal["breaker_reset"] = "breaker_reset"
    by: str


class KillRequested(EventBase):
    kind: Literal["kill_requested"] = "kill_requested"
    by: str
    reason: str = ""


class KillCompleted(EventBase):
    kind: Literal["kill_completed"] = "kill_completed"
    duration_ms: float
    survivors: int
    processes: int = 0  # how many processes the tree had when the kill began
    escalated: bool = False  # SIGKILL was needed


class AgentPaused(EventBase):
    kind: Literal["agent_paused"] = "agent_paused"
    by: str


class AgentResumed(EventBase):
    kind: Literal["agent_resumed"] = "agent_resumed"
    by: str
    paused_seconds: float = 0.0


class OperatorAction(EventBase):
    """Anything an operator did that has no event of its own (restart, refusal, ...)."""

    kind: Literal["operator_action"] = "operator_action"
    action: str
    by: str
    detail: dict[str, Any] = Field(default_factory=dict)


class SocketRefused(EventBase):
    """A control-room channel refused a connection or a request: who, on which channel, why.

    ``channel`` is ``operator`` or the agent whose channel it was; ``agent``
    is whose the peer is, when that is known (its cgroup or marker).
    """

    kind: Literal["socket_refused"] = "socket_refused"
    channel: str
    pid: int
    uid: int
    op: str = ""
    reason: str


class AuditFailed(EventBase):
    """The audit log could not be written: every agent was frozen at once.

    Recorded once the log takes it (when it recovers, or into its reserve);
    the headless log and the screens show it at once. ``grace_seconds``: the
    swarm is stopped if the log is not sound again within that time.
    """

    kind: Literal["audit_failed"] = "audit_failed"
    reason: str
    frozen: list[str] = Field(default_factory=list)
    grace_seconds: float = 0.0


class AuditRecovered(EventBase):
    """The audit log is written again: what was held was committed, the frozen agents thawed."""

    kind: Literal["audit_recovered"] = "audit_recovered"
    failed_seconds: float
    thawed: list[str] = Field(default_factory=list)


class NotificationSent(EventBase):
    """An operator was told ``notice`` (``gate_waiting``, ``budget_stop``…) by ``channel``.

    ``notify`` names the ``[[notify]]`` entry; ``target`` is where it went as
    the log may say it (a webhook's scheme and host only: its path is often
    its token); ``about_seq`` is the seq of the event it told of.
    """

    kind: Literal["notification_sent"] = "notification_sent"
    notify: str
    notice: str
    channel: str
    target: str = ""
    attempts: int = 1
    duration_ms: float = 0.0
    about_seq: int = 0


class NotificationFailed(EventBase):
    """A notification that did not get through after ``attempts`` tries: why (``error``)."""

    kind: Literal["notification_failed"] = "notification_failed"
    notify: str
    notice: str
    channel: str
    target: str = ""
    attempts: int = 1
    duration_ms: float = 0.0
    about_seq: int = 0
    error: str = ""
