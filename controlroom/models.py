"""The data of controlroom: swarm config, budgets, handoffs and the one event union.

This module imports nothing of ours and nothing of the UI: every other layer
(store, adapters, governor, supervisor, TUI) speaks in these types. Events are
the single source of truth: whatever the screen shows is derived from them,
so a restarted control room can rebuild its state from the audit log.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

__all__ = [
    "AGENT_NAME_PATTERN",
    "AgentCrashed",
    "AgentExited",
    "AgentFormat",
    "AgentOutput",
    "AgentPaused",
    "AgentResult",
    "AgentResumed",
    "AgentSpawned",
    "AgentSpec",
    "AgentState",
    "AgentStateChanged",
    "Breaker",
    "BreakerOpened",
    "BreakerReset",
    "Budget",
    "BudgetExceeded",
    "BudgetWarning",
    "ConfigLoaded",
    "DEFAULT_PRICING",
    "ErrorEvent",
    "Event",
    "EventBase",
    "EVENT_ADAPTER",
    "EVENT_KINDS",
    "GateDecided",
    "GateExpired",
    "GateRequested",
    "Handoff",
    "HandoffEvent",
    "HandoffRejected",
    "KillCompleted",
    "KillRequested",
    "MalformedOutput",
    "OperatorAction",
    "OrphanFound",
    "Pricing",
    "ProxySettings",
    "RunEnded",
    "RunStarted",
    "StatusEvent",
    "SwarmConfig",
    "SwarmSettings",
    "ToolCall",
    "Usage",
    "canonical_json",
    "new_run_id",
]

AGENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""Agent names end up in paths, branch names and env values: keep them boring."""

AgentFormat = Literal["native", "claude-code", "plain"]


class AgentState:
    """The states an agent moves through (plain strings, as in Supervisor's states.py)."""

    PENDING = "pending"  # waiting for upstream handoffs
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    GATED = "gated"  # waiting at a gate
    STOPPING = "stopping"
    DONE = "done"
    FAILED = "failed"
    KILLED = "killed"
    BUDGET_STOPPED = "budget_stopped"
    BREAKER_OPEN = "breaker_open"
    BLOCKED = "blocked"  # an upstream branch failed

    FINAL = frozenset({DONE, FAILED, KILLED, BUDGET_STOPPED, BREAKER_OPEN, BLOCKED})


# --------------------------------------------------------------------------- config


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Budget(_Strict):
    """Hard limits for one agent. ``None`` means no limit of that kind."""

    max_tokens: int | None = Field(default=None, gt=0)
    max_cost_usd: float | None = Field(default=None, gt=0)
    max_wall_seconds: float | None = Field(default=None, gt=0)
    max_turns: int | None = Field(default=None, gt=0)
    kill_grace_seconds: float = Field(default=5.0, ge=0)


class Breaker(_Strict):
    """Restart policy and circuit breaker for one agent."""

    restart: Literal["never", "on-failure"] = "never"
    max_failures: int = Field(default=3, gt=0)
    window_seconds: float = Field(default=300.0, gt=0)
    repeat_limit: int = Field(default=5, gt=1)
    backoff_seconds: float = Field(default=1.0, ge=0)
    backoff_max_seconds: float = Field(default=30.0, ge=0)


class AgentSpec(_Strict):
    """One ``[[agents]]`` entry, with ``[defaults]`` already merged in."""

    name: str = Field(pattern=AGENT_NAME_PATTERN)
    command: list[str] = Field(min_length=1)
    format: AgentFormat = "native"
    workspace: str = "shared"  # "worktree", "shared", or a path
    env: list[str] = Field(default_factory=list)
    secret_env: list[str] = Field(default_factory=list)
    task: str = ""
    after: list[str] = Field(default_factory=list)
    gate: Literal["human", "auto"] = "auto"
    gate_timeout_seconds: float = Field(default=3600.0, gt=0)
    on_reject: Literal["retry", "stop"] = "stop"
    max_attempts: int = Field(default=3, gt=0)
    gate_tools: list[str] = Field(default_factory=list)
    budget: Budget = Field(default_factory=Budget)
    breaker: Breaker = Field(default_factory=Breaker)

    @field_validator("command")
    @classmethod
    def _command_not_blank(cls, value: list[str]) -> list[str]:
        if not value[0].strip():
            raise ValueError("the program (first element) must not be empty")
        return value


class SwarmSettings(_Strict):
    name: str = Field(default="swarm", min_length=1)
    audit_db: str = "controlroom.db"
    run_dir: str = ".controlroom"
    theme: str = "control-room"
    max_cost_usd: float | None = Field(default=None, gt=0)
    handoff_max_chars: int = Field(default=2000, gt=0)


class ProxySettings(_Strict):
    upstream: str = "https://api.anthropic.com"
    upstream_key_env: str = "ANTHROPIC_API_KEY"


