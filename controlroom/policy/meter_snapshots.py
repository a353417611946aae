"""Frozen pictures of the meters: one agent's, the swarm's, and each budget limit's.

Immutable so a snapshot can cross to another task, the control API or the
screens while the meters go on counting; the projections (which limit is
reached first, and when) are computed once, here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from controlroom.models import Budget
from controlroom.models.views import MeterView

__all__ = [
    "AgentMeterSnapshot",
    "LimitStatus",
    "SwarmMeterSnapshot",
    "meter_view",
    "seconds_left",
    "tightest",
]


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


def seconds_left(value: float, cap: float, per_second: float) -> float | None:
    """Seconds until ``value`` reaches ``cap`` at ``per_second`` (0 once there; None at rest)."""
    if value >= cap:
        return 0.0
    if per_second <= 0.0:
        return None
    return (cap - value) / per_second


def tightest(limits: Iterable[LimitStatus]) -> tuple[str | None, float | None]:
    """The limit projected to be reached first; ties go to the earlier in ``LIMIT_NAMES``."""
    best_name: str | None = None
    best_seconds = math.inf
    for row in limits:
        if row.seconds_left is not None and row.seconds_left < best_seconds:
            best_name, best_seconds = row.limit, row.seconds_left
    if best_name is None:
        return None, None
    return best_name, best_seconds


def meter_view(snap: AgentMeterSnapshot) -> MeterView:
    """An agent's meter snapshot as the control API shows it (the screens, the socket).

    Read by pydantic-core straight from the snapshot's attributes (its limits
    too, as ``LimitView``): a dict of 30 ``getattr`` calls built in Python per
    agent per dashboard refresh cost half again as much (8 against 5.5 us).
    """
    return MeterView.model_validate(snap, from_attributes=True)
