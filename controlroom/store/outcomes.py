"""How an agent ended and what it spent, read back from its events.

One place for the rule that turns a log's lifecycle events into an
outcome, so ``audit timeline`` and ``audit runs`` never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controlroom.models.kinds import EventKind
from controlroom.models.state import AgentState
from controlroom.models.tokens import TokenTotal
from controlroom.text import exit_text

__all__ = ["END_KINDS", "UNKNOWN", "UsageTotals", "derive_outcome"]

UNKNOWN = "running/unknown"
"""Outcome of a run without ``run_ended`` (still running, or the supervisor died)."""

END_KINDS: tuple[EventKind, ...] = (
    EventKind.AGENT_STATE,
    EventKind.AGENT_SPAWNED,
    EventKind.AGENT_EXITED,
    EventKind.AGENT_CRASHED,
    EventKind.KILL_COMPLETED,
    EventKind.BUDGET_EXCEEDED,
    EventKind.LIMIT_EXCEEDED,
    EventKind.BREAKER_OPENED,
)
"""Kinds ``derive_outcome`` looks at (the last of each, per agent and run)."""


@dataclass(slots=True)
class UsageTotals(TokenTotal):
    """Sums of ``usage`` events: exactly what the meter counted (and priced)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cost_usd: float = 0.0
    turns: int = 0

    def add(self, fields: dict[str, Any]) -> None:
        self.input_tokens += int(fields.get("input_tokens") or 0)
        self.output_tokens += int(fields.get("output_tokens") or 0)
        self.cache_read_input_tokens += int(fields.get("cache_read_input_tokens") or 0)
        self.cache_creation_input_tokens += int(fields.get("cache_creation_input_tokens") or 0)
        self.cost_usd += float(fields.get("cost_usd") or 0.0)
        turns = fields.get("turns")
        self.turns += 1 if turns is None else int(turns)

    def as_dict(self) -> dict[str, int | float]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cost_usd": self.cost_usd,
            "turns": self.turns,
        }


def derive_outcome(last: dict[str, tuple[int, dict[str, Any]]]) -> tuple[str, str]:
    """How an agent ended, as ``(state, reason)``, from the last event of each kind.

    ``last`` maps a kind of ``END_KINDS`` to ``(id, fields)`` of its last
    event. The last ``agent_state`` wins; logs without one are read from
    what happened after the last spawn, the cause before the symptom: a
    budget stop or an open breaker, then a kill, then the exit itself.
    """
    if EventKind.AGENT_STATE in last:
        fields = last[EventKind.AGENT_STATE][1]
        return str(fields.get("state", "unknown")), str(fields.get("reason", ""))
    spawned = last.get(EventKind.AGENT_SPAWNED, (0, {}))[0]

    def after_spawn(kind: str) -> dict[str, Any] | None:
        hit = last.get(kind)
        return hit[1] if hit is not None and hit[0] > spawned else None

    if (f := after_spawn(EventKind.BUDGET_EXCEEDED)) is not None:
        return (
            AgentState.BUDGET_STOPPED,
            f"{f.get('limit')} {f.get('value')} over cap {f.get('cap')}",
        )
    if (f := after_spawn(EventKind.LIMIT_EXCEEDED)) is not None:
        return AgentState.FAILED, f"limit: {f.get('limit')} exceeded"
    if (f := after_spawn(EventKind.BREAKER_OPENED)) is not None:
        return AgentState.BREAKER_OPEN, str(f.get("reason", ""))
    if after_spawn(EventKind.KILL_COMPLETED) is not None:
        return AgentState.KILLED, ""
    if (f := after_spawn(EventKind.AGENT_EXITED)) is not None:
        return (AgentState.DONE if f.get("success") else AgentState.FAILED), exit_text(
            f.get("returncode"), f.get("signal")
        )
    if (f := after_spawn(EventKind.AGENT_CRASHED)) is not None:
        return AgentState.FAILED, str(f.get("reason", ""))
    return (UNKNOWN if spawned else "unknown"), ""
