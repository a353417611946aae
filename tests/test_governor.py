"""Budget governor: exact warnings, stops, overshoots, swarm cap and operator reset."""

from __future__ import annotations

import pytest

from controlroom.models import (
    AgentExited,
    AgentPaused,
    AgentResult,
    AgentResumed,
    AgentSpawned,
    AgentSpec,
    Budget,
    BudgetExceeded,
    BudgetWarning,
    Pricing,
    StatusEvent,
    SwarmConfig,
    SwarmSettings,
    Usage,
)
from controlroom.policy.governor import SWARM_LIMIT, BudgetGovernor, Decision, Stop, Warn

ONE_DOLLAR = Pricing(  # every token costs $0.000001: a million tokens is exactly $1
    input_per_mtok=1.0, output_per_mtok=1.0, cache_read_per_mtok=1.0, cache_write_per_mtok=1.0
)


def prices(model: str | None) -> Pricing:
    return ONE_DOLLAR


def governor(budgets: dict[str, Budget], swarm_max_cost_usd: float | None = None) -> BudgetGovernor:
    return BudgetGovernor.from_budgets(
        budgets, swarm_max_cost_usd=swarm_max_cost_usd, pricing_fn=prices
    )


def spend(agent: str, tokens: int = 0, turns: int = 0) -> Usage:
    return Usage(agent=agent, input_tokens=tokens, turns=turns)


def only_warning(decisions: list[Decision]) -> BudgetWarning:
    assert len(decisions) == 1 and isinstance(decisions[0], Warn), decisions
    return decisions[0].event


def only_stop(decisions: list[Decision]) -> Stop:
    assert len(decisions) == 1 and isinstance(decisions[0], Stop), decisions
    return decisions[0]


# --------------------------------------------------------------------------- per agent


def test_tokens_warn_once_at_eighty_percent_and_stop_on_reaching_the_cap() -> None:
    gov = governor({"a": Budget(max_tokens=1000)})
    assert gov.observe(spend("a", 799), 0.0) == []
    warning = only_warning(gov.observe(spend("a", 1), 1.0))
    assert (warning.agent, warning.limit) == ("a", "max_tokens")
    assert (warning.value, warning.cap, warning.fraction) == (800, 1000, 0.8)
    assert gov.observe(spend("a", 100), 2.0) == []  # 900: warned already
    assert gov.observe(spend("a", 99), 3.0) == []  # 999: one token left
    stop = only_stop(gov.observe(spend("a", 8), 4.0))
    assert stop.agent == stop.event.agent == "a"
    assert (stop.event.limit, stop.event.value, stop.event.cap) == ("max_tokens", 1007, 1000)
    assert stop.event.overshoot == 7
    assert gov.is_stopped("a")
    assert gov.observe(spend("a", 5000), 5.0) == []  # nothing more until a reset
    assert gov.meters.agent("a").total_tokens == 6007  # but the spend is still counted


def test_reaching_the_token_cap_exactly_stops_with_zero_overshoot() -> None:
    gov = governor({"a": Budget(max_tokens=10_000)})
    decisions: list[Decision] = []
    for i in range(10):
        decisions = gov.observe(spend("a", 1000), float(i))
        if i < 9:
            assert not any(isinstance(d, Stop) for d in decisions)
    stop = only_stop(decisions)
    assert (stop.event.value, stop.event.overshoot) == (10_000, 0)


def test_cost_cap_is_exact_to_the_token() -> None:
    gov = governor({"a": Budget(max_cost_usd=1.0)})
    warning = only_warning(gov.observe(spend("a", 800_000), 0.0))
    assert (warning.limit, warning.value, warning.fraction) == ("max_cost_usd", 0.8, 0.8)
    assert gov.observe(spend("a", 199_999), 1.0) == []  # $0.999999
    stop = only_stop(gov.observe(spend("a", 2), 2.0))
    assert stop.event.limit == "max_cost_usd"
    assert stop.event.value == pytest.approx(1.000001, abs=1e-12)
    assert stop.event.overshoot == pytest.approx(0.000001, abs=1e-12)


def test_turns_cap() -> None:
    gov = governor({"a": Budget(max_turns=5)})
    assert gov.observe(spend("a", turns=3), 0.0) == []
    warning = only_warning(gov.observe(spend("a", turns=1), 1.0))
    assert (warning.limit, warning.value) == ("max_turns", 4)
    stop = only_stop(gov.observe(spend("a", turns=3), 3.0))  # the 5th turn ends the budget
    assert (stop.event.limit, stop.event.value, stop.event.overshoot) == ("max_turns", 7, 2)


def test_a_jump_past_the_cap_stops_without_a_warning() -> None:
    gov = governor({"a": Budget(max_tokens=1000)})
    stop = only_stop(gov.observe(spend("a", 5000), 0.0))
    assert (stop.event.value, stop.event.overshoot) == (5000, 4000)


