"""Events → what the dashboard shows: the swarm's state rebuilt from its audit log.

``controlroom replay`` opens the dashboard on a past run with nothing but
the log. The screen must show, at any instant, what the live dashboard
showed then; so the numbers come from the same code the live supervisor
runs: the meters are a ``BudgetGovernor``'s ``SwarmMeter`` fed the same
events through the same ``observe`` (the live one is fed them as they are
published), and the snapshot's totals are built by :func:`swarm_totals`,
which the supervisor's own snapshot calls too. States, gates and handoffs
are the events that announced them (``agent_state`` is published on every
change the supervisor makes, ``gate_requested``/``gate_decided`` on every
gate). The ``config_loaded`` event carries the budgets, prices, stages and
formats the fold needs; a log older than those fields replays with the
default budget.

The output is the control API's ``SwarmView`` (``view()``), built from the
same view models the live API fills in, so every screen reads it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controlroom.models import (
    AgentCrashed,
    AgentExited,
    AgentSpawned,
    AgentStateChanged,
    BreakerOpened,
    BreakerReset,
    Budget,
    ConfigLoaded,
    ContainmentReady,
    EventBase,
    FilesChanged,
    GateDecided,
    GateExpired,
    GateRequested,
    Handoff,
    HandoffEvent,
    HandoffRejected,
    OperatorAction,
    RunStarted,
    SwarmConfig,
)
from controlroom.models.radarviews import ChangeCounts
from controlroom.models.state import AgentState, GateKind, GateState
from controlroom.models.views import (
    AgentView,
    AuditView,
    ContainmentView,
    GateView,
    HandoffView,
    SwarmView,
    TotalsView,
)
from controlroom.policy.governor import BudgetGovernor
from controlroom.policy.meter_snapshots import (
    AgentMeterSnapshot,
    SwarmMeterSnapshot,
    meter_view,
)

__all__ = ["SwarmFold", "swarm_totals"]


def swarm_totals(
    meters: SwarmMeterSnapshot, *, agents: int, running: int, pending_gates: int
) -> TotalsView:
    """The snapshot's ``totals``: one definition for the live supervisor and the replay."""
    return TotalsView(
        agents=agents,
        running=running,
        input_tokens=meters.input_tokens,
        output_tokens=meters.output_tokens,
        cache_read_input_tokens=meters.cache_read_input_tokens,
        cache_creation_input_tokens=meters.cache_creation_input_tokens,
        total_tokens=meters.total_tokens,
        cost_usd=round(meters.cost_usd, 6),
        charged_usd=round(meters.charged_usd, 6),
        tokens_per_minute=round(meters.tokens_per_minute, 3),
        cost_per_hour=round(meters.cost_per_minute * 60, 6),
        max_cost_usd=meters.max_cost_usd,
        pending_gates=pending_gates,
    )


@dataclass
class _Agent:
    """One agent as the events told it."""

    name: str
    format: str = "native"
    after: list[str] = field(default_factory=list)
    state: AgentState = AgentState.PENDING
    reason: str = ""
    pid: int | None = None
    attempt: int = 0
    breaker_open: bool = False
    handoff: Handoff | None = None
    handoff_error: str = ""
    handoff_attempts: int = 0
    changes: ChangeCounts = field(default_factory=ChangeCounts)
    containment: ContainmentView = field(default_factory=ContainmentView)  # its last spawn's


