"""What an agent says it spent, kept beside the wire meter and compared with it.

Once the metering proxy has metered an agent, the budget counts only what
the proxy saw (``source = "proxy"``): an agent's own usage lines (Claude
Code's stream, native ``usage`` lines) could under-count by mistake or on
purpose. They are not thrown away: ``SelfReport`` keeps their sum, priced
the same way, and ``disagreement`` says by how much it differs from the wire
— over ``DISAGREEMENT_FRACTION`` is flagged (``MeterDisagreement``), because a
gap means a meter somewhere is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlroom.models import Usage
from controlroom.models.tokens import TokenTotal

__all__ = ["DISAGREEMENT_FRACTION", "SelfReport", "disagreement"]

DISAGREEMENT_FRACTION = 0.05
"""The wire and an agent's own report may differ by this much before it is flagged."""


@dataclass(slots=True)
class SelfReport(TokenTotal):
    """The sum of an agent's own usage reports (agent and reconcile sources)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0
    cost_usd: float = 0.0
    turns: int = 0

    def add(self, usage: Usage, cost: float) -> None:
        self.input_tokens += max(0, usage.input_tokens)
        self.output_tokens += max(0, usage.output_tokens)
        self.cache_read_input_tokens += max(0, usage.cache_read_input_tokens)
        self.cache_creation_input_tokens += max(0, usage.cache_creation_input_tokens)
        self.cache_creation_1h_input_tokens += max(0, usage.cache_creation_1h_input_tokens)
        self.cost_usd += max(0.0, cost)
        self.turns += max(0, usage.turns)


def disagreement(wire_tokens: int, wire_cost: float, report: SelfReport) -> float:
    """The larger relative gap between the wire and the report, of tokens or of cost.

    Relative to the wire's figure (the truth); a report of something when the
    wire saw nothing is a full (1.0) disagreement.
    """

    def gap(wire: float, reported: float) -> float:
        if wire == reported:
            return 0.0
        return abs(wire - reported) / wire if wire > 0 else 1.0

    return max(gap(wire_tokens, report.total_tokens), gap(wire_cost, report.cost_usd))