def test_one_event_crossing_several_limits_gives_one_stop_for_the_first() -> None:
    gov = governor({"a": Budget(max_tokens=10, max_cost_usd=0.000005, max_turns=1)})
    stop = only_stop(gov.observe(spend("a", 20, turns=3), 0.0))
    assert stop.event.limit == "max_tokens"


def test_warnings_of_other_limits_are_dropped_when_the_event_stops_the_agent() -> None:
    gov = governor({"a": Budget(max_tokens=100, max_turns=10)})
    # tokens reach 90 % and turns cross in the same event: only the stop is reported
    stop = only_stop(gov.observe(spend("a", 90, turns=11), 0.0))
    assert stop.event.limit == "max_turns"


def test_warnings_for_two_limits_in_one_event() -> None:
    gov = governor({"a": Budget(max_tokens=100, max_turns=10)})
    decisions = gov.observe(spend("a", 85, turns=9), 0.0)
    assert [d.event.limit for d in decisions] == ["max_tokens", "max_turns"]
    assert all(isinstance(d, Warn) for d in decisions)
    assert gov.observe(spend("a", 1, turns=0), 1.0) == []


def test_events_without_an_agent_are_ignored() -> None:
    gov = governor({"a": Budget(max_tokens=1)}, swarm_max_cost_usd=0.000001)
    assert gov.observe(Usage(input_tokens=10**6), 0.0) == []
    assert gov.observe(AgentResult(is_error=False, reported_cost_usd=9.0), 0.0) == []
    assert gov.meters.charged_usd == 0.0


def test_agent_without_budget_is_never_stopped() -> None:
    gov = governor({})
    assert gov.observe(spend("free", 10**9, turns=10**6), 0.0) == []
    assert gov.meters.agent("free").total_tokens == 10**9


def test_reported_cost_counts_when_higher_than_ours() -> None:
    gov = governor({"a": Budget(max_cost_usd=1.0)})
    assert gov.observe(spend("a", 500_000), 0.0) == []
    result = AgentResult(agent="a", is_error=False, reported_cost_usd=1.2)
    stop = only_stop(gov.observe(result, 1.0))
    assert (stop.event.limit, stop.event.value) == ("max_cost_usd", 1.2)
    assert stop.event.overshoot == pytest.approx(0.2)


# --------------------------------------------------------------------------- wall time


def test_wall_time_excludes_pauses_and_stops_at_the_cap_inclusive() -> None:
    gov = governor({"a": Budget(max_wall_seconds=100)})
    gov.agent_started("a", 0.0)
    gov.agent_paused("a", 50.0)
    assert gov.tick(1000.0) == []  # paused: the clock does not run
    assert gov.agent_resumed("a", 150.0) == 100.0
    assert gov.tick(179.9) == []
    warning = only_warning(gov.tick(180.0))
    assert (warning.limit, warning.value, warning.fraction) == ("max_wall_seconds", 80.0, 0.8)
    assert gov.tick(199.9) == []
    stop = only_stop(gov.tick(200.0))
    assert (stop.event.limit, stop.event.value, stop.event.overshoot) == (
        "max_wall_seconds",
        100.0,
        0.0,
    )
    assert gov.tick(500.0) == []


def test_lifecycle_events_drive_the_clock() -> None:
    gov = governor({"a": Budget(max_wall_seconds=100)})
    spawned = AgentSpawned(agent="a", pid=1, create_time=0.0, argv=["x"], workspace=".")
    assert gov.observe(spawned, 0.0) == []
    assert gov.observe(AgentPaused(agent="a", by="op"), 10.0) == []
    assert gov.observe(AgentResumed(agent="a", by="op"), 60.0) == []
    assert gov.observe(AgentExited(agent="a", returncode=0, success=True), 70.0) == []
    assert gov.meters.agent("a").elapsed(1000.0) == 20.0
    assert gov.tick(10_000.0) == []  # an exited agent's clock is not running
    assert gov.observe(StatusEvent(agent="a", text="hi"), 1.0) == []


def test_wall_time_is_also_checked_when_usage_arrives() -> None:
    gov = governor({"a": Budget(max_wall_seconds=10, max_tokens=1000)})
    gov.agent_started("a", 0.0)
    stop = only_stop(gov.observe(spend("a", 1), 12.5))
    assert (stop.event.limit, stop.event.overshoot) == ("max_wall_seconds", 2.5)


# --------------------------------------------------------------------------- swarm cap


