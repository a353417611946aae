"""The pipeline: stages by ``after``, structured handoffs between them, and review gates.

An agent with ``after = ["a", "b"]`` starts once every upstream agent is done
and its handoff has passed review (fan-in: it receives the list); one handoff
may feed several agents (fan-out). Review is configured on the *receiving*
agent (``gate``, ``gate_timeout_seconds``, ``on_reject``, ``max_attempts``, as
in design.md), but what is reviewed is the *producing* agent's handoff, once:
if any receiver wants ``gate = "human"`` the handoff waits in the gate queue
(timeout: the shortest of the receivers'; on reject: the first human receiver's
policy). ``auto`` still audits the handoff (its ``handoff`` event).

On reject, ``on_reject = "retry"`` re-runs the producing agent with the
reason appended to its task (up to ``max_attempts`` handoffs), ``"stop"``
fails it; a failed, killed or budget-stopped upstream blocks its downstream
branch with the reason, while other branches go on.

Gate decisions are committed to the audit log before anything they release
(the next stage, the agent's stdin line, the hook's answer) happens, and a
decision the log cannot take does not happen at all: the gate stays pending
(its timeout still runs), the decider is told why, and the log records the
attempt as an error, never as the decision (``EventBus.publish_committed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from controlroom._errors import AuditError, ControlError
from controlroom.models import (
    AgentSpec,
    AgentState,
    ErrorEvent,
    EventBase,
    GateDecided,
    GateExpired,
    GateKind,
    GateRequested,
    new_gate_id,
)
from controlroom.models.views import HandoffView
from controlroom.swarm.bus import EventBus
from controlroom.swarm.gates import Gate, GateDecision, GateQueue
from controlroom.swarm.runner import AgentRunner, ReviewVerdict, find_runner

__all__ = ["Pipeline"]


class Pipeline:
    """Stages, handoffs and gates of one supervisor's swarm."""

    def __init__(self, runners: Mapping[str, AgentRunner], bus: EventBus) -> None:
        self.runners = runners
        self.bus = bus
        self.gates = GateQueue()
        self.log: list[HandoffView] = []  # the handoff timeline, oldest first

    # ------------------------------------------------------------------ stages

    def downstream(self, agent: str) -> list[AgentRunner]:
        return [r for r in self.runners.values() if agent in r.spec.after]

    def first_stage(self) -> list[AgentRunner]:
        return [r for r in self.runners.values() if not r.spec.after]

    def advance(self, finished: AgentRunner) -> None:
        """An agent reached a final state: start or block what waits for it."""
        for other in self.downstream(finished.name):
            if other.state != AgentState.PENDING:
                continue
            ups = [self.runners[name] for name in other.spec.after]
            failed = [u for u in ups if u.is_final and u.state != AgentState.DONE]
            missing = [u for u in ups if u.state == AgentState.DONE and u.handoff is None]
            if failed or missing:
                why = failed[0] if failed else missing[0]
                what = why.state if failed else "done without a valid handoff"
                other.set_state(AgentState.BLOCKED, f"upstream {why.name} {what}")
            elif all(u.state == AgentState.DONE for u in ups):
                other.start()

    def inputs(self, spec: AgentSpec) -> list[dict[str, str]]:
        """The approved handoffs an agent receives, one per upstream agent."""
        out: list[dict[str, str]] = []
        for name in spec.after:
            handoff = self.runners[name].handoff
            if handoff is not None:
                out.append({"agent": name, **handoff.model_dump()})
        return out

    # ------------------------------------------------------------------ handoff review

    async def review(self, runner: AgentRunner) -> ReviewVerdict:
        """Called when an agent exits 0: is its stage done, to be re-run, or failed?"""
        if runner.handoff_error:
            return ReviewVerdict("failed", f"handoff rejected: {runner.handoff_error}")
        receivers = self.downstream(runner.name)
        if runner.handoff is None or not receivers:
            return ReviewVerdict("done")
        humans = [r.spec for r in receivers if r.spec.gate == "human"]
        entry = HandoffView(
            from_=runner.name,
            to=[r.name for r in receivers],
            handoff=runner.handoff,
            attempt=runner.handoff_attempts,
            ts=time.time(),
        )
        self.log.append(entry)
        if not humans:
            return ReviewVerdict("done")
        policy = humans[0]
        timeout = min(spec.gate_timeout_seconds for spec in humans)
        gate = await self.open(
            Gate(
                id=new_gate_id(),
                agent=runner.name,
                kind=GateKind.HANDOFF,
                title=f"handoff {runner.name} → {', '.join(entry.to)}",
                stage=", ".join(entry.to),
                handoff=runner.handoff,
                timeout_seconds=timeout,
            ),
            runner,
        )
        entry.gate, entry.state, entry.by = gate.id, gate.state, ""
        decision = await self.wait(gate, runner)
        entry.state, entry.by, entry.reason = gate.state, decision.by, decision.reason
        if decision.approved:
            return ReviewVerdict("done")
        if runner.stop_state is not None:
            return ReviewVerdict("failed", decision.reason)
        if policy.on_reject == "retry" and runner.handoff_attempts < policy.max_attempts:
            return ReviewVerdict("retry", decision.reason)
        why = "gate expired" if decision.expired else f"handoff rejected by {decision.by}"
        return ReviewVerdict("failed", f"{why}: {decision.reason}")

    # ------------------------------------------------------------------ gates

    async def open(self, gate: Gate, runner: AgentRunner | None) -> Gate:
        """Queue a gate, record it (committed), and show its agent as waiting."""
        self.gates.open(gate)
        if runner is not None and not runner.is_final and runner.stop_state is None:
            runner.set_state(AgentState.GATED, gate.title or f"gate {gate.id}")
        await self.bus.publish_durable(
            GateRequested(
                agent=gate.agent,
                gate_id=gate.id,
                gate_kind=gate.kind,
                title=gate.title,
                detail=gate.detail,
                handoff=gate.handoff,
                tool=gate.tool,
                timeout_seconds=gate.timeout_seconds,
            )
        )
        return gate

    async def wait(self, gate: Gate, runner: AgentRunner | None) -> GateDecision:
        """The decision; a stop of the gate's agent cancels the gate (a rejection)."""
        waiter = asyncio.ensure_future(self.gates.wait(gate))
        if runner is None:
            return await waiter
        stopper = asyncio.ensure_future(runner.stopped())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if gate.decision is None:
            await self.gates.unclaimed(gate)  # a decision being recorded goes first
        if gate.decision is None:
            # Not a choice but a fact (the agent is being stopped): it takes effect
            # either way, and its record is kept queued until the log takes it.
            reason = f"agent stopped: {runner.stop_reason}"
            self.bus.publish(
                GateDecided(
                    agent=gate.agent,
                    gate_id=gate.id,
                    approved=False,
                    by="controlroom",
                    reason=reason,
                )
            )
            with contextlib.suppress(AuditError):
                await self.bus.flush()
            self.gates.cancel(gate, reason)
        return await waiter

    async def decide(self, gate_id: str, approved: bool, by: str, reason: str) -> Gate:
        """An operator's decision: committed to the audit log, then it releases the gate.

        If the log cannot take it, nothing is decided: the gate is pending
        again and ``ControlError`` says why.
        """
        gate = self.gates.get(gate_id)
        self.gates.claim(gate)
        verb = "approval" if approved else "rejection"
        decided = GateDecided(
            agent=gate.agent, gate_id=gate.id, approved=approved, by=by, reason=reason
        )
        try:
            await self.bus.publish_committed(
                decided, _not_carried_out(gate, f"{verb} by {by}", "the gate is still pending")
            )
        except AuditError as exc:
            self.gates.release(gate)
            raise ControlError(
                f"gate {gate_id} is still pending: the {verb} could not be recorded in the "
                f"audit log, so it was not carried out ({exc})"
            ) from None
        self.gates.decide(gate_id, approved, by, reason)
        return gate

    async def expire_due(self, *, recording: bool = True) -> None:
        """Expire the gates whose timeout passed; each only once its expiry is recorded.

        While the log is failing (``recording`` False) nothing is tried: the
        gates stay pending and expire at the first tick after it recovers.
        """
        if not recording:
            return
        for gate in self.gates.due():
            self.gates.claim(gate)
            expired = GateExpired(
                agent=gate.agent, gate_id=gate.id, waited_seconds=round(gate.age(), 3)
            )
            try:
                await self.bus.publish_committed(
                    expired, _not_carried_out(gate, "expiry", "it expires once the log recovers")
                )
            except AuditError:
                self.gates.release(gate)
                return
            self.gates.expire(gate)

    def agent_asked(self, runner: AgentRunner, event: GateRequested) -> None:
        """A native agent printed a ``gate`` line: queue it, answer on its stdin when decided."""
        gate = Gate(
            id=event.gate_id,
            agent=runner.name,
            kind=GateKind.AGENT,
            title=event.title,
            detail=event.detail,
            timeout_seconds=runner.spec.gate_timeout_seconds,
        )
        self.gates.open(gate)
        if runner.stop_state is None:
            runner.set_state(AgentState.GATED, event.title)
        task = asyncio.create_task(self._answer_agent(runner, gate))
        runner.tasks.add(task)
        task.add_done_callback(runner.tasks.discard)

    async def _answer_agent(self, runner: AgentRunner, gate: Gate) -> None:
        decision = await self.wait(gate, runner)
        line = {"type": "gate_decision", "approved": decision.approved, "reason": decision.reason}
        process = runner.process
        if process is not None and runner.alive and process.process.stdin is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                process.process.stdin.write((json.dumps(line) + "\n").encode())
                await process.process.stdin.drain()
        if runner.state == AgentState.GATED and runner.stop_state is None:
            runner.set_state(AgentState.RUNNING, f"gate {gate.id} {gate.state}")

    async def tool_call(
        self, agent: str, tool: str, tool_input: dict[str, Any], tool_use_id: str = ""
    ) -> tuple[bool, str]:
        """Claude Code's PreToolUse hook asks: may ``agent`` call ``tool``? Blocks until decided."""
        runner = find_runner(self.runners, agent)
        if tool not in runner.spec.gate_tools:
            return True, f"{tool} is not a gated tool for {agent}"
        if runner.is_final or runner.stop_state is not None:
            return False, f"agent {agent} is {runner.state}"
        gate = await self.open(
            Gate(
                id=new_gate_id(),
                agent=agent,
                kind=GateKind.TOOL,
                title=f"{agent} wants to run {tool}",
                detail=_tool_summary(tool_input),
                tool={"name": tool, "input": tool_input, "tool_use_id": tool_use_id},
                timeout_seconds=runner.spec.gate_timeout_seconds,
            ),
            runner,
        )
        decision = await self.wait(gate, runner)
        if runner.state == AgentState.GATED and runner.stop_state is None:
            runner.set_state(AgentState.RUNNING, f"gate {gate.id} {gate.state}")
        if decision.approved:
            return True, decision.reason or f"approved by {decision.by}"
        if decision.expired:
            return False, "denied: the operator did not decide in time (gate expired)"
        return False, f"denied by operator {decision.by}: {decision.reason}"


def _not_carried_out(gate: Gate, what: str, after: str) -> Callable[[AuditError], EventBase]:
    """The error recorded in place of a gate decision the log could not take."""

    def error(exc: AuditError) -> EventBase:
        return ErrorEvent(
            agent=gate.agent,
            where="gates",
            message=f"gate {gate.id}: {what} not recorded, so not carried out ({exc}); {after}",
        )

    return error


def _tool_summary(tool_input: dict[str, Any]) -> str:
    for key in ("command", "file_path", "path", "url", "pattern"):
        value = tool_input.get(key)
        if isinstance(value, str):
            return value[:500]
    return json.dumps(tool_input, ensure_ascii=False)[:500]
