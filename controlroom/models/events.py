"""The events: one discriminated union of everything that happens in a swarm.

Events are the single source of truth: whatever a screen shows is derived
from them, so a restarted control room (or a replay) can rebuild its state
from the audit log. Each is a pydantic model with a literal ``kind``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from controlroom.models.event_base import EventBase
from controlroom.models.events_control import (
    AgentPaused,
    AgentResumed,
    AuditFailed,
    AuditRecovered,
    BreakerOpened,
    BreakerReset,
    GateDecided,
    GateExpired,
    GateRequested,
    HandoffEvent,
    HandoffRejected,
    KillCompleted,
    KillRequested,
    NotificationFailed,
    NotificationSent,
    OperatorAction,
    SocketRefused,
)
from controlroom.models.events_run import (
    AgentCrashed,
    AgentExited,
    AgentOutput,
    AgentResult,
    AgentSpawned,
    AgentStateChanged,
    ConfigLoaded,
    ContainmentReady,
    ErrorEvent,
    MalformedOutput,
    OrphanFound,
    RunEnded,
    RunStarted,
    StatusEvent,
    ToolCall,
)
from controlroom.models.events_spend import (
    BudgetExceeded,
    BudgetWarning,
    Egress,
    LimitExceeded,
    MeterDisagreement,
    ProxyStarted,
    RequestRefused,
    StreamCut,
    Usage,
)
from controlroom.models.events_workspace import (
    FILES_LISTED,
    CollisionCleared,
    CollisionFound,
    FilesChanged,
    HandoffChecked,
    IntegrationReady,
    MergeCompleted,
    MergeRefused,
    MergeSkipped,
    ScopeViolation,
)

__all__ = [
    "EVENT_ADAPTER",
    "EVENT_KINDS",
    "FILES_LISTED",
    "AgentCrashed",
    "AgentExited",
    "AgentOutput",
    "AgentPaused",
    "AgentResult",
    "AgentResumed",
    "AgentSpawned",
    "AgentStateChanged",
    "AuditFailed",
    "AuditRecovered",
    "BreakerOpened",
    "BreakerReset",
    "BudgetExceeded",
    "BudgetWarning",
    "CollisionCleared",
    "CollisionFound",
    "ConfigLoaded",
    "ContainmentReady",
    "Egress",
    "ErrorEvent",
    "Event",
    "EventBase",
    "GateDecided",
    "GateExpired",
    "GateRequested",
    "FilesChanged",
    "HandoffChecked",
    "HandoffEvent",
    "HandoffRejected",
    "IntegrationReady",
    "KillCompleted",
    "KillRequested",
    "LimitExceeded",
    "MalformedOutput",
    "MergeCompleted",
    "MergeRefused",
    "MergeSkipped",
    "MeterDisagreement",
    "NotificationFailed",
    "NotificationSent",
    "OperatorAction",
    "OrphanFound",
    "SocketRefused",
    "ProxyStarted",
    "RequestRefused",
    "RunEnded",
    "RunStarted",
    "ScopeViolation",
    "StatusEvent",
    "StreamCut",
    "ToolCall",
    "Usage",
]


Event = Annotated[
    RunStarted
    | RunEnded
    | ConfigLoaded
    | ContainmentReady
    | AgentSpawned
    | AgentOutput
    | MalformedOutput
    | AgentExited
    | AgentCrashed
    | AgentStateChanged
    | Usage
    | AgentResult
    | StatusEvent
    | ToolCall
    | HandoffEvent
    | HandoffRejected
    | GateRequested
    | GateDecided
    | GateExpired
    | BudgetWarning
    | BudgetExceeded
    | LimitExceeded
    | Egress
    | BreakerOpened
    | BreakerReset
    | KillRequested
    | KillCompleted
    | AgentPaused
    | AgentResumed
    | OperatorAction
    | SocketRefused
    | OrphanFound
    | ProxyStarted
    | RequestRefused
    | StreamCut
    | MeterDisagreement
    | ErrorEvent
    | FilesChanged
    | CollisionFound
    | CollisionCleared
    | ScopeViolation
    | HandoffChecked
    | IntegrationReady
    | MergeCompleted
    | MergeRefused
    | MergeSkipped
    | NotificationSent
    | NotificationFailed
    | AuditFailed
    | AuditRecovered,
    Field(discriminator="kind"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_KINDS: tuple[str, ...] = tuple(
    sorted(
        m.model_fields["kind"].default
        for m in EventBase.__subclasses__()
        if "kind" in m.model_fields
    )
)
