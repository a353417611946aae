"""The swarm's meter: every agent's meter, and what the swarm cap is checked against.

Kept apart from ``AgentMeter`` because its job is the sum: ``charged_usd``
is kept as usage arrives, so the governor checks the swarm cap in O(1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from controlroom.models import AgentResult, Budget, Usage
from controlroom.policy.agent_meter import AgentMeter
from controlroom.policy.meter_snapshots import SwarmMeterSnapshot
from controlroom.policy.price import PricingFn, RateCache
from controlroom.policy.usage_run import UsageRun, price_run

__all__ = ["SwarmMeter"]


class SwarmMeter:
    """Every agent's meter, plus swarm totals kept as they happen.

    ``charged_usd`` is what the swarm cap is checked against: the sum over
    agents of the higher of our lifetime price and Claude Code's own (as in
    ``AgentMeter.period_cost``). It is kept incrementally so the governor can
    check the swarm cap on every event in O(1). ``cost_usd`` in a snapshot is
    our own price alone. Agents are created on first sight with their
    configured budget, or with no limits at all.
    """

    def __init__(
        self,
        pricing_fn: PricingFn,
        budgets: Mapping[str, Budget] | None = None,
        *,
        max_cost_usd: float | None = None,
    ) -> None:
        self._pricing_fn = pricing_fn
        self._rates = RateCache(pricing_fn)
        self._budgets: dict[str, Budget] = dict(budgets or {})
        self.max_cost_usd = max_cost_usd
        self._agents: dict[str, AgentMeter] = {}
        self._charged: dict[str, float] = {}  # what each agent adds to charged_usd
        self.charged_usd = 0.0

    @property
    def pricing_fn(self) -> PricingFn:
        """The prices every meter uses (the metering proxy prices worst cases with them too)."""
        return self._pricing_fn

    def agent(self, name: str) -> AgentMeter:
        """The meter of ``name``, created with its configured budget on first use."""
        meter = self._agents.get(name)
        if meter is None:
            meter = self._agents[name] = AgentMeter(name, self._pricing_fn, self._budgets.get(name))
            self._charged[name] = 0.0
        return meter

    def agents(self) -> list[AgentMeter]:
        return list(self._agents.values())

    def __contains__(self, name: object) -> bool:
        return name in self._agents

    def record(self, usage: Usage, now: float) -> AgentMeter:
        """Count a usage delta for its agent; return that agent's meter."""
        name = usage.agent
        if name is None:
            raise ValueError("a Usage event must name its agent to be metered")
        meter = self._agents.get(name) or self.agent(name)
        was_wire = meter.wire
        cost = meter.record(usage, now)
        if meter.reported_cost_usd is None and meter.wire is was_wire:
            self.charged_usd += cost  # the common case: charged is our own price
            self._charged[name] += cost
        else:  # Claude Code's own price, or the wire replacing the agent's word
            self._recharge(name, meter)
        return meter

    def price_run(self, usages: Sequence[Usage]) -> UsageRun:
        """Each line of a run priced (its ``cost_usd`` set) and the run summed (usage_run.py)."""
        return price_run(usages, self._rates)

    def record_run(self, run: UsageRun, now: float) -> AgentMeter:
        """``record`` for every line of a plain run at once: the same counts and floats.

        The swarm's charged cost adds each line's price in order, as one
        ``record`` per line would (our own price is the charge while the agent
        has no price of Claude Code's and is not metered at the wire: the
        governor sends only such runs here).
        """
        name = run.agent
        if name is None or not run.plain:
            raise ValueError("only a plain run of one named agent's own usage is metered at once")
        meter = self._agents.get(name) or self.agent(name)
        meter.record_run(run, now)
        charged = self.charged_usd
        mine = self._charged[name]
        for cost in run.costs:
            charged += cost
            mine += cost
        self.charged_usd = charged
        self._charged[name] = mine
        return meter

    def record_result(self, result: AgentResult) -> AgentMeter:
        name = result.agent
        if name is None:
            raise ValueError("an AgentResult must name its agent to be metered")
        meter = self.agent(name)
        meter.record_result(result)
        self._recharge(name, meter)
        return meter

    def _recharge(self, name: str, meter: AgentMeter) -> None:
        reported = meter.reported_cost_usd
        charge = meter.cost_usd
        if reported is not None and reported > charge and not meter.wire:
            charge = reported
        self.charged_usd += charge - self._charged[name]
        self._charged[name] = charge

    def snapshot(self, now: float) -> SwarmMeterSnapshot:
        snaps = tuple(m.snapshot(now) for m in self._agents.values())
        return SwarmMeterSnapshot(
            at=now,
            agents=snaps,
            input_tokens=sum(s.input_tokens for s in snaps),
            output_tokens=sum(s.output_tokens for s in snaps),
            cache_read_input_tokens=sum(s.cache_read_input_tokens for s in snaps),
            cache_creation_input_tokens=sum(s.cache_creation_input_tokens for s in snaps),
            total_tokens=sum(s.total_tokens for s in snaps),
            cost_usd=sum(s.cost_usd for s in snaps),
            charged_usd=self.charged_usd,
            turns=sum(s.turns for s in snaps),
            tokens_per_minute=sum(s.tokens_per_minute for s in snaps),
            cost_per_minute=sum(s.cost_per_minute for s in snaps),
            running=sum(1 for s in snaps if s.running),
            max_cost_usd=self.max_cost_usd,
        )