def test_swarm_cap_warns_once_then_stops_every_running_agent() -> None:
    budgets = {"a": Budget(), "b": Budget(), "c": Budget(), "d": Budget()}
    gov = governor(budgets, swarm_max_cost_usd=1.0)
    for name in "abc":
        gov.agent_started(name, 0.0)
    assert gov.observe(spend("a", 500_000), 1.0) == []
    warning = only_warning(gov.observe(spend("b", 300_000), 2.0))
    assert (warning.agent, warning.limit, warning.value) == (None, SWARM_LIMIT, 0.8)
    assert gov.observe(spend("b", 100_000), 3.0) == []  # warned once only
    assert not gov.swarm_exceeded
    decisions = gov.observe(spend("c", 100_001), 4.0)
    assert all(isinstance(d, Stop) for d in decisions)
    assert [d.event.agent for d in decisions] == ["c", "a", "b"]  # d never ran
    for decision in decisions:
        assert isinstance(decision.event, BudgetExceeded)
        assert decision.event.limit == SWARM_LIMIT
        assert decision.event.value == pytest.approx(1.000001)
        assert decision.event.cap == 1.0
        assert decision.event.overshoot == pytest.approx(0.000001)
    assert gov.swarm_exceeded
    assert gov.observe(spend("a", 10), 5.0) == []  # already stopped
    gov.agent_started("d", 6.0)  # an agent started after the crossing is stopped at once
    stop = only_stop(gov.tick(6.0))
    assert (stop.agent, stop.event.limit) == ("d", SWARM_LIMIT)
    assert gov.tick(7.0) == []


def test_own_limit_and_swarm_cap_in_one_event() -> None:
    gov = governor({"a": Budget(max_tokens=100), "b": Budget()}, swarm_max_cost_usd=0.0001)
    gov.agent_started("a", 0.0)
    gov.agent_started("b", 0.0)
    decisions = gov.observe(spend("a", 150), 1.0)
    assert [(d.event.agent, d.event.limit) for d in decisions] == [
        ("a", "max_tokens"),
        ("b", SWARM_LIMIT),
    ]


def test_swarm_cap_counts_stopped_agents_trailing_spend() -> None:
    gov = governor({"a": Budget(max_tokens=10), "b": Budget()}, swarm_max_cost_usd=0.001)
    gov.agent_started("b", 0.0)
    only_stop(gov.observe(spend("a", 20), 0.0))
    stop = only_stop(gov.observe(spend("a", 1000), 1.0))  # a is stopped; b pays for the cap
    assert (stop.agent, stop.event.limit) == ("b", SWARM_LIMIT)


# --------------------------------------------------------------------------- reset


def test_reset_starts_a_new_period_with_a_new_budget() -> None:
    gov = governor({"a": Budget(max_tokens=1000, max_wall_seconds=100)})
    gov.agent_started("a", 0.0)
    only_warning(gov.observe(spend("a", 800), 1.0))
    only_stop(gov.observe(spend("a", 201), 2.0))
    gov.reset("a", Budget(max_tokens=2000), 10.0)
    assert not gov.is_stopped("a")
    assert gov.meters.agent("a").budget == Budget(max_tokens=2000)
    assert gov.observe(spend("a", 1599), 11.0) == []
    warning = only_warning(gov.observe(spend("a", 1), 12.0))  # re-armed, counted from reset
    assert (warning.value, warning.cap) == (1600, 2000)
    stop = only_stop(gov.observe(spend("a", 401), 13.0))
    assert (stop.event.value, stop.event.overshoot) == (2001, 1)
    assert gov.tick(10_000.0) == []  # the new budget has no wall limit; a is stopped anyway
    assert gov.meters.agent("a").total_tokens == 3002


def test_reset_without_a_budget_keeps_the_old_one() -> None:
    gov = governor({"a": Budget(max_turns=2)})
    only_stop(gov.observe(spend("a", turns=3), 0.0))
    gov.reset("a", None, 1.0)
    assert gov.meters.agent("a").budget == Budget(max_turns=2)
    assert gov.observe(spend("a", turns=1), 2.0) == []
    stop = only_stop(gov.observe(spend("a", turns=2), 3.0))
    assert (stop.event.value, stop.event.overshoot) == (3, 1)


def test_reset_does_not_lift_a_crossed_swarm_cap() -> None:
    gov = governor({"a": Budget()}, swarm_max_cost_usd=0.001)
    gov.agent_started("a", 0.0)
    only_stop(gov.observe(spend("a", 2000), 0.0))
    gov.reset("a", Budget(max_tokens=10**9), 1.0)
    stop = only_stop(gov.observe(spend("a", 1), 2.0))
    assert stop.event.limit == SWARM_LIMIT


# --------------------------------------------------------------------------- config


def test_from_config_uses_the_agents_budgets_prices_and_swarm_cap() -> None:
    config = SwarmConfig(
        swarm=SwarmSettings(max_cost_usd=100.0),
        agents=[
            AgentSpec(name="arch", command=["x"], budget=Budget(max_cost_usd=3.0)),
            AgentSpec(name="impl", command=["x"]),
        ],
        pricing={"m": Pricing(input_per_mtok=10.0, output_per_mtok=50.0)},
    )
    gov = BudgetGovernor.from_config(config)
    assert gov.meters.max_cost_usd == 100.0
    assert gov.meters.agent("impl").budget == Budget()
    warning = only_warning(gov.observe(Usage(agent="arch", model="m", output_tokens=50_000), 0.0))
    assert warning.value == pytest.approx(2.5)
    stop = only_stop(gov.observe(Usage(agent="arch", model="m", input_tokens=60_000), 1.0))
    assert stop.event.value == pytest.approx(3.1)
