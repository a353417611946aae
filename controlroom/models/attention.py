"""What an agent asks of the operator, as a ``StrEnum`` ranked most urgent first.

At 50+ agents an operator cannot read every row: the agent table, ``status``
and the per-group counts all sort and filter by these groups, so "who needs
me" is one definition. Which group an agent is in is decided by
``controlroom.policy.attention`` (pure logic over state, breaker and budget).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ATTENTION_ORDER", "Attention"]


class Attention(StrEnum):
    """Attention groups; ``ATTENTION_ORDER`` ranks them (most urgent first)."""

    GATE = "gate"  # waiting at a gate: nothing moves until the operator decides
    BREAKER = "breaker"  # circuit open: no restart until the operator resets it
    BUDGET = "budget"  # over the budget-warning threshold, or stopped by its budget
    FAILED = "failed"  # failed, crashed, or blocked by an upstream failure
    RUNNING = "running"  # starting, running or stopping
    IDLE = "idle"  # paused, or pending (not started yet)
    DONE = "done"  # finished, or killed by the operator's own hand

    @property
    def rank(self) -> int:
        """0 for the most urgent group."""
        return ATTENTION_ORDER.index(self)


ATTENTION_ORDER: tuple[Attention, ...] = tuple(Attention)
"""Most urgent first; the ``1``…``7`` filter keys follow this order."""