class SwarmFold:
    """Apply events oldest first; ``snapshot()`` is the dashboard's state after the last one."""

    def __init__(self) -> None:
        self.swarm = ""
        self.run = ""
        self.mode = ""
        self.ts = 0.0
        self.agents: dict[str, _Agent] = {}
        self.gates: dict[str, GateView] = {}  # pending, in the order they opened
        self.handoffs: list[HandoffView] = []
        self.containment = ""  # the run's way of holding agents (cgroup, process-tree)
        self._governor: BudgetGovernor | None = None

    @property
    def governor(self) -> BudgetGovernor:
        if self._governor is None:  # a log without config_loaded: default budgets and prices
            self._governor = BudgetGovernor.from_budgets({})
        return self._governor

    def _agent(self, name: str) -> _Agent:
        agent = self.agents.get(name)
        if agent is None:
            agent = self.agents[name] = _Agent(name)
        return agent

    # ------------------------------------------------------------------ events

    def apply(self, event: EventBase) -> None:
        """One event, in the order the log holds them."""
        self.ts = max(self.ts, event.ts)
        if isinstance(event, RunStarted):
            self.swarm, self.run, self.mode = event.swarm, event.run, event.mode
        elif isinstance(event, ConfigLoaded):
            self._configure(event)
        elif isinstance(event, ContainmentReady):
            self.containment = event.mode
        elif isinstance(event, GateRequested | GateDecided | GateExpired):
            self._gate(event)
        elif event.agent is not None:
            self._agent_event(self._agent(event.agent), event)
        if event.agent is not None:
            self.governor.observe(event, event.ts)

    def _configure(self, event: ConfigLoaded) -> None:
        pricing = SwarmConfig(pricing=event.pricing) if event.pricing else SwarmConfig()
        budgets = {name: event.budgets.get(name, Budget()) for name in event.agents}
        self._governor = BudgetGovernor.from_budgets(
            budgets, swarm_max_cost_usd=event.max_cost_usd, pricing_fn=pricing.price_for
        )
        for name in event.agents:
            agent = self._agent(name)
            agent.format = event.formats.get(name, agent.format)
            agent.after = list(event.after.get(name, ()))

    def _agent_event(self, agent: _Agent, event: EventBase) -> None:
        if isinstance(event, AgentStateChanged):
            agent.state, agent.reason = AgentState(event.state), event.reason
        elif isinstance(event, AgentSpawned):
            agent.pid, agent.attempt = event.pid, event.attempt
            agent.containment = ContainmentView(
                cgroup=event.cgroup,
                sandbox=event.sandbox or "off",
                allow_hosts=list(event.allow_hosts),
            )
        elif isinstance(event, AgentExited):
            agent.pid = None
            if event.success and agent.state != AgentState.STOPPING:
                self._reviewed(agent, event.ts)
        elif isinstance(event, AgentCrashed):
            agent.pid = None
        elif isinstance(event, BreakerOpened):
            agent.breaker_open = True
        elif isinstance(event, BreakerReset):
            agent.breaker_open = False
        elif isinstance(event, HandoffEvent):
            agent.handoff, agent.handoff_error = event.handoff, ""
        elif isinstance(event, HandoffRejected):
            agent.handoff, agent.handoff_error = None, event.reason
        elif isinstance(event, FilesChanged):
            files = len(event.files) or event.file_count
            agent.changes = ChangeCounts(
                tracked=True, files=files, added=event.added, removed=event.removed
            )
        elif isinstance(event, OperatorAction) and event.action == "restart":
            raw = event.detail.get("new_budget")
            budget = Budget.model_validate(raw) if isinstance(raw, dict) else None
            self.governor.reset(agent.name, budget, event.ts)

    def _reviewed(self, agent: _Agent, ts: float) -> None:
        """An agent exited 0: its handoff goes on the timeline (as the pipeline's review does)."""
        agent.handoff_attempts += 1
        receivers = [a.name for a in self.agents.values() if agent.name in a.after]
        if agent.handoff_error or agent.handoff is None or not receivers:
            return
        self.handoffs.append(
            HandoffView(
                from_=agent.name,
                to=receivers,
                handoff=agent.handoff,
                attempt=agent.handoff_attempts,
                ts=ts,
            )
        )

    def _gate(self, event: GateRequested | GateDecided | GateExpired) -> None:
        if isinstance(event, GateRequested):
            stage = ""
            if event.gate_kind == GateKind.HANDOFF:
                stage = ", ".join(a.name for a in self.agents.values() if event.agent in a.after)
                for entry in reversed(self.handoffs):
                    if entry.from_ == event.agent:
                        entry.gate, entry.state, entry.by = event.gate_id, GateState.PENDING, ""
                        break
            self.gates[event.gate_id] = GateView(
                id=event.gate_id,
                agent=event.agent or "",
                kind=event.gate_kind,
                state=GateState.PENDING,
                title=event.title,
                detail=event.detail,
                stage=stage,
                created=event.ts,
                timeout_seconds=event.timeout_seconds,
                handoff=event.handoff,
                tool=event.tool,
            )
            return
        if self.gates.pop(event.gate_id, None) is None:
            return
        if isinstance(event, GateDecided):
            state = GateState.APPROVED if event.approved else GateState.REJECTED
            by, reason = event.by, event.reason
        else:
            state, by, reason = GateState.EXPIRED, "timeout", "gate expired"
        for entry in self.handoffs:
            if entry.gate == event.gate_id:
                entry.state, entry.by, entry.reason = state, by, reason

    # ------------------------------------------------------------------ the picture

    def view(self, now: float | None = None) -> SwarmView:
        """The swarm as the control API's typed view, as of ``now`` (default: the last event)."""
        at = self.ts if now is None else now
        meters = self.governor.meters.snapshot(at)
        by_name = {m.agent: m for m in meters.agents}
        agents = [
            self._agent_view(agent, by_name.get(agent.name)) for agent in self.agents.values()
        ]
        gates = [
            g.model_copy(update={"age_seconds": round(at - g.created, 3)})
            for g in self.gates.values()
        ]
        running = sum(1 for a in self.agents.values() if a.pid is not None)
        return SwarmView(
            swarm=self.swarm,
            run=self.run,
            mode="replay",
            ts=at,
            totals=swarm_totals(
                meters, agents=len(self.agents), running=running, pending_gates=len(gates)
            ),
            agents=agents,
            audit=AuditView(ok=True),
            gates=gates,
            handoffs=[entry.model_copy() for entry in self.handoffs],
        )

    def _agent_view(self, agent: _Agent, meter: AgentMeterSnapshot | None) -> AgentView:
        return AgentView(
            name=agent.name,
            state=agent.state,
            reason=agent.reason,
            format=agent.format,
            after=list(agent.after),
            pid=agent.pid,
            attempt=agent.attempt,
            breaker_open=agent.breaker_open,
            handoff=agent.handoff,
            meter=meter_view(meter) if meter is not None else None,
            containment=agent.containment.model_copy(update={"mode": self.containment}),
            changes=agent.changes,
        )
