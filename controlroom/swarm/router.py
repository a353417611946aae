"""Where every agent event goes: priced, recorded, fed to the governor and the breaker, acted on.

The hot path of a swarm (every usage line of every agent passes here), so
it dispatches on the event's exact type and does no more than each kind
needs. A stop it decides is carried out by the ``Enforcer``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from controlroom.models import (
    AgentCrashed,
    AgentExited,
    AgentResult,
    AgentSpawned,
    AgentState,
    ErrorEvent,
    EventBase,
    FilesChanged,
    GateKind,
    GateRequested,
    HandoffEvent,
    HandoffRejected,
    ToolCall,
    Usage,
)
from controlroom.policy.governor import BudgetGovernor
from controlroom.policy.meters import price_usage
from controlroom.swarm.audit_guard import AuditGuard
from controlroom.swarm.bus import EventBus
from controlroom.swarm.confinement import Confinement
from controlroom.swarm.enforcement import Enforcer
from controlroom.swarm.metering import Metering
from controlroom.swarm.pipeline import Pipeline
from controlroom.swarm.runner import AgentRunner

__all__ = ["EventRouter"]


class EventRouter:
    """The supervisor's ``handle``: one agent event through every part that must see it."""

    def __init__(
        self,
        bus: EventBus,
        governor: BudgetGovernor,
        enforcer: Enforcer,
        pipeline: Pipeline,
        metering: Metering,
        confinement: Confinement,
        guard: AuditGuard,
        clock: Callable[[], float],
    ) -> None:
        self.bus = bus
        self.governor = governor
        self.enforcer = enforcer
        self.pipeline = pipeline
        self.metering = metering
        self.confinement = confinement
        self.guard = guard
        self.clock = clock
        self._price = governor.meters.pricing_fn

    def handle_slice(
        self, runner: AgentRunner, events: Sequence[EventBase], lines: Sequence[int]
    ) -> None:
        """The events of one slice of an agent's output, in order, as ``handle`` would take them.

        ``lines[i]`` is the agent's count of lines read once ``events[i]``
        was made, so a stop decided at a line knows which lines came after it.
        A run of usage events (a flood) goes at once: priced in one pass, and
        metered as one sum when no line of it can bring a decision (the
        governor's ``observe_run``); else metered up to the first line that
        yields a decision, published as one list, then the decision is carried
        out (a stop signals the agent there) before the rest of the run is
        metered and published. Any other event, and every
        event of an agent whose breaker counts turns, goes through ``handle``.
        """
        if len(events) < 2 or runner.breaker.counts_turns:
            for event, line in zip(events, lines, strict=True):
                runner.lines_read = line
                self.handle(runner, event)
            return
        count = len(events)
        start = 0
        while start < count:
            run: list[Usage] = []
            end = start
            while end < count:
                event = events[end]
                if type(event) is not Usage:
                    break
                run.append(event)
                end += 1
            if run:
                self._usage_run(runner, run, lines[start:end])
            if end < count:
                runner.lines_read = lines[end]
                self.handle(runner, events[end])
            start = end + 1

    def _usage_run(self, runner: AgentRunner, run: list[Usage], lines: Sequence[int]) -> None:
        governor = self.governor
        priced = governor.meters.price_run(run)  # each line's cost_usd set, and the run's sums
        now = self.clock()
        done = 0
        upto, decisions = governor.observe_run(run, priced, now)  # at once, unless near a cap
        while True:
            self.bus.publish_many(run if upto - done == len(run) else run[done:upto])
            if decisions:
                runner.lines_read = lines[upto - 1]
                self.enforcer.carry_out(decisions)
            done = upto
            if done >= len(run):
                return
            upto, decisions = governor.observe_usages(run, done, now)

    def handle(self, runner: AgentRunner, event: EventBase) -> None:
        """One agent event: priced, recorded, governed, counted by its breaker, acted on."""
        kind = type(event)
        if kind is Usage:
            assert isinstance(event, Usage)
            # Straight into __dict__: a plain float field, set once per usage line.
            event.__dict__["cost_usd"] = price_usage(event, self._price)
        elif kind is AgentExited:
            self.confinement.check_limits(runner)  # an OOM kill is why it exited: say so first
        self.bus.publish(event)
        if kind is AgentExited:
            self.confinement.sweep_leftovers(runner)
        elif kind is AgentSpawned:
            self.guard.spawned(runner)  # born during an audit emergency: frozen at once
        decisions = self.governor.observe(event, self.clock())
        if decisions:
            self.enforcer.carry_out(decisions)
        if (
            kind is ToolCall
            or kind is ErrorEvent
            or kind is FilesChanged
            or (kind is Usage and runner.breaker.counts_turns)
        ):
            opened = runner.breaker.observe(event)
            if opened is not None:
                self.bus.publish(opened)
                self.enforcer.stop_soon(runner, AgentState.BREAKER_OPEN, "breaker", opened.reason)
        elif kind is HandoffEvent:
            assert isinstance(event, HandoffEvent)
            runner.handoff = event.handoff
            runner.handoff_error = ""
        elif kind is HandoffRejected:
            assert isinstance(event, HandoffRejected)
            runner.handoff = None
            runner.handoff_error = event.reason
        elif kind is GateRequested:
            assert isinstance(event, GateRequested)
            if event.gate_kind == GateKind.AGENT:
                self.pipeline.agent_asked(runner, event)
        elif kind is AgentExited or kind is AgentCrashed or kind is AgentResult:
            if kind is not AgentResult:
                self.metering.revoke(runner.name)
            flagged = self.metering.disagreement(runner.name, runner.attempt)
            if flagged is not None:
                self.bus.publish(flagged)
