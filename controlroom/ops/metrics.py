"""The swarm's live state as Prometheus metrics, read at scrape time and at no other.

``SwarmCollector`` is a prometheus_client custom collector: a scrape walks the
supervisor's meters, runners, gates, radar and audit writer once, on the
event loop's thread (the aiohttp handler in ``server.py`` runs there), so the
figures are one consistent picture and the supervisor does no work per event
for them. Every agent-labelled series belongs to an agent of the config:
cardinality is bounded by the number of agents (times the four token kinds,
the four limits or the twelve states), and an agent that never existed has
none.

Names follow Prometheus conventions: a ``_total`` counter for what only goes
up (tokens, cost, restarts, kills), ``_seconds`` and ``_bytes`` in base
units, a ratio in 0…1 for budget use.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Protocol, get_args

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from controlroom import __version__
from controlroom.models import AgentState, CollisionKind
from controlroom.policy.meters import AgentMeter
from controlroom.swarm.supervisor import Supervisor

__all__ = ["TOKEN_KINDS", "SwarmCollector"]

TOKEN_KINDS: tuple[tuple[str, str], ...] = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_read", "cache_read_input_tokens"),
    ("cache_write", "cache_creation_input_tokens"),
)
"""The ``kind`` label of the token counters, and the meter's field for each."""


class _Counts(Protocol):
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int


class _Totals:
    """The swarm's sums, gathered in the same pass over the agents."""

    def __init__(self) -> None:
        self.tokens = 0
        self.cost = 0.0
        self.tokens_per_minute = 0.0
        self.cost_per_minute = 0.0


