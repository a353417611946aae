"""The states agents and gates move through, and the kinds of gate, as ``StrEnum``s.

Plain data with no imports of ours: every layer names a state through these,
never as a string literal, and a state compares equal to its string (``"done"``),
so what is stored in the audit log and sent over the socket stays as it was.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FINAL_STATES", "AgentState", "GateKind", "GateState"]


class AgentState(StrEnum):
    """The states an agent moves through; every change is an ``agent_state`` event."""

    PENDING = "pending"  # waiting for upstream handoffs
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    GATED = "gated"  # waiting at a gate
    STOPPING = "stopping"
    DONE = "done"
    FAILED = "failed"
    KILLED = "killed"
    BUDGET_STOPPED = "budget_stopped"
    BREAKER_OPEN = "breaker_open"
    BLOCKED = "blocked"  # an upstream branch failed

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES: frozenset[AgentState] = frozenset(
    {
        AgentState.DONE,
        AgentState.FAILED,
        AgentState.KILLED,
        AgentState.BUDGET_STOPPED,
        AgentState.BREAKER_OPEN,
        AgentState.BLOCKED,
    }
)
"""States an agent never leaves on its own (only an operator's restart does)."""


class GateState(StrEnum):
    """``pending → approved | rejected | expired``; an expired gate counts as rejected."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class GateKind(StrEnum):
    """What a gate holds: an agent's ``handoff``, a ``tool`` call (the Claude hook), or an
    ``agent``'s own request (a native ``gate`` line)."""

    HANDOFF = "handoff"
    TOOL = "tool"
    AGENT = "agent"
