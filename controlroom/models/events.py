"""The events: one discriminated union of everything that happens in a swarm.

Events are the single source of truth: whatever a screen shows is derived
from them, so a restarted control room (or a replay) can rebuild its state
from the audit log. Each is a pydantic model with a literal ``kind``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from controlroom.models.changes import Collision, CollisionKind, Discrepancy, FileChange
from controlroom.models.handoff import Handoff

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


class EventBase(BaseModel):
    """Fields every event carries.

    ``run`` and ``seq`` are stamped by whoever publishes the event (the
    supervisor's bus, or the audit store when used alone); ``agent`` is None
    for swarm-level events. ``ts`` is seconds since the epoch (UTC).
    """

    model_config = ConfigDict(extra="forbid")

    run: str = ""
    seq: int = 0
    ts: float = Field(default_factory=time.time)
    agent: str | None = None


class RunStarted(EventBase):
    kind: Literal["run_started"] = "run_started"
    swarm: str
    pid: int
    version: str = ""
    mode: str = "headless"  # headless, tui, demo


class RunEnded(EventBase):
    """How a run ended, and what its meters counted: the log's own statement of the spend,
    which the usage rows before it must add up to (``audit runs`` checks)."""

    kind: Literal["run_ended"] = "run_ended"
    outcome: str  # "success", "failed", "stopped", "interrupted", "audit_failed"
    detail: str = ""
    total_tokens: int | None = None
    cost_usd: float | None = None


class ContainmentReady(EventBase):
    """How this run contains its agents, and why (published right after ``run_started``).

    ``mode`` is ``cgroup`` (each agent in its own cgroup: kill, pause and
    limits by the kernel) or ``process-tree`` (the tree walk plus the
    environment-marker sweep); ``reason`` says why the other was not used.
    ``limits`` maps each limit controller to how it is enforced here (or why
    not); ``cgroups`` lists every cgroup directory this run made, so the next
    start can clean up after a crash; ``cleaned`` the leftovers of earlier
    runs this start removed.
    """

    kind: Literal["containment"] = "containment"
    mode: Literal["cgroup", "process-tree"]
    path: str = ""
    reason: str = ""
    limits: dict[str, str] = Field(default_factory=dict)
    cgroups: list[str] = Field(default_factory=list)
    cleaned: list[str] = Field(default_factory=list)


class ConfigLoaded(EventBase):
    kind: Literal["config_loaded"] = "config_loaded"
    path: str
    agents: list[str]
    sha256: str = ""


class AgentSpawned(EventBase):
    kind: Literal["agent_spawned"] = "agent_spawned"
    pid: int
    create_time: float
    argv: list[str]
    workspace: str
    attempt: int = 1
    cgroup: str = ""  # the agent's own cgroup, when the run contains agents in cgroups
    sandbox: str = ""  # "workspace" when it runs under bubblewrap
    allow_hosts: list[str] = Field(default_factory=list)  # its egress allowlist, if sandboxed


class AgentOutput(EventBase):
    """A log line from an agent (stdout that is not protocol, or stderr)."""

    kind: Literal["agent_output"] = "agent_output"
    stream: Literal["stdout", "stderr"] = "stdout"
    text: str


class MalformedOutput(EventBase):
    """A line that could not be read: too long, not UTF-8, binary, broken JSON."""

    kind: Literal["malformed_output"] = "malformed_output"
    stream: Literal["stdout", "stderr"] = "stdout"
    reason: str
    preview: str = ""
    length: int = 0


class AgentExited(EventBase):
    kind: Literal["agent_exited"] = "agent_exited"
    returncode: int | None
    signal: str | None = None  # e.g. "SIGTERM" when it died of a signal
    success: bool
    duration_seconds: float = 0.0


class AgentStateChanged(EventBase):
    """Every transition of an agent's state (see ``AgentState``), with why."""

    kind: Literal["agent_state"] = "agent_state"
    state: str
    previous: str = ""
    reason: str = ""


class AgentCrashed(EventBase):
    """An agent could not be started, or its process was lost unexpectedly."""

    kind: Literal["agent_crashed"] = "agent_crashed"
    reason: str


class Usage(EventBase):
    """Token deltas. Field names are the Anthropic API's own.

    ``turns`` is how many model turns this delta covers (one API response is
    one turn; a reconciliation may add some). ``source`` says who counted: the
    agent itself, the metering proxy, or a reconciliation to an authoritative
    total (Claude Code's ``result``). Every count is a delta that only adds:
    meters only go up, so a total reported lower than what was already
    counted is kept as ``extra["discrepancy"]``, never as a negative count.

    ``cache_creation_input_tokens`` counts every cache write, as the API's own
    field does; ``cache_creation_1h_input_tokens`` is the part of it written
    with the 1-hour TTL (the API's ``cache_creation.ephemeral_1h_input_tokens``),
    which is priced at its own, higher rate.
    """

    kind: Literal["usage"] = "usage"
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cache_read_input_tokens: int = Field(default=0, ge=0)
    cache_creation_input_tokens: int = Field(default=0, ge=0)
    cache_creation_1h_input_tokens: int = Field(default=0, ge=0)
    model: str | None = None
    turns: int = Field(default=1, ge=0)
    source: Literal["agent", "proxy", "reconcile"] = "agent"
    cost_usd: float = 0.0  # priced by the meter when the event is published
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
        )


