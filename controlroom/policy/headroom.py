"""Headroom: can a run of usage lines bring any budget decision? (``BudgetGovernor._quiet``)

Why: the governor meters a run of an agent's usage lines as one sum
(usage_run.py) only when no line of it could warn or stop anyone, so that
the line that crosses a cap is still judged on its own. Spend only grows
(every count and price adds), so looking at where the run ends is enough:
if its end is calm for every limit, so is every line before it.
"""

from __future__ import annotations

from controlroom.models import BUDGET_WARNING_PERCENT
from controlroom.policy.agent_meter import AgentMeter
from controlroom.policy.usage_run import UsageRun

__all__ = ["SLACK", "agent_quiet", "calm", "upper_cost"]

SLACK = 1e-9
"""Relative margin on a cost reached by adding a run's prices one by one.

Each float addition rounds by at most 1.1e-16 of the running sum, so a run
of fewer than a million lines is off by less than this; a run judged with
the margin can only be judged too close to a cap, never too far from it."""


def calm(value: float, cap: float, warned: bool) -> bool:
    """The governor decides nothing at ``value`` (nor below it).

    Under the warning threshold (``BUDGET_WARNING_PERCENT`` of the cap, as
    ``BudgetGovernor._judge`` compares it), or already warned and under the cap.
    """
    if value * 100 < cap * BUDGET_WARNING_PERCENT:
        return True
    return warned and value < cap


def upper_cost(before: float, run: UsageRun) -> float:
    """A bound from above on ``before`` with the run's prices added one by one."""
    after = before + run.cost
    return after + after * SLACK


def agent_quiet(meter: AgentMeter, run: UsageRun, warned: set[str], now: float) -> bool:
    """None of ``meter``'s own limits can warn or stop within ``run``, metered at ``now``.

    ``warned``: the limits already warned of. The period's cost is bounded
    as our price plus the run's (``period_cost`` may be Claude Code's own
    price when that is higher; adding the run to the higher of the two is
    still a bound). Wall time does not move within a run: it is judged at ``now``.
    """
    tokens_cap, cost_cap, turns_cap, wall_cap = meter.caps
    if tokens_cap is not None:
        if not calm(meter.period_tokens() + run.total_tokens, tokens_cap, "max_tokens" in warned):
            return False
    if cost_cap is not None:
        cost = meter.period_cost() + upper_cost(meter.cost_usd, run) - meter.cost_usd
        if not calm(cost, cost_cap, "max_cost_usd" in warned):
            return False
    if turns_cap is not None:
        if not calm(meter.period_turns() + run.turns, turns_cap, "max_turns" in warned):
            return False
    if wall_cap is not None and meter.running:
        if not calm(meter.period_elapsed(now), wall_cap, "max_wall_seconds" in warned):
            return False
    return True
