"""A run of one agent's usage lines, priced line by line and summed: metered in one step.

Why: a flooding agent's slice of output is dozens of usage lines, and
metering each (a meter record, a governor judgement, a burn-window add) was
most of the control room's Python per line. The governor needs a line on
its own only where a decision could fall on it; when the whole run cannot
bring any limit to a warning or a stop (``BudgetGovernor.observe_run``
checks), the run is metered as these sums, with the same result as one
``record`` per line: the same counts, the same float costs (each line's
price, added in order), the same window bucket (one ``now`` for the run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controlroom.models import Usage
from controlroom.models.tokens import TokenTotal
from controlroom.policy.price import RateCache

__all__ = ["UsageRun", "price_run"]


@dataclass(slots=True)
class UsageRun(TokenTotal):
    """The sums of a run of usage lines, and each line's price in order.

    ``total_tokens`` (every token counted towards ``max_tokens``) is
    ``TokenTotal``'s, as for every type that carries the four counts.

    ``plain``: every line is the same agent's own word (``source="agent"``)
    with no negative count, so the run may be metered as one sum; otherwise
    it goes line by line, where ``AgentMeter.record`` handles each case.
    """

    agent: str | None
    costs: list[float]
    cost: float
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    cache_creation_1h_input_tokens: int
    turns: int
    plain: bool


def price_run(usages: Sequence[Usage], rates: RateCache) -> UsageRun:
    """Price each line (its ``cost_usd``, as ``price_usage`` would) and sum the run.

    The rates are looked up once per model change, not per line; the formula
    is ``Pricing.cost``'s, in its order, so each price is the same float. A
    line's ``cost_usd`` is set straight in its ``__dict__``: a plain float
    field of an already valid event.
    """
    agent = usages[0].agent if usages else None
    costs: list[float] = []
    add = costs.append
    cost = 0.0
    inp_sum = out_sum = read_sum = write_sum = hour_sum = turns_sum = 0
    negative = 0
    plain = True
    model: object = costs  # no model is this: the first line looks its rates up
    r_in = r_out = r_read = r_write = r_hour = 0.0
    for usage in usages:
        fields = usage.__dict__
        if fields["model"] != model:
            model = fields["model"]
            r_in, r_out, r_read, r_write, r_hour = rates(fields["model"])
        if fields["source"] != "agent" or fields["agent"] != agent:
            plain = False
        inp = fields["input_tokens"]
        out = fields["output_tokens"]
        cread = fields["cache_read_input_tokens"]
        cwrite = fields["cache_creation_input_tokens"]
        hour = fields["cache_creation_1h_input_tokens"]
        turns = fields["turns"]
        negative |= inp | out | cread | cwrite | hour | turns  # negative once any count is
        if hour > cwrite:
            hour = cwrite
        price = (
            inp * r_in + out * r_out + cread * r_read + (cwrite - hour) * r_write + hour * r_hour
        ) / 1_000_000
        fields["cost_usd"] = price
        add(price)
        cost += price
        inp_sum += inp
        out_sum += out
        read_sum += cread
        write_sum += cwrite
        hour_sum += hour
        turns_sum += turns
    return UsageRun(
        agent=agent,
        costs=costs,
        cost=cost,
        input_tokens=inp_sum,
        output_tokens=out_sum,
        cache_read_input_tokens=read_sum,
        cache_creation_input_tokens=write_sum,
        cache_creation_1h_input_tokens=hour_sum,
        turns=turns_sum,
        plain=plain and negative >= 0 and agent is not None,
    )