class AgentResult(EventBase):
    """An agent's own final report (Claude Code's ``result`` event)."""

    kind: Literal["agent_result"] = "agent_result"
    is_error: bool
    subtype: str = ""
    num_turns: int | None = None
    reported_cost_usd: float | None = None
    text: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)


class StatusEvent(EventBase):
    kind: Literal["status"] = "status"
    text: str
    extra: dict[str, Any] = Field(default_factory=dict)


class ToolCall(EventBase):
    kind: Literal["tool_call"] = "tool_call"
    name: str
    input: dict[str, Any] = Field(default_factory=dict)
    tool_use_id: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


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
    gate_kind: Literal["handoff", "tool", "agent"]
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


class BudgetWarning(EventBase):
    kind: Literal["budget_warning"] = "budget_warning"
    limit: str  # max_tokens, max_cost_usd, max_wall_seconds, max_turns, swarm_max_cost_usd
    value: float
    cap: float
    fraction: float


class BudgetExceeded(EventBase):
    """A limit was reached and the agent stopped.

    ``value`` and ``overshoot`` are as of the decision. The agent is frozen at
    once, but what it had already written (the rest of the output being read,
    what sat in its pipes) is still read and metered: ``after_decision_tokens``
    and ``after_decision_lines`` say how much that was (0 in logs written
    before they were recorded).
    """

    kind: Literal["budget_exceeded"] = "budget_exceeded"
    limit: str
    value: float
    cap: float
    overshoot: float
    after_decision_tokens: int = 0
    after_decision_lines: int = 0


class LimitExceeded(EventBase):
    """The kernel enforced one of an agent's ``limits``: an OOM kill, a refused fork.

    ``limit`` names it (``memory_max``, ``pids_max``); ``count`` is how many
    times the kernel struck so far (OOM kills, refused forks); ``cap`` the
    configured value. The agent is then stopped: this is why, not a crash.
    """

    kind: Literal["limit_exceeded"] = "limit_exceeded"
    limit: str
    cap: float
    count: int = 1
    detail: str = ""


class Egress(EventBase):
    """A sandboxed agent's connection through the egress proxy: allowed or refused.

    Recorded before it is carried out, with the host and port the agent
    asked for (``method`` is ``CONNECT`` for HTTPS and raw TCP, or the plain
    HTTP method); ``reason`` says why a refused one was refused.
    """

    kind: Literal["egress"] = "egress"
    host: str
    port: int
    method: str = "CONNECT"
    allowed: bool
    reason: str = ""


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


class OrphanFound(EventBase):
    """An agent of an earlier run still alive when the control room started."""

    kind: Literal["orphan_found"] = "orphan_found"
    pid: int
    create_time: float
    from_run: str
    killed: bool = False


class ProxyStarted(EventBase):
    """The metering proxy is listening: every agent's model traffic is metered from here on."""

    kind: Literal["proxy_started"] = "proxy_started"
    url: str  # http://127.0.0.1:PORT (agents add /a/<their token>)
    socket: str = ""  # the unix socket serving the same routes, for sandboxed agents
    upstream: str
    credentials: Literal["swap", "passthrough"]


class RequestRefused(EventBase):
    """The proxy answered a request itself, with an API-shaped error: nothing went upstream.

    ``limit`` names the budget that did not have room (the governor then stops
    the agent); it is None for a refusal that is not about money (an unknown
    token, a path the proxy does not forward, a body that is not JSON).
    """

    kind: Literal["request_refused"] = "request_refused"
    status: int
    reason: str
    limit: str | None = None
    needed: float = 0.0  # what the request needed at least (tokens, or USD for a cost limit)
    available: float = 0.0  # what was left of the limit
    cap: float = 0.0  # the limit's cap


