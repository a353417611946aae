"""The budget governor: turns metered spend into warnings and stops.

A pure class fed with events; it never signals a process itself. The
supervisor publishes what it returns (``Warn.event``, ``Stop.event``) and
carries out each ``Stop`` with the kill switch. Spend and running time come
from one place, the ``SwarmMeter`` the governor feeds: ``observe`` records
every ``Usage`` and ``AgentResult`` into it, so nothing else may record the
same events into the same meter.

Exact rules (each limit is checked against the current budget period, see
``AgentMeter.rebase``):

* a limit is crossed when the value *reaches* the cap (``value >= cap``):
  a budget that is used up is used up, and the agent stops before it can
  start another request; the same holds for ``max_wall_seconds`` (running
  time, paused time excluded);
* the swarm's ``max_cost_usd`` is crossed when the swarm's charged cost
  reaches it; then every running agent gets a ``Stop`` with limit
  ``swarm_max_cost_usd``, and so does any agent that spends or runs later;
* a warning fires once per (agent, limit) when the value reaches
  ``BUDGET_WARNING_PERCENT`` (80) % of the cap, compared in integers where
  the values are; an event that jumps straight past the cap yields only the
  ``Stop``;
* one event crossing several limits yields one ``Stop``, for the first in
  ``LIMIT_NAMES`` order; after it the governor says nothing more about that
  agent until ``reset`` (the operator's audited restart). There is no other
  override;
* a request the metering proxy refused because a limit had no room for it
  (``RequestRefused`` with a ``limit``) stops the agent too: its next
  request would only be bigger. ``value`` is then what the limit would
  have reached had the request gone through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from controlroom.models import (
    BUDGET_WARNING_PERCENT,
    AgentCrashed,
    AgentExited,
    AgentPaused,
    AgentResult,
    AgentResumed,
    AgentSpawned,
    Budget,
    BudgetExceeded,
    BudgetWarning,
    EventBase,
    RequestRefused,
    SwarmConfig,
    Usage,
)
from controlroom.policy.headroom import agent_quiet, calm, upper_cost
from controlroom.policy.meters import AgentMeter, PricingFn, SwarmMeter
from controlroom.policy.usage_run import UsageRun

__all__ = [
    "SWARM_LIMIT",
    "BudgetGovernor",
    "Decision",
    "Stop",
    "Warn",
]

SWARM_LIMIT = "swarm_max_cost_usd"


@dataclass(frozen=True, slots=True)
class Warn:
    """Publish this warning; nothing has to be stopped yet."""

    event: BudgetWarning

    @property
    def agent(self) -> str | None:
        """The warned agent, or None for a swarm-wide warning."""
        return self.event.agent


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop ``agent`` now (kill switch) and publish ``event``."""

    agent: str
    event: BudgetExceeded


Decision = Warn | Stop


@dataclass(slots=True)
class _Watch:
    """What the governor has already said about one agent."""

    stopped: bool = False
    warned: set[str] = field(default_factory=set)