class SwarmCollector(Collector):
    """Reads ``supervisor`` on every scrape; holds nothing of its own.

    One pass over the agents gives their series and the swarm's sums (a
    meter snapshot per agent would cost more than the scrape's formatting).
    An agent's state is one series, ``state`` set to the current one: twelve
    series per agent, eleven of them 0, would double a scrape's size.
    """

    def __init__(self, supervisor: Supervisor) -> None:
        self.sup = supervisor

    def collect(self) -> Iterator[Metric]:
        totals = _Totals()
        yield from self._agents(totals)
        yield from self._swarm(totals)

    # ------------------------------------------------------------------ per agent

    def _agents(self, totals: _Totals) -> Iterator[Metric]:
        sup = self.sup
        now = sup.clock()
        tokens = CounterMetricFamily(
            "controlroom_agent_tokens",
            "Tokens an agent spent, by kind; source wire = metered by the proxy, "
            "agent = the agent's own reports (the budget counts the wire once it meters).",
            labels=["agent", "kind", "source"],
        )
        cost = _counter("controlroom_agent_cost_usd", "What an agent's tokens cost (our prices)")
        turns = _counter("controlroom_agent_turns", "Model turns")
        used = GaugeMetricFamily(
            "controlroom_agent_budget_used_ratio",
            "Share of each budget limit used in the current budget period (1 = reached)",
            labels=["agent", "limit"],
        )
        state = GaugeMetricFamily(
            "controlroom_agent_state", "The agent's current state (1)", labels=["agent", "state"]
        )
        restarts = _counter("controlroom_agent_restarts", "Spawns after the first (retries)")
        breaker = _gauge("controlroom_agent_breaker_open", "1 while the circuit breaker is open")
        kills = SummaryMetricFamily(
            "controlroom_agent_kill_duration_seconds",
            "Verified kills of the agent's tree and how long each took",
            labels=["agent"],
        )
        cpu = _gauge("controlroom_agent_cpu_ratio", "CPU of the agent's tree, in cores")
        rss = _gauge("controlroom_agent_resident_memory_bytes", "RSS of the agent's tree")
        meters = sup.governor.meters
        tallies = sup.stops.tallies
        for name, runner in sup.runners.items():
            state.add_metric([name, runner.state], 1.0)
            restarts.add_metric([name], max(0, runner.attempt - 1))
            breaker.add_metric([name], 1.0 if runner.breaker.is_open else 0.0)
            tally = tallies.get(name)  # an agent never killed has no kill series
            if tally is not None:
                kills.add_metric([name], count_value=tally.count, sum_value=tally.seconds)
            if name not in meters:
                continue
            meter = meters.agent(name)
            _tokens(tokens, name, meter)
            cost.add_metric([name], meter.cost_usd)
            turns.add_metric([name], meter.turns)
            for limit in meter.limits(now):
                used.add_metric([name, limit.limit], limit.fraction)
            if runner.alive and meter.cpu_percent is not None:
                cpu.add_metric([name], meter.cpu_percent / 100)
            if runner.alive and meter.rss_bytes is not None:
                rss.add_metric([name], meter.rss_bytes)
            per_minute = meter.rates_per_minute(now)
            totals.tokens += meter.total_tokens
            totals.cost += meter.cost_usd
            totals.tokens_per_minute += per_minute[0]
            totals.cost_per_minute += per_minute[1]
        yield from (tokens, cost, turns, used, state, restarts, breaker, kills, cpu, rss)

    # ------------------------------------------------------------------ the swarm

    def _swarm(self, totals: _Totals) -> Iterator[Metric]:
        sup = self.sup
        info = GaugeMetricFamily(
            "controlroom_run_info", "The run being served", labels=["swarm", "run", "version"]
        )
        info.add_metric([sup.config.swarm.name, sup.run_id, __version__], 1.0)
        yield info
        yield CounterMetricFamily(
            "controlroom_swarm_cost_usd", "The whole swarm's cost (our prices)", totals.cost
        )
        yield CounterMetricFamily(
            "controlroom_swarm_tokens", "The whole swarm's tokens", totals.tokens
        )
        yield GaugeMetricFamily(
            "controlroom_swarm_burn_usd_per_hour",
            "Cost burn rate over the last minute",
            totals.cost_per_minute * 60,
        )
        yield GaugeMetricFamily(
            "controlroom_swarm_burn_tokens_per_minute",
            "Token burn rate over the last minute",
            totals.tokens_per_minute,
        )
        meters = sup.governor.meters
        if meters.max_cost_usd:
            yield GaugeMetricFamily(
                "controlroom_swarm_budget_used_ratio",
                "Share of the swarm's cost cap used",
                meters.charged_usd / meters.max_cost_usd,
            )
        counts = GaugeMetricFamily("controlroom_agents", "Agents in each state", labels=["state"])
        by_state = Counter(runner.state for runner in sup.runners.values())
        for value in AgentState:
            counts.add_metric([value], by_state[value])
        yield counts
        yield from self._gates()
        yield from self._audit()

    def _gates(self) -> Iterator[Metric]:
        pending = self.sup.gates.pending()
        now = time.monotonic()  # the clock gates are opened by
        yield GaugeMetricFamily(
            "controlroom_gates_pending", "Gates waiting for the operator", len(pending)
        )
        oldest = max((now - gate.opened for gate in pending), default=0.0)
        yield GaugeMetricFamily(
            "controlroom_gate_oldest_age_seconds",
            "How long the oldest pending gate has waited (0: none waits)",
            max(0.0, oldest),
        )
        collisions = GaugeMetricFamily(
            "controlroom_collisions", "Collisions the radar sees now", labels=["kind"]
        )
        radar = self.sup.radar
        found = [entry[0].kind for entry in radar.collisions.values()] if radar else []
        for kind in get_args(CollisionKind):
            collisions.add_metric([kind], found.count(kind))
        yield collisions

    def _audit(self) -> Iterator[Metric]:
        bus = self.sup.bus
        yield CounterMetricFamily(
            "controlroom_events", "Events taken into the audit log this run", bus.events_taken
        )
        yield GaugeMetricFamily(
            "controlroom_audit_backlog_events", "Events not yet committed to disk", bus.backlog
        )
        ok = 0 if bus.failing else 1
        yield GaugeMetricFamily("controlroom_audit_ok", "1 while the audit log is written", ok)


def _counter(name: str, documentation: str) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, labels=["agent"])


def _gauge(name: str, documentation: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=["agent"])


def _tokens(family: CounterMetricFamily, agent: str, meter: AgentMeter) -> None:
    """Wire and agent sources: the agent's own word is kept beside the wire's once it meters."""
    sources: list[tuple[str, _Counts]] = []
    if meter.wire:
        sources = [("wire", meter), ("agent", meter.reported)]
    else:
        sources = [("agent", meter)]
    for source, counts in sources:
        for kind, field in TOKEN_KINDS:
            family.add_metric([agent, kind, source], getattr(counts, field))
