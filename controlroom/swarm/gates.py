"""The pending-gate queue: what waits for an operator, oldest first.

A gate holds something that must not go on unreviewed: an agent's handoff
to the next stage, a tool call a Claude Code agent wants to make, or a
question a native agent asked itself. Its life is ``pending → approved |
rejected | expired``; an expired gate counts as rejected. Decisions come only
from the control API (the TUI, the socket, the CLI): the queue has no way
for an agent to reach it.

A decision is a transaction: the gate is *claimed* while its decision is
being recorded (a second decision, or its expiry, waits or is refused), then
either decided or, if the record failed, released: pending again, as if
nobody had tried. No claim outlives the attempt that made it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from controlroom._errors import GateAlreadyDecided, GateNotFound
from controlroom.models import GateKind, GateState, Handoff, new_gate_id
from controlroom.text import refusals

__all__ = ["Gate", "GateDecision", "GateQueue", "new_gate_id"]


@dataclass(frozen=True)
class GateDecision:
    approved: bool
    by: str
    reason: str
    expired: bool = False
    at: float = field(default_factory=time.time)


@dataclass
class Gate:
    """One thing waiting for an operator. ``agent`` is whose output or call it holds."""

    id: str
    agent: str
    kind: GateKind
    title: str = ""
    detail: str = ""
    stage: str = ""  # for handoff gates: the agents the handoff goes to
    handoff: Handoff | None = None
    tool: dict[str, Any] | None = None
    timeout_seconds: float | None = None
    created: float = field(default_factory=time.time)  # wall clock, for people
    opened: float = field(default_factory=time.monotonic)  # monotonic, for expiry
    decision: GateDecision | None = None
    claimed: bool = False  # a decision is being recorded; a second one is refused
    _future: asyncio.Future[GateDecision] | None = field(default=None, repr=False)
    _unclaimed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def state(self) -> GateState:
        if self.decision is None:
            return GateState.PENDING
        if self.decision.expired:
            return GateState.EXPIRED
        return GateState.APPROVED if self.decision.approved else GateState.REJECTED

    def age(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.opened


class GateQueue:
    """Pending gates in age order, and the decisions that release them."""

    def __init__(self) -> None:
        self._gates: dict[str, Gate] = {}

    def open(self, gate: Gate) -> Gate:
        if gate.id in self._gates:
            gate.id = new_gate_id()
        gate._future = asyncio.get_running_loop().create_future()
        self._gates[gate.id] = gate
        return gate

    def get(self, gate_id: str) -> Gate:
        gate = self._gates.get(gate_id)
        if gate is None:
            raise GateNotFound(refusals.unknown_gate(gate_id, (g.id for g in self.pending())))
        return gate

    def pending(self) -> list[Gate]:
        """Pending gates, oldest first."""
        return sorted(
            (g for g in self._gates.values() if g.decision is None), key=lambda g: g.opened
        )

    def all(self) -> list[Gate]:
        return sorted(self._gates.values(), key=lambda g: g.opened)

    def claim(self, gate: Gate) -> None:
        """Reserve the gate for one decision while it is being recorded."""
        if gate.decision is not None or gate.claimed:
            what = gate.state if gate.decision is not None else "being decided"
            raise GateAlreadyDecided(refusals.gate_decided(gate.id, what))
        gate.claimed = True
        gate._unclaimed.clear()

    def release(self, gate: Gate) -> None:
        """End a claim whose decision was not recorded: the gate is pending again."""
        gate.claimed = False
        gate._unclaimed.set()

    async def unclaimed(self, gate: Gate) -> None:
        """Returns once no decision of ``gate`` is being recorded (at once if none is)."""
        while gate.claimed:
            await gate._unclaimed.wait()

    def decide(self, gate_id: str, approved: bool, by: str, reason: str) -> Gate:
        """Record the operator's decision; a gate is decided once."""
        gate = self.get(gate_id)
        if gate.decision is not None:
            raise GateAlreadyDecided(refusals.gate_decided(gate_id, gate.state))
        self._settle(gate, GateDecision(approved=approved, by=by, reason=reason))
        return gate

    def due(self, now: float | None = None) -> list[Gate]:
        """Pending gates whose timeout has passed (the caller expires them)."""
        at = time.monotonic() if now is None else now
        return [
            g
            for g in self.pending()
            if g.timeout_seconds is not None and not g.claimed and g.age(at) >= g.timeout_seconds
        ]

    def expire(self, gate: Gate) -> None:
        self._settle(
            gate,
            GateDecision(approved=False, by="timeout", reason="gate expired", expired=True),
        )

    def cancel(self, gate: Gate, why: str) -> None:
        """End a gate nobody needs any more (its agent was stopped): a rejection by the system."""
        if gate.decision is None:
            self._settle(gate, GateDecision(approved=False, by="controlroom", reason=why))

    async def wait(self, gate: Gate) -> GateDecision:
        assert gate._future is not None
        return await asyncio.shield(gate._future)

    def _settle(self, gate: Gate, decision: GateDecision) -> None:
        gate.decision = decision
        self.release(gate)
        if gate._future is not None and not gate._future.done():
            gate._future.set_result(decision)
