"""Pricing spend: what one usage delta costs, and when two prices disagree.

Apart from the meters because the metering proxy prices worst cases with
the same function and the swarm compares Claude Code's own price with it.
"""

from __future__ import annotations

from collections.abc import Callable

from controlroom.models import Pricing, Usage

__all__ = [
    "COST_DISAGREEMENT_FRACTION",
    "RELATIVE_EPSILON",
    "PricingFn",
    "costs_disagree",
    "price_usage",
]

PricingFn = Callable[[str | None], Pricing]
"""Prices for a model name, e.g. ``SwarmConfig.price_for``."""

COST_DISAGREEMENT_FRACTION = 0.05
"""Our price and Claude Code's may differ by this fraction of Claude Code's before we flag it."""

RELATIVE_EPSILON = 1e-9  # so that 0.95 vs 1.00 counts as exactly 5 %, not 5.0000000000000044 %


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
    return abs(metered - reported) > allowed + RELATIVE_EPSILON * max(abs(reported), 1.0)
