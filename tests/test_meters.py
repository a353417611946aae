"""Token meters: pricing, totals, burn rate window, projection, pause-aware clock."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlroom.models import AgentResult, Budget, Pricing, SwarmConfig, Usage
from controlroom.policy.meters import (
    AgentMeter,
    PricingFn,
    SwarmMeter,
    costs_disagree,
    price_usage,
)

SONNET = Pricing(
    input_per_mtok=3.0, output_per_mtok=15.0, cache_read_per_mtok=0.3, cache_write_per_mtok=3.75
)
ONE_DOLLAR = Pricing(  # every token costs $0.000001
    input_per_mtok=1.0, output_per_mtok=1.0, cache_read_per_mtok=1.0, cache_write_per_mtok=1.0
)
CONFIG = SwarmConfig(pricing={"claude-sonnet-4-5": SONNET, "default": ONE_DOLLAR})
PRICE: PricingFn = CONFIG.price_for


def usage(agent: str = "a", *, model: str | None = None, turns: int = 1, **tokens: int) -> Usage:
    return Usage(agent=agent, model=model, turns=turns, **tokens)


# --------------------------------------------------------------------------- pricing


def test_price_usage_charges_every_token_kind_at_its_own_price() -> None:
    u = usage(
        model="claude-sonnet-4-5",
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_read_input_tokens=1_000_000,
        cache_creation_input_tokens=1_000_000,
    )
    assert price_usage(u, PRICE) == pytest.approx(3.0 + 15.0 + 0.3 + 3.75, abs=1e-12)
    only_cache = usage(model="claude-sonnet-4-5", cache_read_input_tokens=2_000_000)
    assert price_usage(only_cache, PRICE) == pytest.approx(0.6, abs=1e-12)
    only_write = usage(model="claude-sonnet-4-5", cache_creation_input_tokens=400_000)
    assert price_usage(only_write, PRICE) == pytest.approx(1.5, abs=1e-12)


def test_price_usage_matches_dated_model_names_by_prefix_and_falls_back_to_default() -> None:
    dated = usage(model="claude-sonnet-4-5-20250929", output_tokens=1_000_000)
    assert price_usage(dated, PRICE) == pytest.approx(15.0)
    unknown = usage(model="some-local-model", output_tokens=1_000_000)
    assert price_usage(unknown, PRICE) == pytest.approx(1.0)


def test_record_prices_each_model_itself_and_ignores_the_events_own_cost() -> None:
    calls: list[str | None] = []

    def counting_price(model: str | None) -> Pricing:
        calls.append(model)
        return PRICE(model)

    meter = AgentMeter("a", counting_price)
    sonnet = usage(model="claude-sonnet-4-5", input_tokens=1000, cache_read_input_tokens=10_000)
    sonnet.cost_usd = 999.0  # an agent-supplied price must not count
    cheap = usage(model=None, output_tokens=500)
    assert meter.record(sonnet, 0.0) == price_usage(sonnet, PRICE)
    assert meter.record(sonnet, 0.1) == price_usage(sonnet, PRICE)
    assert meter.record(cheap, 0.2) == price_usage(cheap, PRICE)
    expected = 2 * (1000 * 3.0 + 10_000 * 0.3) / 1e6 + 500 / 1e6
    assert meter.cost_usd == pytest.approx(expected, rel=1e-12)
    assert calls == ["claude-sonnet-4-5", None]  # priced once per model, then cached


def test_record_accumulates_every_count_and_turns() -> None:
    meter = AgentMeter("a", PRICE)
    meter.record(usage(input_tokens=10, output_tokens=20, cache_read_input_tokens=30), 0.0)
    meter.record(usage(cache_creation_input_tokens=40, turns=3), 1.0)
    meter.record(usage(input_tokens=5, turns=0), 2.0)
    snap = meter.snapshot(2.0)
    assert (snap.input_tokens, snap.output_tokens) == (15, 20)
    assert (snap.cache_read_input_tokens, snap.cache_creation_input_tokens) == (30, 40)
    assert snap.total_tokens == 105
    assert snap.turns == 4
    assert snap.cost_usd == pytest.approx(105 / 1e6)


# --------------------------------------------------------------------------- disagreement


@pytest.mark.parametrize(
    ("metered", "reported", "flag"),
    [
        (1.00, None, False),
        (0.95, 1.00, False),  # exactly 5 % below: not more than 5 %
        (0.9499, 1.00, True),
        (1.05, 1.00, False),  # exactly 5 % above
        (1.0501, 1.00, True),
        (0.00, 0.00, False),
        (0.01, 0.00, True),
        (0.00, 0.01, True),
    ],
)
def test_costs_disagree_at_more_than_five_percent(
    metered: float, reported: float | None, flag: bool
) -> None:
    assert costs_disagree(metered, reported) is flag


def test_meter_flags_disagreement_with_claude_codes_own_price() -> None:
    meter = AgentMeter("a", PRICE)
    meter.record(usage(input_tokens=1_000_000), 0.0)  # $1.00 by our prices
    assert meter.snapshot(0.0).reported_cost_usd is None
    assert meter.snapshot(0.0).cost_disagreement is False
    meter.record_result(AgentResult(agent="a", is_error=False, reported_cost_usd=0.52))
    assert meter.cost_disagreement is True
    meter.record_result(AgentResult(agent="a", is_error=False, reported_cost_usd=0.52))
    snap = meter.snapshot(0.0)
    assert snap.reported_cost_usd == pytest.approx(1.04)  # results of successive runs add up
    assert snap.cost_disagreement is False
    meter.record_result(AgentResult(agent="a", is_error=True, reported_cost_usd=None))
    assert meter.reported_cost_usd == pytest.approx(1.04)


# --------------------------------------------------------------------------- burn rate


def test_burn_rate_window_slides_over_sixty_seconds() -> None:
    meter = AgentMeter("a", PRICE)
    meter.start(-100.0)  # metering older than the window: rates are plain 60 s sums
    meter.record(usage(input_tokens=600), 0.0)
    meter.record(usage(input_tokens=1200, turns=2), 30.0)
    assert meter.rates_per_minute(59.5)[0] == pytest.approx(1800)
    tpm, cpm, rpm = meter.rates_per_minute(60.0)  # the event at t=0 is exactly 60 s old: out
    assert tpm == pytest.approx(1200)
    assert cpm == pytest.approx(1200 / 1e6)
    assert rpm == pytest.approx(2)
    assert meter.rates_per_minute(89.99)[0] == pytest.approx(1200)
    assert meter.rates_per_minute(90.0) == (0.0, 0.0, 0.0)
    assert meter.total_tokens == 1800  # lifetime totals never slide


def test_events_less_than_a_second_apart_share_a_bucket() -> None:
    meter = AgentMeter("a", PRICE)
    meter.start(-100.0)
    meter.record(usage(input_tokens=100), 0.0)
    meter.record(usage(input_tokens=10), 0.9)  # joins the bucket opened at 0.0
    meter.record(usage(input_tokens=1), 1.0)  # opens a new bucket
    assert meter.rates_per_minute(59.9)[0] == pytest.approx(111)
    assert meter.rates_per_minute(60.0)[0] == pytest.approx(1)  # 0.9 leaves with its bucket
    assert meter.rates_per_minute(61.0)[0] == 0.0


def test_young_meter_rates_extrapolate_over_its_age_floored_at_a_second() -> None:
    meter = AgentMeter("a", PRICE)
    meter.start(0.0)
    meter.record(usage(input_tokens=100), 0.0)
    assert meter.rates_per_minute(10.0)[0] == pytest.approx(600)
    assert meter.rates_per_minute(0.5)[0] == pytest.approx(6000)
    assert meter.rates_per_minute(59.0)[0] == pytest.approx(100 * 60 / 59)


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0.0, max_value=20.0), min_size=1, max_size=80),
    amounts=st.lists(st.integers(min_value=0, max_value=10_000), min_size=80, max_size=80),
    look=st.floats(min_value=0.0, max_value=90.0),
)
def test_window_counts_exactly_the_last_minute_within_one_bucket(
    gaps: list[float], amounts: list[int], look: float
) -> None:
    meter = AgentMeter("a", PRICE)
    meter.start(-1000.0)
    events: list[tuple[float, int]] = []
    now = 0.0
    for gap, amount in zip(gaps, amounts, strict=False):
        now += gap
        meter.record(usage(input_tokens=amount), now)
        events.append((now, amount))
    at = now + look
    window = meter.rates_per_minute(at)[0]
    surely_in = sum(a for t, a in events if t > at - 59.0)
    maybe_in = sum(a for t, a in events if t > at - 60.0)
    assert surely_in - 1e-6 <= window <= maybe_in + 1e-6


# --------------------------------------------------------------------------- clock


def test_elapsed_excludes_paused_time_and_sums_runs() -> None:
    meter = AgentMeter("a", PRICE)
    assert meter.elapsed(5.0) == 0.0
    meter.start(10.0)
    assert meter.elapsed(15.0) == 5.0
    meter.pause(20.0)
    assert meter.snapshot(40.0).paused is True
    assert meter.elapsed(40.0) == 10.0  # frozen while paused
    assert meter.resume(50.0) == 30.0
    assert meter.elapsed(60.0) == 20.0
    meter.stop(70.0)
    assert meter.elapsed(1000.0) == 30.0
    assert meter.snapshot(1000.0).running is False
    meter.start(200.0)  # a restart adds to the same clock
    assert meter.elapsed(205.0) == 35.0


def test_clock_calls_out_of_order_are_harmless() -> None:
    meter = AgentMeter("a", PRICE)
    meter.pause(1.0)
    assert meter.resume(2.0) == 0.0
    meter.stop(3.0)
    assert meter.elapsed(4.0) == 0.0
    meter.start(10.0)
    meter.start(15.0)  # already running: the first start counts
    meter.pause(20.0)
    meter.pause(25.0)  # already paused
    assert meter.resume(30.0) == 10.0
    assert meter.resume(31.0) == 0.0
    meter.pause(40.0)
    meter.stop(100.0)  # stopped while paused: paused time stays out
    assert meter.elapsed(200.0) == 20.0
    assert meter.paused is False


# --------------------------------------------------------------------------- projection


FULL_BUDGET = Budget(max_tokens=10_000, max_cost_usd=1.0, max_turns=100, max_wall_seconds=1000)


def test_projection_picks_the_tightest_limit() -> None:
    meter = AgentMeter("a", PRICE, FULL_BUDGET)
    meter.start(0.0)
    meter.record(usage(input_tokens=6000), 30.0)  # 6000 tokens/min, $0.006/min, 1 turn/min
    snap = meter.snapshot(60.0)
    left = {row.limit: row.seconds_left for row in snap.limits}
    assert left["max_tokens"] == pytest.approx(4000 / 100)
    assert left["max_cost_usd"] == pytest.approx(0.994 / 0.0001)
    assert left["max_turns"] == pytest.approx(99 * 60)
    assert left["max_wall_seconds"] == pytest.approx(940)
    assert snap.tightest_limit == "max_tokens"
    assert snap.seconds_to_limit == pytest.approx(40)
    fractions = {row.limit: row.fraction for row in snap.limits}
    assert fractions == pytest.approx(
        {"max_tokens": 0.6, "max_cost_usd": 0.006, "max_turns": 0.01, "max_wall_seconds": 0.06}
    )


def test_projection_picks_cost_when_the_model_is_expensive() -> None:
    budget = FULL_BUDGET.model_copy(update={"max_tokens": 1_000_000, "max_wall_seconds": 10_000})
    meter = AgentMeter("a", PRICE, budget)
    meter.start(0.0)
    meter.record(usage(model="claude-sonnet-4-5", output_tokens=2000), 30.0)  # $0.03
    snap = meter.snapshot(60.0)
    left = {row.limit: row.seconds_left for row in snap.limits}
    assert left["max_tokens"] == pytest.approx(998_000 / (2000 / 60))
    assert snap.tightest_limit == "max_cost_usd"
    assert snap.seconds_to_limit == pytest.approx(0.97 / (0.03 / 60))


def test_projection_picks_turns_and_then_wall_time_when_nothing_burns() -> None:
    meter = AgentMeter("a", PRICE, FULL_BUDGET)
    meter.start(0.0)
    meter.record(usage(turns=60), 30.0)  # no tokens, 60 turns/min: 40 left → 40 s
    snap = meter.snapshot(60.0)
    assert snap.tightest_limit == "max_turns"
    assert snap.seconds_to_limit == pytest.approx(40)
    later = meter.snapshot(200.0)  # the window is empty: only wall time still runs
    assert later.tightest_limit == "max_wall_seconds"
    assert later.seconds_to_limit == pytest.approx(800)


def test_paused_or_idle_agent_projects_nothing_and_reached_limit_projects_zero() -> None:
    meter = AgentMeter("a", PRICE, FULL_BUDGET)
    meter.start(0.0)
    meter.pause(10.0)
    snap = meter.snapshot(100.0)
    assert (snap.tightest_limit, snap.seconds_to_limit) == (None, None)
    meter.resume(100.0)
    meter.record(usage(input_tokens=10_000), 101.0)
    snap = meter.snapshot(101.0)
    assert (snap.tightest_limit, snap.seconds_to_limit) == ("max_tokens", 0.0)


def test_no_budget_means_no_limits_and_no_projection() -> None:
    meter = AgentMeter("a", PRICE)
    meter.start(0.0)
    meter.record(usage(input_tokens=10), 1.0)
    snap = meter.snapshot(2.0)
    assert snap.limits == ()
    assert snap.tightest_limit is None


def test_rebase_starts_a_new_budget_period_but_keeps_lifetime_totals() -> None:
    meter = AgentMeter("a", PRICE, FULL_BUDGET)
    meter.start(0.0)
    meter.record(usage(input_tokens=9000, turns=7), 10.0)
    meter.rebase(20.0, Budget(max_tokens=50_000))
    meter.record(usage(input_tokens=1000), 25.0)
    assert meter.period_tokens() == 1000
    assert meter.period_turns() == 1
    assert meter.period_cost() == pytest.approx(1000 / 1e6)
    assert meter.period_elapsed(30.0) == pytest.approx(10.0)
    assert meter.total_tokens == 10_000
    assert meter.elapsed(30.0) == 30.0
    assert [row.limit for row in meter.snapshot(30.0).limits] == ["max_tokens"]


def test_period_cost_trusts_the_higher_of_ours_and_claude_codes() -> None:
    meter = AgentMeter("a", PRICE)
    meter.record(usage(input_tokens=500_000), 0.0)
    assert meter.period_cost() == pytest.approx(0.5)
    meter.record_result(AgentResult(agent="a", is_error=False, reported_cost_usd=0.8))
    assert meter.period_cost() == pytest.approx(0.8)
    # a negative price takes nothing back (meters only go up)
    meter.record_result(AgentResult(agent="a", is_error=False, reported_cost_usd=-0.6))
    assert meter.period_cost() == pytest.approx(0.8)


# --------------------------------------------------------------------------- snapshot


def test_snapshot_is_immutable_and_does_not_follow_later_records() -> None:
    meter = AgentMeter("a", PRICE)
    meter.set_resources(cpu_percent=12.5, rss_bytes=4096, processes=3)
    meter.record(usage(input_tokens=10), 0.0)
    snap = meter.snapshot(0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.total_tokens = 5  # type: ignore[misc]
    meter.record(usage(input_tokens=10), 1.0)
    assert snap.total_tokens == 10
    assert (snap.cpu_percent, snap.rss_bytes, snap.processes) == (12.5, 4096, 3)
    assert snap.agent == "a" and snap.at == 0.0


# --------------------------------------------------------------------------- swarm


def test_swarm_meter_totals_rates_and_budgets() -> None:
    swarm = SwarmMeter(PRICE, {"a": Budget(max_tokens=100)}, max_cost_usd=10.0)
    swarm.agent("a").start(-100.0)
    swarm.agent("b").start(-100.0)
    swarm.record(usage("a", input_tokens=60, output_tokens=40), 0.0)
    swarm.record(usage("b", model="claude-sonnet-4-5", output_tokens=1000, turns=2), 0.0)
    swarm.record(usage("c", cache_read_input_tokens=5), 0.0)
    swarm.agent("b").stop(1.0)
    snap = swarm.snapshot(30.0)
    assert [a.agent for a in snap.agents] == ["a", "b", "c"]
    assert snap.agent("a").budget == Budget(max_tokens=100)
    assert snap.agent("c").budget == Budget()
    assert (snap.input_tokens, snap.output_tokens, snap.cache_read_input_tokens) == (60, 1040, 5)
    assert snap.total_tokens == 1105
    assert snap.turns == 4
    assert snap.cost_usd == pytest.approx(100 / 1e6 + 0.015 + 5 / 1e6)
    assert snap.charged_usd == pytest.approx(snap.cost_usd)
    assert snap.tokens_per_minute == pytest.approx(100 + 1000 + 5 * 2)  # c is 30 s old
    assert snap.running == 1
    assert snap.max_cost_usd == 10.0
    with pytest.raises(KeyError):
        snap.agent("nobody")


def test_swarm_charge_follows_the_higher_reported_cost() -> None:
    swarm = SwarmMeter(PRICE)
    swarm.record(usage("a", input_tokens=1_000_000), 0.0)
    swarm.record(usage("b", input_tokens=1_000_000), 0.0)
    assert swarm.charged_usd == pytest.approx(2.0)
    swarm.record_result(AgentResult(agent="a", is_error=False, reported_cost_usd=1.5))
    assert swarm.charged_usd == pytest.approx(2.5)
    swarm.record(usage("a", input_tokens=1_000_000), 1.0)  # ours overtakes theirs again
    assert swarm.charged_usd == pytest.approx(3.0)


def test_swarm_meter_refuses_events_without_an_agent() -> None:
    swarm = SwarmMeter(PRICE)
    with pytest.raises(ValueError, match="name its agent"):
        swarm.record(Usage(input_tokens=1), 0.0)
    with pytest.raises(ValueError, match="name its agent"):
        swarm.record_result(AgentResult(is_error=False))
