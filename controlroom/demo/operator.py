"""The headless demo's operator: decides every gate the way a person at the keyboard would.

``controlroom demo --headless`` has nobody to press ``a`` or ``r``, so this
decides for them, through the same control API the dashboard uses (every
decision is recorded as ``gate_decided`` with ``by = "demo-operator"``):

* each gate is approved ``delay`` seconds after it opened (2 s at speed 1),
  with the reason "auto-approved (demo --headless)";
* once, to show a rejection and the retry it causes, the first *handoff* gate
  of ``reject_once`` (the implementer's handoff to the reviewer) is rejected
  with a reviewer's reason; the pipeline re-runs the implementer with that
  reason appended to its task (``on_reject = "retry"``), and its second
  handoff is approved.

It listens on a bus subscription and, should that subscription ever drop
events, looks at the pending-gate list so that no gate is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from controlroom._errors import ControlError
from controlroom.control.api import ControlAPI, Subscription
from controlroom.models import GateKind, GateRequested

__all__ = [
    "APPROVE_REASON",
    "DEMO_OPERATOR",
    "REJECT_REASON",
    "AutoOperator",
    "Decision",
]

DEMO_OPERATOR = "demo-operator"
APPROVE_REASON = "auto-approved (demo --headless)"
REJECT_REASON = (
    "backoff without jitter: after a gateway outage every client retries in lockstep; "
    "add full jitter and cap the total retry time below checkout's 30 s timeout"
)


@dataclass(frozen=True)
class Decision:
    """One decision the auto-operator made (accepted by the control API)."""

    gate: str
    agent: str
    kind: str
    approved: bool


class AutoOperator:
    """Approves every gate after ``delay`` seconds; rejects one handoff of ``reject_once``."""

    def __init__(
        self,
        api: ControlAPI,
        *,
        delay: float = 2.0,
        reject_once: str | None = "implementer",
        by: str = DEMO_OPERATOR,
    ) -> None:
        self.api = api
        self.delay = delay
        self.reject_once = reject_once
        self.by = by
        self.decisions: list[Decision] = []
        self._rejected = False
        self._seen: set[str] = set()
        self._deciders: set[asyncio.Task[None]] = set()
        self._watcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Subscribe and start watching; call before the supervisor starts, to miss nothing."""
        if self._watcher is None:
            subscription = self.api.subscribe(maxsize=100_000)
            self._watcher = asyncio.create_task(self._watch(subscription), name="demo-operator")

    async def close(self) -> None:
        """Stop watching and drop decisions not yet made (their gates ended with the run)."""
        tasks = [t for t in (self._watcher, *self._deciders) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch(self, subscription: Subscription) -> None:
        dropped = 0
        async for event in subscription:
            if isinstance(event, GateRequested):
                self._schedule(event.gate_id, event.agent or "", event.gate_kind)
            if subscription.dropped != dropped:
                dropped = subscription.dropped
                for gate in self.api.gates():
                    self._schedule(gate.id, gate.agent, gate.kind)

    def _schedule(self, gate: str, agent: str, kind: GateKind) -> None:
        if gate in self._seen:
            return
        self._seen.add(gate)
        task = asyncio.create_task(self._decide(gate, agent, kind), name=f"decide {gate}")
        self._deciders.add(task)
        task.add_done_callback(self._deciders.discard)

    async def _decide(self, gate: str, agent: str, kind: GateKind) -> None:
        await asyncio.sleep(self.delay)
        reject = kind == GateKind.HANDOFF and agent == self.reject_once and not self._rejected
        with contextlib.suppress(ControlError):  # the gate ended meanwhile (its agent stopped)
            if reject:
                self._rejected = True
                await self.api.reject(gate, REJECT_REASON, by=self.by)
            else:
                await self.api.approve(gate, APPROVE_REASON, by=self.by)
            self.decisions.append(Decision(gate, agent, kind, not reject))
