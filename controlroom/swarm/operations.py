"""What an operator does to an agent: pause, resume, restart, reset its breaker.

Each is refused with a clear error when it cannot apply (``AgentNotRunning``,
an open breaker, a budget stop without a new budget), and a decision is
committed to the audit log before it is carried out (``record_decision``):
one the log cannot take never happens. Kills and gates have their own
paths (stops.py, pipeline.py); the supervisor hands all of them to the
control API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from controlroom._errors import AgentNotRunning, AuditError, ControlError
from controlroom.models import (
    AgentPaused,
    AgentResumed,
    AgentState,
    BreakerReset,
    Budget,
    ErrorEvent,
    EventBase,
    OperatorAction,
)
from controlroom.policy.governor import BudgetGovernor
from controlroom.swarm.audit_guard import AuditGuard
from controlroom.swarm.bus import EventBus
from controlroom.swarm.runner import AgentRunner, find_runner
from controlroom.swarm.stops import StopPath
from controlroom.text import refusals

__all__ = ["Operations"]


class Operations:
    """The operator's actions on one swarm's agents, each recorded as it is done."""

    def __init__(
        self,
        runners: Mapping[str, AgentRunner],
        bus: EventBus,
        guard: AuditGuard,
        governor: BudgetGovernor,
        stops: StopPath,
        clock: Callable[[], float],
        *,
        handle: Callable[[AgentRunner, EventBase], None],
        restarted: Callable[[], None],
    ) -> None:
        self.runners = runners
        self.bus = bus
        self.guard = guard
        self.governor = governor
        self.stops = stops
        self.clock = clock
        self.handle = handle  # the supervisor's: pause and resume pass through it like any event
        self.restarted = restarted  # the swarm has an agent to wait for again
        self.paused_at: dict[str, float] = {}  # agent -> clock() when paused, for AgentResumed

    async def pause(self, agent: str, by: str) -> int:
        runner = find_runner(self.runners, agent)
        if runner.process is None or not runner.alive or runner.state != AgentState.RUNNING:
            raise AgentNotRunning(refusals.not_in_state(agent, runner.state, "running"))
        reached = runner.process.pause()
        await runner.process.contain.settle_paused()
        self.paused_at[agent] = self.clock()
        self.handle(runner, AgentPaused(agent=agent, by=by))
        runner.set_state(AgentState.PAUSED, f"paused by {by}")
        await self.bus.flush()
        return reached

    async def resume(self, agent: str, by: str) -> int:
        runner = find_runner(self.runners, agent)
        if runner.process is None or runner.state != AgentState.PAUSED:
            raise AgentNotRunning(refusals.not_in_state(agent, runner.state, "paused"))
        self.guard.check_resume(agent)
        reached = runner.process.resume()
        paused = self.governor.meters.agent(agent).paused
        since = self.paused_at.pop(agent, None)
        paused_for = 0.0 if since is None else round(max(0.0, self.clock() - since), 6)
        self.handle(runner, AgentResumed(agent=agent, by=by, paused_seconds=paused_for))
        if paused:
            runner.set_state(AgentState.RUNNING, f"resumed by {by}")
        await self.bus.flush()
        return reached

    async def restart(self, agent: str, by: str, new_budget: Budget | None = None) -> None:
        """The operator's audited restart. A budget-stopped agent needs a new budget."""
        runner = find_runner(self.runners, agent)
        if runner.state == AgentState.BUDGET_STOPPED and new_budget is None:
            raise ControlError(
                f"agent {agent!r} was stopped by its budget: restart it with a new budget "
                "(--new-budget max_tokens=N,...)"
            )
        if runner.breaker.is_open:
            raise ControlError(f"agent {agent!r} has an open breaker: reset it first")
        if runner.state in (AgentState.PENDING, AgentState.STARTING):
            raise AgentNotRunning(refusals.nothing_to_restart(agent, runner.state))
        detail: dict[str, object] = {"previous_state": runner.state}
        if new_budget is not None:
            detail["new_budget"] = new_budget.model_dump(exclude_defaults=True)
        await self.record_decision(
            OperatorAction(agent=agent, action="restart", by=by, detail=detail),
            f"restart of {agent} by {by}",
        )
        if not runner.is_final:
            await self.stops.stop(runner, AgentState.KILLED, by, "restart")
            await runner.join()
        self.governor.reset(agent, new_budget, self.clock())
        runner.reset()
        self.restarted()
        runner.start()

    async def reset_breaker(self, agent: str, by: str) -> None:
        runner = find_runner(self.runners, agent)
        if not runner.breaker.is_open:
            raise ControlError(f"agent {agent!r}: its breaker is not open")
        await self.record_decision(
            BreakerReset(agent=agent, by=by), f"breaker reset of {agent} by {by}"
        )
        runner.breaker.reset(by)

    async def record_decision(self, event: EventBase, what: str) -> None:
        """Commit an operator's decision before it is carried out; refuse it if that fails.

        A decision the log cannot take never happens and never turns up in
        the log later: an error saying it was not carried out takes its place.
        """

        def withdrawn(exc: AuditError) -> EventBase:
            message = f"{what} not recorded, so not carried out ({exc})"
            return ErrorEvent(agent=event.agent, where="operator", message=message)

        try:
            await self.bus.publish_committed(event, withdrawn)
        except AuditError as exc:
            raise ControlError(
                f"{what} was not carried out: it could not be recorded in the audit log ({exc})"
            ) from None
