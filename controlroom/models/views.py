"""What the control API returns: typed views of a live swarm (posting's models, not dicts).

The supervisor builds these from its live state; the control API returns them
in-process and sends ``model_dump(mode="json")`` over the socket; the client
validates them once as they arrive; the screens and the CLI read attributes,
never ``.get()`` chains. The JSON of each view is the public wire shape
(``controlroom status --format jsonl`` and ``gates`` print it), so field
order and names are the contract: a field that is absent on the wire rather
than null is marked with ``_omitted_when_none()``.

Adding a field is one line in the view (with its default, so that an older
peer's JSON still validates) plus where the supervisor fills it in.
Unknown fields from a newer peer are ignored, never an error.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from controlroom.models.config import Budget
from controlroom.models.handoff import Handoff
from controlroom.models.radarviews import ChangeCounts, GateRadarFields
from controlroom.models.state import AgentState, GateKind, GateState

__all__ = [
    "AgentStateView",
    "AgentView",
    "AuditView",
    "ContainmentView",
    "GateDecisionView",
    "GateView",
    "HandoffView",
    "KillView",
    "LimitView",
    "MeterView",
    "PingView",
    "ProcessesView",
    "ProxyView",
    "StopAllView",
    "SwarmView",
    "ToolGateView",
    "TotalsView",
]


def _is_none(value: object) -> bool:
    return value is None


def _omitted_when_none() -> Any:
    """A field that is left out of the JSON when it has no value (as the wire always did)."""
    return Field(default=None, exclude_if=_is_none)


class View(BaseModel):
    """Base of every view: names as on the wire, lenient to fields it does not know."""

    model_config = ConfigDict(
        extra="ignore", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )


class LimitView(View):
    """One limit of a budget: how much of it the current budget period has used."""

    limit: str
    value: int | float
    cap: int | float
    fraction: float
    seconds_left: float | None = None


class MeterView(View):
    """One agent's meter (``policy.meters.AgentMeterSnapshot``) as the screens see it."""

    agent: str
    at: float
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    reported_cost_usd: float | None = None
    cost_disagreement: bool = False
    turns: int = 0
    metered_at: str = "agent"  # "wire" (the proxy) or "agent" (its own reports)
    self_reported_tokens: int | None = None
    self_reported_cost_usd: float | None = None
    meter_disagreement: bool = False
    tokens_per_minute: float = 0.0
    cost_per_minute: float = 0.0
    turns_per_minute: float = 0.0
    elapsed_seconds: float = 0.0
    running: bool = False
    paused: bool = False
    tightest_limit: str | None = None
    seconds_to_limit: float | None = None
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    processes: int | None = None
    budget: Budget = Field(default_factory=Budget)
    limits: list[LimitView] = Field(default_factory=list)


class ContainmentView(View):
    """How an agent is held: containment mode, cgroup, its limits, sandbox."""

    mode: str = ""
    cgroup: str = ""
    limits: dict[str, int | float] = Field(default_factory=dict)
    unenforced: list[str] = Field(default_factory=list)
    sandbox: str = "off"
    allow_hosts: list[str] = Field(default_factory=list)


class AgentView(View):
    """One agent on the screen: state, process, handoff, meter, containment."""

    name: str
    state: AgentState
    reason: str = ""
    format: str = "native"
    after: list[str] = Field(default_factory=list)
    pid: int | None = None
    attempt: int = 0
    breaker_open: bool = False
    handoff: Handoff | None = None
    meter: MeterView | None = None
    containment: ContainmentView = Field(default_factory=ContainmentView)
    changes: ChangeCounts = Field(default_factory=ChangeCounts)  # the files-changed column


class GateDecisionView(View):
    """Who decided a gate, when (wall clock) and why."""

    approved: bool
    by: str
    reason: str
    expired: bool = False
    at: float


class _GateFields(View):
    """A gate's own keys, first on the wire; the radar's keys follow (``GateView``)."""

    id: str
    agent: str
    kind: GateKind
    state: GateState
    title: str = ""
    detail: str = ""
    stage: str = ""
    created: float
    age_seconds: float = 0.0
    timeout_seconds: float | None = None
    handoff: Handoff | None = None
    tool: dict[str, JsonValue] | None = None
    decision: GateDecisionView | None = _omitted_when_none()


class GateView(GateRadarFields, _GateFields):
    """One gate: what waits for the operator (``controlroom gates --format jsonl``).

    Its own keys, then the radar's part of a handoff gate (empty for a tool or
    question gate), in that order on the wire: pydantic lays out inherited
    fields from the furthest base in, so ``_GateFields`` comes first.
    """


class HandoffView(View):
    """One handoff on the timeline: from whom, to whom, and what became of it.

    ``state`` is ``auto`` (no human gate), or its gate's state.
    """

    from_: str = Field(alias="from")
    to: list[str]
    handoff: Handoff
    attempt: int = 1
    ts: float
    gate: str | None = None
    state: str = "auto"
    by: str = "auto"
    reason: str = ""


class TotalsView(View):
    """The swarm's totals and burn rate."""

    agents: int = 0
    running: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    charged_usd: float = 0.0
    tokens_per_minute: float = 0.0
    cost_per_hour: float = 0.0
    max_cost_usd: float | None = None
    pending_gates: int = 0
    collisions: int = 0


class AuditView(View):
    """Whether the audit log is being written; if not, why, since when, and what it froze."""

    ok: bool = True
    reason: str | None = _omitted_when_none()
    failing_seconds: float | None = _omitted_when_none()
    frozen: list[str] | None = _omitted_when_none()
    stops_in_seconds: float | None = _omitted_when_none()
    stopping: bool | None = _omitted_when_none()
    stopped_for: str | None = None


class ProxyView(View):
    """Where agents' model traffic goes (the metering proxy)."""

    url: str
    socket: str = ""
    upstream: str = ""
    credentials: str = ""


class SwarmView(View):
    """Everything a screen shows, from one snapshot: agents, gates, handoffs, totals."""

    swarm: str
    run: str
    mode: str = "headless"
    ts: float
    totals: TotalsView = Field(default_factory=TotalsView)
    agents: list[AgentView] = Field(default_factory=list)
    audit: AuditView = Field(default_factory=AuditView)
    gates: list[GateView] = Field(default_factory=list)
    handoffs: list[HandoffView] = Field(default_factory=list)
    proxy: ProxyView | None = None

    def agent(self, name: str) -> AgentView | None:
        """The agent called ``name``, if this swarm has one."""
        return next((a for a in self.agents if a.name == name), None)


# --------------------------------------------------------------------------- verbs' results


class PingView(View):
    swarm: str
    run: str
    read_only: bool = False


class KillView(View):
    """What a kill did: how many processes, how long, how many survived."""

    agent: str
    duration_ms: float = 0.0
    processes: int = 0
    survivors: int = 0
    escalated: bool | None = _omitted_when_none()


class StopAllView(View):
    stopped: int = 0
    survivors: int = 0
    duration_ms: float = 0.0
    agents: list[KillView] = Field(default_factory=list)


class ProcessesView(View):
    """A pause or resume: how many processes were stopped or continued."""

    agent: str
    processes: int = 0


class AgentStateView(View):
    """A restart or a breaker reset: the agent's state afterwards."""

    agent: str
    state: AgentState


class ToolGateView(View):
    """The operator's answer to a gated tool call (for the Claude Code hook)."""

    approved: bool
    reason: str = ""