class BudgetGovernor:
    """Checks every agent's spend against its ``Budget`` and the swarm's cost cap."""

    def __init__(self, meters: SwarmMeter) -> None:
        self.meters = meters
        self._watches: dict[str, _Watch] = {}
        self._swarm_warned = False
        self._swarm_exceeded = False

    @classmethod
    def from_config(cls, config: SwarmConfig) -> BudgetGovernor:
        """A governor (and its meters) for the agents, budgets and prices of ``config``."""
        budgets = {spec.name: spec.budget for spec in config.agents}
        return cls(SwarmMeter(config.price_for, budgets, max_cost_usd=config.swarm.max_cost_usd))

    @classmethod
    def from_budgets(
        cls,
        budgets: Mapping[str, Budget],
        *,
        swarm_max_cost_usd: float | None = None,
        pricing_fn: PricingFn | None = None,
    ) -> BudgetGovernor:
        """A governor for explicit budgets; prices default to the built-in table."""
        prices = pricing_fn if pricing_fn is not None else SwarmConfig().price_for
        return cls(SwarmMeter(prices, budgets, max_cost_usd=swarm_max_cost_usd))

    # ------------------------------------------------------------------ queries

    def is_stopped(self, agent: str) -> bool:
        """True once a ``Stop`` was issued for ``agent`` and it was not ``reset`` since."""
        watch = self._watches.get(agent)
        return watch is not None and watch.stopped

    @property
    def swarm_exceeded(self) -> bool:
        """The swarm cap was crossed: no agent should be started again."""
        return self._swarm_exceeded

    def _watch(self, agent: str) -> _Watch:
        watch = self._watches.get(agent)
        if watch is None:
            watch = self._watches[agent] = _Watch()
        return watch

    # ------------------------------------------------------------------ the clock

    def agent_started(self, agent: str, now: float) -> None:
        self.meters.agent(agent).start(now)

    def agent_paused(self, agent: str, now: float) -> None:
        self.meters.agent(agent).pause(now)

    def agent_resumed(self, agent: str, now: float) -> float:
        """Resume the agent's clock; return how long it was paused."""
        return self.meters.agent(agent).resume(now)

    def agent_stopped(self, agent: str, now: float) -> None:
        self.meters.agent(agent).stop(now)

    # ------------------------------------------------------------------ events

    def observe(self, event: EventBase, now: float) -> list[Decision]:
        """Update the view with one event; return what must be warned or stopped now.

        Lifecycle events (spawned, paused, resumed, exited, crashed) drive the
        agents' clocks; calling ``agent_started`` etc. as well is harmless.
        An event that names no agent is not about a budget: it is ignored
        rather than raised, so one bad producer cannot stop enforcement.
        """
        agent = event.agent
        if agent is None:
            return []
        if isinstance(event, Usage):
            return self._judge(self.meters.record(event, now), now)
        if isinstance(event, AgentResult):
            return self._judge(self.meters.record_result(event), now)
        if isinstance(event, RequestRefused):
            return self._refused(agent, event)
        if isinstance(event, AgentSpawned):
            self.agent_started(agent, now)
        elif isinstance(event, AgentPaused):
            self.agent_paused(agent, now)
        elif isinstance(event, AgentResumed):
            self.agent_resumed(agent, now)
        elif isinstance(event, AgentExited | AgentCrashed):
            self.agent_stopped(agent, now)
        return []

    def observe_usages(
        self, usages: Sequence[Usage], start: int, now: float
    ) -> tuple[int, list[Decision]]:
        """``observe`` for a run of one slice's usage lines, from ``start``, up to a decision.

        Meters each in order and stops right after the first one that yields
        decisions: returns the index after it and its decisions, or
        ``len(usages)`` and none. The caller carries them out before calling
        again for the rest, so what follows a crossing line is metered after
        the stop was decided, exactly as one ``observe`` per line would.
        """
        record = self.meters.record
        judge = self._judge
        for index in range(start, len(usages)):
            decisions = judge(record(usages[index], now), now)
            if decisions:
                return index + 1, decisions
        return len(usages), []

    def observe_run(
        self, usages: Sequence[Usage], run: UsageRun, now: float
    ) -> tuple[int, list[Decision]]:
        """``observe_usages`` from the start of a run that ``SwarmMeter.price_run`` summed.

        A run that cannot bring any decision (``_quiet``) is metered as one
        sum: no line of it would have warned or stopped anyone, and the meters
        end as one ``observe`` per line leaves them. Any other run (near a
        cap, or not the agent's own plain word) goes line by line, so the
        crossing line is still the exact one.
        """
        if run.plain and self._quiet(run, now):
            self.meters.record_run(run, now)
            return len(usages), []
        return self.observe_usages(usages, 0, now)

    def tick(self, now: float) -> list[Decision]:
        """Check the limits that grow without events: wall time, and the crossed swarm cap."""
        decisions: list[Decision] = []
        for meter in self.meters.agents():
            if not meter.running:
                continue
            watch = self._watch(meter.agent)
            if watch.stopped:
                continue
            if self._swarm_exceeded:
                decisions.append(self._swarm_stop(meter.agent, watch))
                continue
            cap = meter.budget.max_wall_seconds
            if cap is not None:
                self._judge_limit(
                    meter.agent,
                    watch,
                    "max_wall_seconds",
                    meter.period_elapsed(now),
                    cap,
                    decisions,
                )
        return decisions

    def reset(self, agent: str, new_budget: Budget | None, now: float) -> None:
        """The operator's audited restart: a new budget period, warnings re-armed.

        Spend so far stays in the lifetime totals and in the swarm total; the
        agent's limits count again from ``now``. ``new_budget`` replaces the
        budget, None keeps it. The swarm cap is not reset: if it was crossed,
        the agent is stopped again at its next event.
        """
        self.meters.agent(agent).rebase(now, new_budget)
        watch = self._watch(agent)
        watch.stopped = False
        watch.warned.clear()

    # ------------------------------------------------------------------ judging

    def _quiet(self, run: UsageRun, now: float) -> bool:
        """No limit, the agent's or the swarm's, can decide within ``run`` (headroom.py)."""
        meter = self.meters.agent(run.agent or "")
        if meter.wire or meter.reported_cost_usd is not None:
            return False  # the charge is not our own price alone: line by line
        watch = self._watches.get(meter.agent)
        stopped = watch is not None and watch.stopped
        if not stopped and not agent_quiet(meter, run, watch.warned if watch else set(), now):
            return False
        cap = self.meters.max_cost_usd
        if cap is None:
            return True
        if self._swarm_exceeded:
            return stopped
        return calm(upper_cost(self.meters.charged_usd, run), cap, self._swarm_warned)

    def _judge(self, meter: AgentMeter, now: float) -> list[Decision]:
        decisions: list[Decision] = []
        name = meter.agent
        watch = self._watches.get(name) or self._watch(name)
        if not watch.stopped:
            # Each limit is judged only once it reaches the warning threshold: four compares.
            tokens_cap, cost_cap, turns_cap, wall_cap = meter.caps
            if tokens_cap is not None:
                tokens = meter.period_tokens()
                if tokens * 100 >= tokens_cap * BUDGET_WARNING_PERCENT:
                    self._judge_limit(name, watch, "max_tokens", tokens, tokens_cap, decisions)
            if cost_cap is not None and not watch.stopped:
                cost = meter.period_cost()
                if cost * 100 >= cost_cap * BUDGET_WARNING_PERCENT:
                    self._judge_limit(name, watch, "max_cost_usd", cost, cost_cap, decisions)
            if turns_cap is not None and not watch.stopped:
                turns = meter.period_turns()
                if turns * 100 >= turns_cap * BUDGET_WARNING_PERCENT:
                    self._judge_limit(name, watch, "max_turns", turns, turns_cap, decisions)
            if wall_cap is not None and not watch.stopped and meter.running:
                wall = meter.period_elapsed(now)
                if wall * 100 >= wall_cap * BUDGET_WARNING_PERCENT:
                    self._judge_limit(name, watch, "max_wall_seconds", wall, wall_cap, decisions)
            if watch.stopped and len(decisions) > 1:  # a Stop makes its event's warnings moot
                decisions = [d for d in decisions if isinstance(d, Stop)]
        if self.meters.max_cost_usd is not None:
            self._judge_swarm(name, watch, decisions)
        return decisions

    def _refused(self, agent: str, event: RequestRefused) -> list[Decision]:
        watch = self._watch(agent)
        if event.limit is None or watch.stopped:
            return []
        watch.stopped = True
        value = event.cap - event.available + event.needed
        exceeded = BudgetExceeded(
            agent=agent, limit=event.limit, value=value, cap=event.cap, overshoot=value - event.cap
        )
        return [Stop(agent, exceeded)]

    def _judge_limit(
        self,
        agent: str,
        watch: _Watch,
        limit: str,
        value: float,
        cap: float,
        decisions: list[Decision],
    ) -> None:
        if value >= cap:
            watch.stopped = True
            watch.warned.add(limit)
            decisions.append(
                Stop(
                    agent,
                    BudgetExceeded(
                        agent=agent, limit=limit, value=value, cap=cap, overshoot=value - cap
                    ),
                )
            )
        elif value * 100 >= cap * BUDGET_WARNING_PERCENT and limit not in watch.warned:
            watch.warned.add(limit)
            decisions.append(
                Warn(
                    BudgetWarning(
                        agent=agent, limit=limit, value=value, cap=cap, fraction=value / cap
                    )
                )
            )

    def _judge_swarm(self, agent: str, watch: _Watch, decisions: list[Decision]) -> None:
        cap = self.meters.max_cost_usd
        if cap is None:
            return
        if self._swarm_exceeded:
            if not watch.stopped:
                decisions.append(self._swarm_stop(agent, watch))
            return
        value = self.meters.charged_usd
        if value >= cap:
            self._swarm_exceeded = True
            if not watch.stopped:
                decisions.append(self._swarm_stop(agent, watch))
            for meter in self.meters.agents():
                other = self._watch(meter.agent)
                if meter.running and not other.stopped:
                    decisions.append(self._swarm_stop(meter.agent, other))
        elif not self._swarm_warned and value * 100 >= cap * BUDGET_WARNING_PERCENT:
            self._swarm_warned = True
            decisions.append(
                Warn(BudgetWarning(limit=SWARM_LIMIT, value=value, cap=cap, fraction=value / cap))
            )

    def _swarm_stop(self, agent: str, watch: _Watch) -> Stop:
        cap = self.meters.max_cost_usd
        assert cap is not None  # only called once the swarm cap was crossed
        value = self.meters.charged_usd
        watch.stopped = True
        return Stop(
            agent,
            BudgetExceeded(
                agent=agent, limit=SWARM_LIMIT, value=value, cap=cap, overshoot=value - cap
            ),
        )
