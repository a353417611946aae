"""One agent's meter: what it spent, how fast, for how long, against which budget.

The hot path of the control room (``record`` per usage line, ``record_run`` per
flood slice) and the figures the governor checks: lifetime counts and our own
price, the budget period's spend, burn rates (burn.py) and running time
(runclock.py). The module docstring of meters.py says which figures are kept
and why.
"""

from __future__ import annotations

import math

from controlroom.models import AgentResult, Budget, Usage
from controlroom.policy.burn import BurnWindow
from controlroom.policy.meter_snapshots import (
    AgentMeterSnapshot,
    LimitStatus,
    seconds_left,
    tightest,
)
from controlroom.policy.price import (
    RELATIVE_EPSILON,
    PricingFn,
    RateCache,
    costs_disagree,
    price_usage,
)
from controlroom.policy.runclock import RunClock
from controlroom.policy.selfreport import DISAGREEMENT_FRACTION, SelfReport, disagreement
from controlroom.policy.usage_run import UsageRun

__all__ = ["LIMIT_NAMES", "AgentMeter"]

LIMIT_NAMES: tuple[str, ...] = ("max_tokens", "max_cost_usd", "max_turns", "max_wall_seconds")
"""The limits of a ``Budget``, in the order ties between them are broken."""

_MINUTE = 60.0


class AgentMeter(RunClock):
    """Spend, burn rate, running time and resources of one agent.

    ``record`` is the hot path of single usage lines, ``record_run`` of a
    flood's (a slice's run of lines as sums, usage_run.py; tens of thousands
    of lines a second): plain attribute arithmetic, a per-model price cache,
    and a window of one-second buckets so that sliding the window is O(1)
    amortised. Its running time is the ``RunClock`` it is built on.
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
        "window",
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
        super().__init__()
        self.agent = agent
        self.budget = budget if budget is not None else Budget()  # sets .caps too
        self._pricing_fn = pricing_fn
        self._rates = RateCache(pricing_fn)
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
        self.window = BurnWindow()
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
        rates = self._rates(usage.model)
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
        self.window.add(now, tokens, cost, turns)
        return cost

    def record_run(self, run: UsageRun, now: float) -> None:
        """``record`` for each line of a plain run (usage_run.py), as one step.

        The counts add as sums; the cost adds each line's price in order, so
        it is the float one ``record`` per line makes; the window takes the
        run at ``now`` (one bucket, as every line of it would share).
        """
        if self.wire or not run.plain:
            raise ValueError("a run is metered at once only as the agent's own, unmetered word")
        cost = self.cost_usd
        for price in run.costs:
            cost += price
        self.cost_usd = cost
        tokens = run.total_tokens
        self.input_tokens += run.input_tokens
        self.output_tokens += run.output_tokens
        self.cache_read_input_tokens += run.cache_read_input_tokens
        self.cache_creation_input_tokens += run.cache_creation_input_tokens
        self.cache_creation_1h_input_tokens += run.cache_creation_1h_input_tokens
        self.total_tokens += tokens
        self.turns += run.turns
        self.window.add(now, tokens, run.cost, run.turns)

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
        self.window.clear()

    def wire_disagreement(self) -> float | None:
        """How far the agent's own report is from the wire (a fraction), once both exist."""
        if not self.wire or not (self.reported.total_tokens or self.reported.turns):
            return None
        return disagreement(self.total_tokens, self.cost_usd, self.reported)

    @property
    def meter_disagreement(self) -> bool:
        gap = self.wire_disagreement()
        return gap is not None and gap > DISAGREEMENT_FRACTION + RELATIVE_EPSILON

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

    # ------------------------------------------------------------------ rates and clock

    def rates_per_minute(self, now: float) -> tuple[float, float, float]:
        """(tokens, USD, turns) per minute over the sliding window ending at ``now``."""
        return self.window.per_minute(now)

    def start(self, now: float) -> bool:
        """The agent's process started (again): its clock runs, and so does its rate window."""
        started = super().start(now)
        if started and self.window.origin is None:
            self.window.origin = now
        return started

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
        clock_runs = self.ticking
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
                    seconds_left=seconds_left(value, float(cap), per_second),
                )
            )
        return tuple(rows)

    def snapshot(self, now: float) -> AgentMeterSnapshot:
        """Everything above, frozen at ``now``: safe to hand to another task or the TUI."""
        tpm, cpm, rpm = self.rates_per_minute(now)
        limits = self.limits(now)
        tightest_limit, seconds = tightest(limits)
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
            tightest_limit=tightest_limit,
            seconds_to_limit=seconds,
            cpu_percent=self.cpu_percent,
            rss_bytes=self.rss_bytes,
            processes=self.processes,
        )