class Pricing(_Strict):
    """USD per million tokens of each kind, for one model."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cache_read_per_mtok: float = Field(default=0.0, ge=0)
    cache_write_per_mtok: float = Field(default=0.0, ge=0)

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        cache_read_input_tokens: int = 0,
        cache_creation_input_tokens: int = 0,
    ) -> float:
        return (
            input_tokens * self.input_per_mtok
            + output_tokens * self.output_per_mtok
            + cache_read_input_tokens * self.cache_read_per_mtok
            + cache_creation_input_tokens * self.cache_write_per_mtok
        ) / 1_000_000


def _p(inp: float, out: float) -> Pricing:
    return Pricing(
        input_per_mtok=inp,
        output_per_mtok=out,
        cache_read_per_mtok=inp / 10,
        cache_write_per_mtok=inp * 1.25,
    )


DEFAULT_PRICING: dict[str, Pricing] = {
    "claude-opus-4-5": _p(5.0, 25.0),
    "claude-opus-4-1": _p(15.0, 75.0),
    "claude-opus-4": _p(15.0, 75.0),
    "claude-sonnet-4-5": _p(3.0, 15.0),
    "claude-sonnet-4": _p(3.0, 15.0),
    "claude-haiku-4-5": _p(1.0, 5.0),
    "claude-3-5-haiku": _p(0.8, 4.0),
    "default": _p(3.0, 15.0),
}
"""Built-in prices (USD per million tokens); ``[pricing."model"]`` overrides or adds.

A model name is matched exactly, then by the longest known prefix (so
``claude-sonnet-4-5-20250929`` prices as ``claude-sonnet-4-5``), then ``default``.
"""


class SwarmConfig(_Strict):
    """A whole, validated swarm config. Build it with ``controlroom.config.load_config``."""

    swarm: SwarmSettings = Field(default_factory=SwarmSettings)
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    agents: list[AgentSpec] = Field(default_factory=list)
    pricing: dict[str, Pricing] = Field(default_factory=lambda: dict(DEFAULT_PRICING))
    source: str = ""  # the file it came from, for messages

    def agent(self, name: str) -> AgentSpec:
        for spec in self.agents:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def price_for(self, model: str | None) -> Pricing:
        if model and model in self.pricing:
            return self.pricing[model]
        if model:
            best = max(
                (k for k in self.pricing if model.startswith(k)), key=len, default=None
            )
            if best is not None:
                return self.pricing[best]
        return self.pricing.get("default", DEFAULT_PRICING["default"])

    def secret_env_names(self) -> list[str]:
        """Every env var whose value must never reach the audit log."""
        names = {self.proxy.upstream_key_env}
        for spec in self.agents:
            names.update(spec.secret_env)
        return sorted(names)

    def secret_values(self, environ: dict[str, str] | None = None) -> list[str]:
        env = os.environ if environ is None else environ
        return [env[n] for n in self.secret_env_names() if env.get(n)]


# --------------------------------------------------------------------------- handoff


class Handoff(BaseModel):
    """The only shape context travels in between agents: exactly three fields.

    The per-swarm size cap is checked by ``controlroom.handoff.validate_handoff``
    (it depends on config); the model itself forbids extra and empty fields.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    changed: str = Field(min_length=1)
    next_needs: str = Field(min_length=1)
    risks: str = Field(min_length=1)


# --------------------------------------------------------------------------- events


def new_run_id() -> str:
    """A sortable, readable run id: ``20261125-020249-3f9a``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


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
    kind: Literal["run_ended"] = "run_ended"
    outcome: str  # "success", "failed", "stopped", "interrupted"
    detail: str = ""


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
    one turn; a reconciliation may add or remove some). ``source`` says who
    counted: the agent itself, the metering proxy, or a reconciliation to an
    authoritative total (Claude Code's ``result``).
    """

    kind: Literal["usage"] = "usage"
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    model: str | None = None
    turns: int = 1
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
    kind: Literal["budget_exceeded"] = "budget_exceeded"
    limit: str
    value: float
    cap: float
    overshoot: float


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


class ErrorEvent(EventBase):
    """An error an agent reported (native ``error``) or the control room met."""

    kind: Literal["error"] = "error"
    message: str
    where: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)


Event = Annotated[
    RunStarted
    | RunEnded
    | ConfigLoaded
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
    | BreakerOpened
    | BreakerReset
    | KillRequested
    | KillCompleted
    | AgentPaused
    | AgentResumed
    | OperatorAction
    | OrphanFound
    | ErrorEvent,
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


def canonical_json(event: EventBase) -> str:
    """Sorted keys, no whitespace: the exact text that is hashed into the chain."""
    return json.dumps(
        event.model_dump(mode="json"),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )

