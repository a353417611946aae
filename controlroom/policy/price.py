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
    "RateCache",
    "Rates",
    "costs_disagree",
    "price_usage",
]

PricingFn = Callable[[str | None], Pricing]
"""Prices for a model name, e.g. ``SwarmConfig.price_for``."""

COST_DISAGREEMENT_FRACTION = 0.05
"""Our price and Claude Code's may differ by this fraction of Claude Code's before we flag it."""

RELATIVE_EPSILON = 1e-9  # so that 0.95 vs 1.00 counts as exactly 5 %, not 5.0000000000000044 %


Rates = tuple[float, float, float, float, float]
"""A model's five USD-per-million rates, in ``Pricing.cost``'s order: input, output, cache
read, cache write (5 minutes), cache write (1 hour)."""


class RateCache:
    """A model's ``Rates``, looked up once: the hot paths price with plain floats.

    ``Pricing.cost`` is a method call and a ``pricing_fn`` lookup by prefix per
    usage line; the meters price tens of thousands of lines a second, so they
    take the rates from here and apply ``Pricing.cost``'s formula inline, in
    its order of operations (the same float, to the last bit).
    """

    __slots__ = ("_pricing_fn", "_rates")

    def __init__(self, pricing_fn: PricingFn) -> None:
        self._pricing_fn = pricing_fn
        self._rates: dict[str | None, Rates] = {}

    def __call__(self, model: str | None) -> Rates:
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
        return rates


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
