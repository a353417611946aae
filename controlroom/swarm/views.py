"""Typed views of the live swarm (``models.views``), built from the supervisor's state.

One place turns runners, meters, gates and the handoff timeline into what the
control API returns, so the supervisor keeps running the swarm and a new field
on a screen is a line in the view and a line here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol

from controlroom.models import SwarmConfig
from controlroom.models.views import (
    AgentView,
    AuditView,
    ContainmentView,
    GateDecisionView,
    GateView,
    HandoffView,
    ProxyView,
    SwarmView,
)
from controlroom.policy.governor import BudgetGovernor
from controlroom.policy.meter_snapshots import SwarmMeterSnapshot, meter_view
from controlroom.policy.swarmfold import swarm_totals
from controlroom.swarm.audit_guard import AuditGuard
from controlroom.swarm.gates import Gate, GateQueue
from controlroom.swarm.runner import AgentRunner

__all__ = ["ViewSource", "audit_view", "gate_view", "swarm_view"]


class _Containment(Protocol):
    def view(self, runner: AgentRunner) -> ContainmentView: ...


class _Metering(Protocol):
    def view(self) -> ProxyView | None: ...


class ViewSource(Protocol):
    """What a view is built from: the supervisor's live parts."""

    config: SwarmConfig
    run_id: str
    mode: str
    clock: Callable[[], float]
    governor: BudgetGovernor
    gates: GateQueue
    guard: AuditGuard

    @property
    def runners(self) -> Mapping[str, AgentRunner]: ...

    @property
    def confinement(self) -> _Containment: ...

    @property
    def metering(self) -> _Metering: ...

    def handoff_log(self) -> list[HandoffView]: ...


def gate_view(gate: Gate) -> GateView:
    """A gate for ``controlroom gates`` and the screens (its age as of now)."""
    decision = gate.decision
    return GateView(
        id=gate.id,
        agent=gate.agent,
        kind=gate.kind,
        state=gate.state,
        title=gate.title,
        detail=gate.detail,
        stage=gate.stage,
        created=gate.created,
        age_seconds=round(gate.age(), 3),
        timeout_seconds=gate.timeout_seconds,
        handoff=gate.handoff,
        tool=gate.tool,
        decision=None
        if decision is None
        else GateDecisionView(
            approved=decision.approved,
            by=decision.by,
            reason=decision.reason,
            expired=decision.expired,
            at=decision.at,
        ),
    )


def audit_view(guard: AuditGuard, now: float) -> AuditView:
    """Whether the audit log is being written; if not, why, since when, and what it froze."""
    emergency = guard.emergency
    if emergency is None:
        return AuditView(ok=True, stopped_for=guard.stopped_for)
    return AuditView(
        ok=False,
        reason=emergency.reason,
        failing_seconds=round(max(0.0, now - emergency.since), 3),
        frozen=list(emergency.frozen),
        stops_in_seconds=round(emergency.stops_in(now), 3),
        stopping=emergency.stopping,
        stopped_for=guard.stopped_for,
    )


def _agents(
    sup: ViewSource, meters: SwarmMeterSnapshot, alive: Mapping[str, bool]
) -> list[AgentView]:
    by_name = {m.agent: m for m in meters.agents}
    agents = []
    for name, runner in sup.runners.items():
        meter = by_name.get(name)
        proc = runner.process
        agents.append(
            AgentView(
                name=name,
                state=runner.state,
                reason=runner.state_reason,
                format=runner.spec.format,
                after=list(runner.spec.after),
                pid=proc.pid if proc is not None and alive[name] else None,
                attempt=runner.attempt,
                breaker_open=runner.breaker.is_open,
                handoff=runner.handoff,
                meter=meter_view(meter) if meter is not None else None,
                containment=sup.confinement.view(runner),
            )
        )
    return agents


def swarm_view(sup: ViewSource) -> SwarmView:
    """Everything a screen shows, from one moment of the swarm."""
    now = sup.clock()
    meters = sup.governor.meters.snapshot(now)
    pending = sup.gates.pending()
    alive = {name: runner.alive for name, runner in sup.runners.items()}
    return SwarmView(
        swarm=sup.config.swarm.name,
        run=sup.run_id,
        mode=sup.mode,
        ts=time.time(),
        totals=swarm_totals(
            meters,
            agents=len(sup.runners),
            running=sum(alive.values()),
            pending_gates=len(pending),
        ),
        agents=_agents(sup, meters, alive),
        audit=audit_view(sup.guard, now),
        gates=[gate_view(g) for g in pending],
        handoffs=sup.handoff_log(),
        proxy=sup.metering.view(),
    )
