"""Live token meters: what each agent and the whole swarm has spent, and how fast.

Pure bookkeeping, no I/O and no clock of its own: every method that depends
on time takes ``now`` (monotonic seconds), so the supervisor decides what
"now" is and tests are exact. The meter is the one source of truth for spend
and for an agent's running time; the budget governor reads it, the TUI shows
its snapshots.

Figures kept per agent:

* token counts of the four Anthropic kinds, turns, and the cost the meter
  priced itself from those tokens (``price_usage``) — an event's own
  ``cost_usd`` is never trusted, so an agent cannot under-report its price;
* Claude Code's own price (``AgentResult.reported_cost_usd``), kept beside it
  and flagged when the two differ by more than 5 %;
* burn rates over a sliding 60 s window, and from them the projected seconds
  until the tightest limit of the agent's ``Budget``;
* running time that excludes paused time;
* spend that only goes up: every count and price adds; a negative delta
  counts as 0;
* *where* spend was measured: once the metering proxy has metered an agent
  (a ``source = "proxy"`` usage), its counts are the wire's alone: what the
  agent reports about itself from then on (and what it had reported before,
  which the wire now replaces) is kept in ``reported`` (selfreport.py),
  compared, and never counted twice;
* cpu / memory / process count, as last set by a sampler.

Spend is counted for the agent's whole life, across restarts. A budget
applies to a *period*: it starts when the meter is made and again at each
``rebase`` (the operator's audited restart with a fresh or bigger budget), so
limits are checked against spend since the last rebase while the lifetime
totals and the swarm total keep counting.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controlroom.models import AgentResult, Budget, Pricing, Usage
from controlroom.policy.selfreport import DISAGREEMENT_FRACTION, SelfReport, disagreement

__all__ = [
    "BUCKET_SECONDS",
    "COST_DISAGREEMENT_FRACTION",
    "LIMIT_NAMES",
    "WINDOW_SECONDS",
    "AgentMeter",
    "AgentMeterSnapshot",
    "LimitStatus",
    "PricingFn",
    "SwarmMeter",
    "SwarmMeterSnapshot",
    "costs_disagree",
    "meter_dict",
    "price_usage",
]

PricingFn = Callable[[str | None], Pricing]
"""Prices for a model name, e.g. ``SwarmConfig.price_for``."""

WINDOW_SECONDS = 60.0
"""Burn rates are measured over this sliding window."""

BUCKET_SECONDS = 1.0
"""Events less than this far apart share one window bucket (the window's resolution)."""

COST_DISAGREEMENT_FRACTION = 0.05
"""Our price and Claude Code's may differ by this fraction of Claude Code's before we flag it."""

LIMIT_NAMES: tuple[str, ...] = ("max_tokens", "max_cost_usd", "max_turns", "max_wall_seconds")
"""The limits of a ``Budget``, in the order ties between them are broken."""

_MINUTE = 60.0
_RELATIVE_EPSILON = 1e-9  # so that 0.95 vs 1.00 counts as exactly 5 %, not 5.0000000000000044 %


def price_usage(usage: Usage, pricing_fn: PricingFn) -> float:
    """The USD cost of one usage delta, cache reads and writes at their own prices."""
    return pricing_fn(usage.model).cost(
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
        usage.cache_creation_1h_input_tokens,
    )


def costs_disagree(metered: float, reported: float | None) -> bool:
    """True when Claude Code's own price and ours differ by more than 5 % of Claude Code's.

    No reported price means nothing to disagree with. A reported price of 0
    disagrees with any positive metered cost.
    """
    if reported is None:
        return False
    allowed = COST_DISAGREEMENT_FRACTION * abs(reported)
    return abs(metered - reported) > allowed + _RELATIVE_EPSILON * max(abs(reported), 1.0)


@dataclass(frozen=True, slots=True)
class LimitStatus:
    """One limit of a budget: how much of it the current budget period has used.

    ``seconds_left`` is the projection at the current rate: 0 once the limit
    is reached, None when nothing is consuming it (rate 0, or for wall time a
    paused or stopped clock).
    """

    limit: str
    value: float
    cap: float
    fraction: float
    seconds_left: float | None


@dataclass(frozen=True, slots=True)
class AgentMeterSnapshot:
    """An immutable picture of one agent's meter at ``at`` (monotonic seconds).

    Counts and ``cost_usd`` (our own price) are lifetime totals; ``limits``
    show the current budget period. Rates are per minute over the window.
    """

    agent: str
    at: float
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    cache_creation_1h_input_tokens: int
    total_tokens: int
    cost_usd: float
    reported_cost_usd: float | None
    cost_disagreement: bool
    turns: int
    metered_at: str  # "wire" (the proxy) or "agent" (its own reports)
    self_reported_tokens: int | None  # once metered at the wire: what the agent said
    self_reported_cost_usd: float | None
    meter_disagreement: bool  # the two differ by over 5 %
    tokens_per_minute: float
    cost_per_minute: float
    turns_per_minute: float
    elapsed_seconds: float
    running: bool
    paused: bool
    budget: Budget
    limits: tuple[LimitStatus, ...]
    tightest_limit: str | None
    seconds_to_limit: float | None
    cpu_percent: float | None
    rss_bytes: int | None
    processes: int | None


@dataclass(frozen=True, slots=True)
class SwarmMeterSnapshot:
    """An immutable picture of the whole swarm: totals, burn rate, and every agent."""

    at: float
    agents: tuple[AgentMeterSnapshot, ...]
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    total_tokens: int
    cost_usd: float
    charged_usd: float
    turns: int
    tokens_per_minute: float
    cost_per_minute: float
    running: int
    max_cost_usd: float | None

    def agent(self, name: str) -> AgentMeterSnapshot:
        for snap in self.agents:
            if snap.agent == name:
                return snap
        raise KeyError(name)


class AgentMeter:
    """Spend, burn rate, running time and resources of one agent.

    ``record`` is the hot path (called for every usage line, up to tens of
    thousands a second): plain attribute arithmetic, a per-model price
    cache, and a window of one-second buckets so that sliding the window is
    O(1) amortised.
    """

    __slots__ = (
        "agent",
        "_budget",
        "caps",
        "_pricing_fn",
        "_rates",
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "cache_creation_1h_input_tokens",
        "total_tokens",
        "cost_usd",
        "turns",
        "reported_cost_usd",
        "wire",
        "reported",
        "_buckets",
        "_window_tokens",
        "_window_cost",
        "_window_turns",
        "_rate_origin",
        "_accumulated",
        "_running_since",
        "_paused_since",
        "_running",
        "_base_tokens",
        "_base_cost",
        "_base_turns",
        "_base_elapsed",
        "_base_reported",
        "cpu_percent",
        "rss_bytes",
        "processes",
    )

    def __init__(self, agent: str, pricing_fn: PricingFn, budget: Budget | None = None) -> None:
        self.agent = agent
        self.budget = budget if budget is not None else Budget()  # sets .caps too
        self._pricing_fn = pricing_fn
        # per model: Pricing's five USD-per-million rates
        self._rates: dict[str | None, tuple[float, float, float, float, float]] = {}
        # lifetime totals
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_read_input_tokens = 0
        self.cache_creation_input_tokens = 0  # both TTLs
        self.cache_creation_1h_input_tokens = 0
        self.total_tokens = 0
        self.cost_usd = 0.0
        self.turns = 0
        self.reported_cost_usd: float | None = None
        self.wire = False  # metered by the proxy: the counts above are the wire's
        self.reported = SelfReport()  # the agent's own reports, once the wire meters it
        # the sliding window: [opened_at, tokens, cost, turns] per bucket
        self._buckets: deque[list[float]] = deque()
        self._window_tokens = 0.0
        self._window_cost = 0.0
        self._window_turns = 0.0
        self._rate_origin: float | None = None  # when metering began, for young windows
        # the clock
        self._accumulated = 0.0
        self._running_since: float | None = None  # set while running and not paused
        self._paused_since: float | None = None
        self._running = False
        # the budget period began at these lifetime values
        self._base_tokens = 0
        self._base_cost = 0.0
        self._base_turns = 0
        self._base_elapsed = 0.0
        self._base_reported = 0.0
        # resources, as last sampled
        self.cpu_percent: float | None = None
        self.rss_bytes: int | None = None
        self.processes: int | None = None

    @property
    def budget(self) -> Budget:
        return self._budget

    @budget.setter
    def budget(self, budget: Budget) -> None:
        self._budget = budget
        # the limits in LIMIT_NAMES order, as plain values for the governor's hot path
        self.caps: tuple[int | None, float | None, int | None, float | None] = (
            budget.max_tokens,
            budget.max_cost_usd,
            budget.max_turns,
            budget.max_wall_seconds,
        )

    # ------------------------------------------------------------------ spend

    def record(self, usage: Usage, now: float) -> float:
        """Count one usage delta at ``now``; return the cost it added to the counted cost."""
        if usage.source == "proxy":
            if not self.wire:
                self._meter_at_wire()
        elif self.wire:  # the wire is the meter now; the agent's word is kept to compare
            self.reported.add(usage, price_usage(usage, self._pricing_fn))
            return 0.0
        model = usage.model
        rates = self._rates.get(model)
        if rates is None:
            p = self._pricing_fn(model)
            rates = self._rates[model] = (
                p.input_per_mtok,
                p.output_per_mtok,
                p.cache_read_per_mtok,
                p.cache_write_per_mtok,
                p.write_1h_per_mtok,
            )
        inp = usage.input_tokens
        out = usage.output_tokens
        cread = usage.cache_read_input_tokens
        cwrite = usage.cache_creation_input_tokens
        hour = usage.cache_creation_1h_input_tokens
        turns = usage.turns
        if (inp | out | cread | cwrite | hour | turns) < 0:  # one test for all: any negative
            # Meters only go up. A validated Usage cannot carry a negative count;
            # one built around validation still takes nothing back.
            inp, out, cread, cwrite, hour, turns = (
                max(0, n) for n in (inp, out, cread, cwrite, hour, turns)
            )
        if hour > cwrite:
            hour = cwrite
        # Pricing.cost's formula, inlined: a method call costs more than the arithmetic
        cost = (
            inp * rates[0]
            + out * rates[1]
            + cread * rates[2]
            + (cwrite - hour) * rates[3]
            + hour * rates[4]
        ) / 1_000_000
        tokens = inp + out + cread + cwrite
        self.input_tokens += inp
        self.output_tokens += out
        self.cache_read_input_tokens += cread
        self.cache_creation_input_tokens += cwrite
        self.cache_creation_1h_input_tokens += hour
        self.total_tokens += tokens
        self.cost_usd += cost
        self.turns += turns

        buckets = self._buckets
        if buckets and now - buckets[-1][0] < BUCKET_SECONDS:
            last = buckets[-1]
            last[1] += tokens
            last[2] += cost
            last[3] += turns
        else:
            buckets.append([now, tokens, cost, turns])
            if buckets[0][0] <= now - WINDOW_SECONDS:
                self._slide(now)
            if self._rate_origin is None:
                self._rate_origin = now
        self._window_tokens += tokens
        self._window_cost += cost
        self._window_turns += turns
        return cost

    def _meter_at_wire(self) -> None:
        """From now on only the proxy's figures count.

        What was counted so far was the agent's own word, which the wire now
        replaces: it moves to ``reported``, and the counts start from zero.
        """
        self.wire = True
        self.reported = SelfReport(
            self.input_tokens,
            self.output_tokens,
            self.cache_read_input_tokens,
            self.cache_creation_input_tokens,
            self.cache_creation_1h_input_tokens,
            self.cost_usd,
            self.turns,
        )
        self.input_tokens = self.output_tokens = self.cache_read_input_tokens = 0
        self.cache_creation_input_tokens = self.cache_creation_1h_input_tokens = 0
        self.total_tokens = self.turns = 0
        self.cost_usd = 0.0
        self._base_tokens = self._base_turns = 0
        self._base_cost = 0.0
        self._buckets.clear()
        self._window_tokens = self._window_cost = self._window_turns = 0.0

    def wire_disagreement(self) -> float | None:
        """How far the agent's own report is from the wire (a fraction), once both exist."""
        if not self.wire or not (self.reported.total_tokens or self.reported.turns):
            return None
        return disagreement(self.total_tokens, self.cost_usd, self.reported)

    @property
    def meter_disagreement(self) -> bool:
        gap = self.wire_disagreement()
        return gap is not None and gap > DISAGREEMENT_FRACTION + _RELATIVE_EPSILON

    def record_result(self, result: AgentResult) -> None:
        """Keep Claude Code's own price beside ours; results of successive runs add up.

        A negative or non-finite price is ignored: it could only lower a figure
        the budget may rely on.
        """
        reported = result.reported_cost_usd
        if reported is None or not 0.0 <= reported < math.inf:
            return
        previous = self.reported_cost_usd or 0.0
        self.reported_cost_usd = previous + reported

    @property
    def cost_disagreement(self) -> bool:
        return costs_disagree(self.cost_usd, self.reported_cost_usd)

    def set_resources(
        self, *, cpu_percent: float | None, rss_bytes: int | None, processes: int | None
    ) -> None:
        """Figures from the process sampler (psutil), shown as they are."""
        self.cpu_percent = cpu_percent
        self.rss_bytes = rss_bytes
        self.processes = processes

    # ------------------------------------------------------------------ rates

    def _slide(self, now: float) -> None:
        """Drop buckets opened WINDOW_SECONDS or more before ``now``."""
        buckets = self._buckets
        horizon = now - WINDOW_SECONDS
        while buckets and buckets[0][0] <= horizon:
            _, tokens, cost, turns = buckets.popleft()
            self._window_tokens -= tokens
            self._window_cost -= cost
            self._window_turns -= turns
        if not buckets:  # no float residue once the window is empty
            self._window_tokens = self._window_cost = self._window_turns = 0.0

    def _span(self, now: float) -> float:
        """Seconds the window covers: 60, or less while metering is younger than that.

        Floored at one bucket so a first burst does not project an absurd rate.
        """
        origin = self._rate_origin
        if origin is None:
            return WINDOW_SECONDS
        return max(BUCKET_SECONDS, min(WINDOW_SECONDS, now - origin))

    def rates_per_minute(self, now: float) -> tuple[float, float, float]:
        """(tokens, USD, turns) per minute over the sliding window ending at ``now``."""
        self._slide(now)
        scale = _MINUTE / self._span(now)
        return (
            self._window_tokens * scale,
            self._window_cost * scale,
            self._window_turns * scale,
        )

    # ------------------------------------------------------------------ clock

    @property
    def running(self) -> bool:
        return self._running

    @property
    def paused(self) -> bool:
        return self._paused_since is not None

    def start(self, now: float) -> None:
        """The agent's process started (again): its clock runs. No-op if already running."""
        if self._running:
            return
        self._running = True
        self._running_since = now
        self._paused_since = None
        if self._rate_origin is None:
            self._rate_origin = now

    def pause(self, now: float) -> None:
        """The agent was paused (SIGSTOP): its clock stops. No-op unless running."""
        if not self._running or self._paused_since is not None:
            return
        self._accumulate(now)
        self._paused_since = now

    def resume(self, now: float) -> float:
        """The agent was resumed; return how long it was paused (0 if it was not)."""
        paused_since = self._paused_since
        if not self._running or paused_since is None:
            return 0.0
        self._paused_since = None
        self._running_since = now
        return max(0.0, now - paused_since)

    def stop(self, now: float) -> None:
        """The agent's process ended: its clock stops until the next ``start``."""
        if not self._running:
            return
        self._accumulate(now)
        self._running = False
        self._paused_since = None

    def _accumulate(self, now: float) -> None:
        since = self._running_since
        if since is not None:
            self._accumulated += max(0.0, now - since)
            self._running_since = None

    def elapsed(self, now: float) -> float:
        """Seconds the agent has been running, over all its runs, paused time excluded."""
        since = self._running_since
        if since is None or now <= since:
            return self._accumulated
        return self._accumulated + (now - since)

    # ------------------------------------------------------------------ budget

    def rebase(self, now: float, budget: Budget | None = None) -> None:
        """Begin a new budget period at ``now`` (optionally with a new budget)."""
        if budget is not None:
            self.budget = budget
        self._base_tokens = self.total_tokens
        self._base_cost = self.cost_usd
        self._base_turns = self.turns
        self._base_elapsed = self.elapsed(now)
        self._base_reported = self.reported_cost_usd or 0.0

    def period_tokens(self) -> int:
        return self.total_tokens - self._base_tokens

    def period_cost(self) -> float:
        """Cost of this budget period: the higher of our price and Claude Code's own.

        Claude Code also pays for calls it never shows in its stream (title
        generation, summaries), so when its own figure is higher the budget
        trusts it: a cap is only safe if it errs towards stopping. Metered at
        the wire, every such call went through the proxy: the wire is the figure.
        """
        cost = self.cost_usd - self._base_cost
        if self.reported_cost_usd is not None and not self.wire:
            reported = self.reported_cost_usd - self._base_reported
            if reported > cost:
                return reported
        return cost

    def period_turns(self) -> int:
        return self.turns - self._base_turns

    def period_elapsed(self, now: float) -> float:
        since = self._running_since
        if since is None or now <= since:
            return self._accumulated - self._base_elapsed
        return self._accumulated + (now - since) - self._base_elapsed

    def limits(self, now: float) -> tuple[LimitStatus, ...]:
        """Every limit the budget sets, with its use and projection, in ``LIMIT_NAMES`` order."""
        tpm, cpm, rpm = self.rates_per_minute(now)
        budget = self.budget
        clock_runs = self._running_since is not None
        rows: list[LimitStatus] = []
        for name, cap, value, per_second in (
            ("max_tokens", budget.max_tokens, float(self.period_tokens()), tpm / _MINUTE),
            ("max_cost_usd", budget.max_cost_usd, self.period_cost(), cpm / _MINUTE),
            ("max_turns", budget.max_turns, float(self.period_turns()), rpm / _MINUTE),
            (
                "max_wall_seconds",
                budget.max_wall_seconds,
                self.period_elapsed(now),
                1.0 if clock_runs else 0.0,
            ),
        ):
            if cap is None:
                continue
            rows.append(
                LimitStatus(
                    limit=name,
                    value=value,
                    cap=float(cap),
                    fraction=value / cap,
                    seconds_left=_seconds_left(value, float(cap), per_second),
                )
            )
        return tuple(rows)

    def snapshot(self, now: float) -> AgentMeterSnapshot:
        """Everything above, frozen at ``now``: safe to hand to another task or the TUI."""
        tpm, cpm, rpm = self.rates_per_minute(now)
        limits = self.limits(now)
        tightest, seconds = _tightest(limits)
        return AgentMeterSnapshot(
            agent=self.agent,
            at=now,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens,
            cache_creation_1h_input_tokens=self.cache_creation_1h_input_tokens,
            total_tokens=self.total_tokens,
            cost_usd=self.cost_usd,
            reported_cost_usd=self.reported_cost_usd,
            cost_disagreement=self.cost_disagreement,
            turns=self.turns,
            metered_at="wire" if self.wire else "agent",
            self_reported_tokens=self.reported.total_tokens if self.wire else None,
            self_reported_cost_usd=self.reported.cost_usd if self.wire else None,
            meter_disagreement=self.meter_disagreement,
            tokens_per_minute=tpm,
            cost_per_minute=cpm,
            turns_per_minute=rpm,
            elapsed_seconds=self.elapsed(now),
            running=self._running,
            paused=self.paused,
            budget=self.budget,
            limits=limits,
            tightest_limit=tightest,
            seconds_to_limit=seconds,
            cpu_percent=self.cpu_percent,
            rss_bytes=self.rss_bytes,
            processes=self.processes,
        )


def _seconds_left(value: float, cap: float, per_second: float) -> float | None:
    if value >= cap:
        return 0.0
    if per_second <= 0.0:
        return None
    return (cap - value) / per_second


def _tightest(limits: Iterable[LimitStatus]) -> tuple[str | None, float | None]:
    """The limit projected to be reached first; ties go to the earlier in ``LIMIT_NAMES``."""
    best_name: str | None = None
    best_seconds = math.inf
    for row in limits:
        if row.seconds_left is not None and row.seconds_left < best_seconds:
            best_name, best_seconds = row.limit, row.seconds_left
    if best_name is None:
        return None, None
    return best_name, best_seconds


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


def meter_dict(snap: AgentMeterSnapshot) -> dict[str, Any]:
    """An agent's meter snapshot as JSON data (for the control API and the socket)."""
    data: dict[str, Any] = {
        name: getattr(snap, name)
        for name in AgentMeterSnapshot.__dataclass_fields__
        if name not in ("budget", "limits")
    }
    data["budget"] = snap.budget.model_dump()
    data["limits"] = [
        {
            "limit": lim.limit,
            "value": lim.value,
            "cap": lim.cap,
            "fraction": lim.fraction,
            "seconds_left": lim.seconds_left,
        }
        for lim in snap.limits
    ]
    return data