class StreamCut(EventBase):
    """A streamed answer crossed a cap: the proxy ended it there with an API error event."""

    kind: Literal["stream_cut"] = "stream_cut"
    limit: str
    reason: str
    events_relayed: int = 0


class MeterDisagreement(EventBase):
    """What an agent reported about its own usage differs from the wire meter by over 5 %.

    The budget uses the wire figures; both are kept, and this flags the gap.
    """

    kind: Literal["meter_disagreement"] = "meter_disagreement"
    wire_tokens: int
    reported_tokens: int
    wire_cost_usd: float
    reported_cost_usd: float
    fraction: float  # the larger relative gap, of tokens or of cost


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


class ErrorEvent(EventBase):
    """An error an agent reported (native ``error``) or the control room met."""

    kind: Literal["error"] = "error"
    message: str
    where: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)


class FilesChanged(EventBase):
    """An agent's change set moved: every file it changed against ``base``, with line counts.

    ``files`` lists at most ``FILES_LISTED`` files (``file_count`` is the
    whole count). ``confirmed`` says git itself computed it (``git status``
    and ``git diff --numstat``), not the watcher's quick look at the files
    that moved.
    """

    kind: Literal["files_changed"] = "files_changed"
    branch: str = ""
    base: str = ""
    files: list[FileChange] = Field(default_factory=list)
    file_count: int = 0
    added: int = 0
    removed: int = 0
    confirmed: bool = False


FILES_LISTED = 500
"""How many files one ``files_changed`` event lists (the rest is counted)."""


class CollisionFound(EventBase):
    """Agents heading for the same place: the same file, a dependency, or a merge conflict."""

    kind: Literal["collision"] = "collision"
    collision_kind: CollisionKind
    path: str
    agents: list[str]
    dependency: str = ""
    detail: str = ""

    @classmethod
    def of(cls, collision: Collision) -> CollisionFound:
        return cls(
            collision_kind=collision.kind,
            path=collision.path,
            agents=list(collision.agents),
            dependency=collision.dependency,
            detail=collision.detail,
        )


class CollisionCleared(EventBase):
    """A collision no longer holds (an agent reverted, or the merge became clean)."""

    kind: Literal["collision_cleared"] = "collision_cleared"
    collision_kind: CollisionKind
    path: str
    agents: list[str]
    dependency: str = ""

    @classmethod
    def of(cls, collision: Collision) -> CollisionCleared:
        return cls(
            collision_kind=collision.kind,
            path=collision.path,
            agents=list(collision.agents),
            dependency=collision.dependency,
        )


class ScopeViolation(EventBase):
    """A write into the shared repository where no agent may write (``path`` names it)."""

    kind: Literal["scope_violation"] = "scope_violation"
    path: str
    detail: str = ""


class HandoffChecked(EventBase):
    """A handoff held against its agent's diff before it reached a gate."""

    kind: Literal["handoff_checked"] = "handoff_checked"
    gate_id: str = ""
    file_count: int = 0
    discrepancies: list[Discrepancy] = Field(default_factory=list)
    verdict: str = ""


class IntegrationReady(EventBase):
    """The branch approved work is merged into, ready at ``commit`` (``created`` this run)."""

    kind: Literal["integration_ready"] = "integration_ready"
    branch: str
    commit: str
    created: bool = False


class MergeCompleted(EventBase):
    """An approved agent's work merged into the integration branch as ``commit``."""

    kind: Literal["merge_completed"] = "merge_completed"
    gate_id: str = ""
    into: str
    commit: str
    source: str  # the commit merged: the agent's branch head, or its work snapshot
    by: str = ""
    files: int = 0


class MergeRefused(EventBase):
    """A merge not attempted because it would conflict; the gate waits for the operator."""

    kind: Literal["merge_refused"] = "merge_refused"
    gate_id: str = ""
    into: str
    conflicts: list[str] = Field(default_factory=list)
    by: str = ""
    reason: str = ""


class MergeSkipped(EventBase):
    """A gate approved without merging its agent's work (the operator's choice)."""

    kind: Literal["merge_skipped"] = "merge_skipped"
    gate_id: str = ""
    into: str
    by: str = ""
    reason: str = ""


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
