"""A run of usage lines metered at once decides and meters exactly as one ``observe`` per line.

The governor meters a slice's run of usage lines as one sum when no line of
it can warn or stop anyone (``observe_run``, headroom.py); near a cap it
goes line by line. Either way the decisions (which line, which limit, which
value) and the meters (counts, and costs to the last bit of the float) must
be those of the line-by-line governor fed the same lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from controlroom.models import AgentResult, Budget, SwarmConfig, Usage
from controlroom.policy.governor import BudgetGovernor, Decision, Stop
from controlroom.policy.headroom import agent_quiet, calm
from controlroom.policy.meters import AgentMeter, price_usage
from controlroom.policy.price import RateCache
from controlroom.policy.usage_run import price_run

PRICES = SwarmConfig().price_for  # the built-in table: rates whose sums round
AGENTS = ("a", "b")


@dataclass(frozen=True)
class Said:
    """A decision as the log would show it, and the line it fell on."""

    line: int
    stop: bool
    agent: str | None
    limit: str
    value: float
    cap: float


def said(line: int, decisions: list[Decision]) -> list[Said]:
    return [
        Said(line, isinstance(d, Stop), d.event.agent, d.event.limit, d.event.value, d.event.cap)
        for d in decisions
    ]


def governor(budget: Budget, swarm_cap: float | None) -> BudgetGovernor:
    gov = BudgetGovernor.from_budgets(
        dict.fromkeys(AGENTS, budget), swarm_max_cost_usd=swarm_cap, pricing_fn=PRICES
    )
    for agent in AGENTS:
        gov.agent_started(agent, 0.0)
    return gov


def line_by_line(gov: BudgetGovernor, run: list[Usage], first: int, now: float) -> list[Said]:
    out: list[Said] = []
    for index, usage in enumerate(run):
        out += said(first + index, gov.observe(usage, now))
    return out


def as_the_router_does(gov: BudgetGovernor, run: list[Usage], first: int, now: float) -> list[Said]:
    """``EventRouter._usage_run``'s calls: price the run, observe it at once, then the rest."""
    priced = gov.meters.price_run(run)
    out: list[Said] = []
    upto, decisions = gov.observe_run(run, priced, now)
    while True:
        out += said(first + upto - 1, decisions)
        if upto >= len(run):
            return out
        upto, decisions = gov.observe_usages(run, upto, now)


def meters(gov: BudgetGovernor, now: float) -> list[object]:
    figures: list[object] = [gov.meters.charged_usd, gov.swarm_exceeded]
    for agent in AGENTS:
        m = gov.meters.agent(agent)
        figures += [
            m.input_tokens,
            m.output_tokens,
            m.cache_read_input_tokens,
            m.cache_creation_input_tokens,
            m.cache_creation_1h_input_tokens,
            m.total_tokens,
            m.turns,
            m.cost_usd,  # compared exactly: the same float, not an approximation
            gov.is_stopped(agent),
        ]
        tokens_per_minute, _, turns_per_minute = m.rates_per_minute(now)
        figures += [tokens_per_minute, turns_per_minute]  # the burn window took the run too
    return figures


_count = st.integers(min_value=0, max_value=4_000)
_usage = st.builds(
    lambda agent, i, o, r, w, h, t, model: Usage(
        agent=agent,
        input_tokens=i,
        output_tokens=o,
        cache_read_input_tokens=r,
        cache_creation_input_tokens=w,
        cache_creation_1h_input_tokens=h,
        turns=t,
        model=model,
    ),
    st.just("a"),
    _count,
    _count,
    _count,
    _count,
    _count,
    st.integers(min_value=0, max_value=3),
    st.sampled_from(["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1", None]),
)
_budget = st.builds(
    Budget,
    max_tokens=st.none() | st.integers(min_value=1, max_value=300_000),
    max_cost_usd=st.none() | st.floats(min_value=0.001, max_value=4.0),
    max_turns=st.none() | st.integers(min_value=1, max_value=150),
    max_wall_seconds=st.none() | st.floats(min_value=1.0, max_value=40.0),
)


