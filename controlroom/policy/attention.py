"""Which attention group an agent is in, and the order that follows from it.

The agent table's default order, its per-group counts and ``controlroom
status`` all rank agents with :func:`attention_of` so an agent that needs
the operator is on the first screen, whichever surface shows it. A live
agent whose tightest budget limit is at or past ``BUDGET_WARNING_PERCENT`` is
in the budget group (ranked above a failure, because it still spends); an
agent that has ended is judged by how it ended, however full its budget.
"""

from __future__ import annotations

from collections.abc import Iterable

from controlroom.models import BUDGET_WARNING_PERCENT, AgentState
from controlroom.models.attention import Attention

__all__ = ["attention_key", "attention_of", "count_by_attention"]

_BY_STATE: dict[AgentState, Attention] = {
    AgentState.GATED: Attention.GATE,
    AgentState.BREAKER_OPEN: Attention.BREAKER,
    AgentState.BUDGET_STOPPED: Attention.BUDGET,
    AgentState.FAILED: Attention.FAILED,
    AgentState.BLOCKED: Attention.FAILED,
    AgentState.STARTING: Attention.RUNNING,
    AgentState.RUNNING: Attention.RUNNING,
    AgentState.STOPPING: Attention.RUNNING,
    AgentState.PAUSED: Attention.IDLE,
    AgentState.PENDING: Attention.IDLE,
    AgentState.DONE: Attention.DONE,
    AgentState.KILLED: Attention.DONE,
}

_LIVE = frozenset({AgentState.STARTING, AgentState.RUNNING, AgentState.STOPPING, AgentState.PAUSED})


def attention_of(
    state: str, *, breaker_open: bool = False, budget_fraction: float | None = None
) -> Attention:
    """The group of an agent in ``state`` (an unknown state counts as a failure)."""
    try:
        known = AgentState(state)
    except ValueError:
        return Attention.FAILED
    if known is AgentState.GATED:
        return Attention.GATE
    if breaker_open:
        return Attention.BREAKER
    if (
        known in _LIVE
        and budget_fraction is not None
        and budget_fraction * 100 >= BUDGET_WARNING_PERCENT
    ):
        return Attention.BUDGET
    return _BY_STATE[known]


def attention_key(
    name: str, state: str, *, breaker_open: bool = False, budget_fraction: float | None = None
) -> tuple[int, float, str]:
    """Sort key: group first; inside a group the fuller budget first, then the name."""
    group = attention_of(state, breaker_open=breaker_open, budget_fraction=budget_fraction)
    return (group.rank, -(budget_fraction or 0.0), name)


def count_by_attention(groups: Iterable[Attention]) -> dict[Attention, int]:
    """How many agents each group holds (every group present, zero included)."""
    counts = dict.fromkeys(Attention, 0)
    for group in groups:
        counts[group] += 1
    return counts