@settings(max_examples=300, deadline=None)
@given(
    budget=_budget,
    swarm_cap=st.none() | st.floats(min_value=0.01, max_value=8.0),
    runs=st.lists(
        st.tuples(
            st.sampled_from(AGENTS),
            st.lists(_usage, min_size=1, max_size=25),
            st.none() | st.floats(min_value=0.0, max_value=3.0),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_runs_metered_at_once_decide_and_meter_as_line_by_line(
    budget: Budget, swarm_cap: float | None, runs: list[tuple[str, list[Usage], float | None]]
) -> None:
    """Two agents, runs near and far from every cap, and at times Claude Code's own price."""
    slow, fast = governor(budget, swarm_cap), governor(budget, swarm_cap)
    first = 0
    for step, (agent, run, reported) in enumerate(runs):
        now = float(step * 5)  # wall time moves between runs, not within one
        if reported is not None:  # the agent's own price: the charge may be it from now on
            result = AgentResult(agent=agent, is_error=False, reported_cost_usd=reported)
            assert said(-1, fast.observe(result, now)) == said(-1, slow.observe(result, now))
        lines = [u.model_copy(update={"agent": agent}) for u in run]
        expected = line_by_line(slow, lines, first, now)  # the reference: one observe per line
        assert as_the_router_does(fast, lines, first, now) == expected
        assert meters(fast, now) == meters(slow, now)
        first += len(run)


def test_a_run_is_priced_line_by_line_as_price_usage_prices_each() -> None:
    run = [
        Usage(agent="a", input_tokens=7, output_tokens=3, model="claude-opus-4-1"),
        Usage(
            agent="a",
            cache_read_input_tokens=11,
            cache_creation_input_tokens=5,
            cache_creation_1h_input_tokens=9,  # more than the writes: priced as 5
            model="claude-sonnet-4-5",
        ),
        Usage(agent="a", input_tokens=1, turns=0),
    ]
    priced = price_run(run, RateCache(PRICES))
    assert priced.costs == [price_usage(u, PRICES) for u in run]
    assert [u.cost_usd for u in run] == priced.costs
    assert (priced.total_tokens, priced.turns, priced.cache_creation_1h_input_tokens) == (27, 2, 5)
    assert priced.plain and priced.agent == "a"


def test_a_run_that_is_not_one_agents_own_word_is_not_plain() -> None:
    rates = RateCache(PRICES)
    proxy = [Usage(agent="a", input_tokens=1), Usage(agent="a", input_tokens=1, source="proxy")]
    assert not price_run(proxy, rates).plain
    two = [Usage(agent="a", input_tokens=1), Usage(agent="b", input_tokens=1)]
    assert not price_run(two, rates).plain
    negative = [Usage.model_construct(agent="a", input_tokens=-5, source="agent", turns=1)]
    negative[0].__dict__.update(
        output_tokens=0,
        cache_read_input_tokens=0,
        cache_creation_input_tokens=0,
        cache_creation_1h_input_tokens=0,
        model=None,
    )
    assert not price_run(negative, rates).plain


def test_headroom_is_judged_where_the_run_ends() -> None:
    """Cap 1,000 tokens: a run ending at 799 is quiet; at 800 it would warn, unless warned."""
    meter = AgentMeter("a", PRICES, Budget(max_tokens=1_000))
    rates = RateCache(PRICES)
    run = price_run([Usage(agent="a", input_tokens=400), Usage(agent="a", input_tokens=399)], rates)
    assert agent_quiet(meter, run, set(), 0.0)
    more = price_run(
        [Usage(agent="a", input_tokens=400), Usage(agent="a", input_tokens=400)], rates
    )
    assert not agent_quiet(meter, more, set(), 0.0)
    assert agent_quiet(meter, more, {"max_tokens"}, 0.0)  # warned already, and under the cap
    cap = price_run([Usage(agent="a", input_tokens=1_000)], rates)
    assert not agent_quiet(meter, cap, {"max_tokens"}, 0.0)
    assert calm(799.0, 1_000.0, False) and not calm(800.0, 1_000.0, False)
