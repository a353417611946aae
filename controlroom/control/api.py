"""The control API: the only way an operator (TUI, CLI, hook) acts on a running swarm.

The same class serves in-process callers (the dashboard that owns the
swarm) and the unix socket (``controlroom status``, ``approve``, the Claude
Code hook, an attached dashboard). Over the socket every request is one JSON
line ``{"id": 1, "op": "approve", "args": {"gate": "g-1a2b3c4d"}}`` and every
answer one line ``{"id": 1, "ok": true, "result": …}`` or ``{"id": 1, "ok":
false, "error": "…"}`` (with ``"code": "gate_already_decided"`` or the like
when the refusal is one a caller may act on: the client raises that class of
``_errors`` again). ``dispatch`` is that mapping; it never raises.

A read-only API (``--read-only``, for an observer's screen) refuses every
command that changes the swarm, and says so.

Everything it returns passes the bus's ``Redactor`` (API keys, the values of
every ``secret_env``): a gate or a status reason holds what an agent wrote,
and no screen or socket reader may see a secret in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from controlroom._errors import ControlError, ControlRoomError
from controlroom.control import calls
from controlroom.control.calls import Args, Request, check_writable, seconds_arg, whole_arg
from controlroom.control.radarviews import (
    agent_diff,
    change_counts,
    gate_radar,
    radar_view,
    waiting_order,
)
from controlroom.control.redaction import redacted
from controlroom.models import Budget, EventBase
from controlroom.models.radarviews import AgentDiff, RadarView
from controlroom.models.views import (
    AgentStateView,
    GateView,
    HandoffView,
    KillView,
    PingView,
    ProcessesView,
    StopAllView,
    SwarmView,
    ToolGateView,
)
from controlroom.process.kill import KillReport
from controlroom.swarm.bus import Subscription
from controlroom.swarm.gates import Gate
from controlroom.swarm.supervisor import OPERATOR, Supervisor
from controlroom.swarm.views import gate_view

# ``Subscription`` is what ``ControlAPI.subscribe`` returns, named here for its callers.
__all__ = ["ControlAPI", "Subscription", "to_json"]

_T = TypeVar("_T")
_R = TypeVar("_R")


class ControlAPI:
    """Commands and queries on one supervisor, in-process or behind the socket."""

    def __init__(self, supervisor: Supervisor, *, read_only: bool = False) -> None:
        self.supervisor = supervisor
        self.read_only = read_only
        self._ops: dict[str, Callable[[Args, str], Awaitable[Any]]] = {
            "ping": self._ping,
            "snapshot": self._snapshot,
            "gates": self._gates,
            "handoffs": self._handoffs,
            "events": self._events,
            "diff": self._diff,
            "radar": self._radar,
            "kill": self._kill,
            "pause": self._pause,
            "resume": self._resume,
            "restart": self._restart,
            "stop_all": self._stop_all,
            "approve": self._approve,
            "reject": self._reject,
            "reset_breaker": self._reset_breaker,
            "tool_gate": self._tool_gate,
        }

    # ------------------------------------------------------------------ in-process API

    async def ask(self, request: Request[_R], by: str = OPERATOR) -> _R:
        """One typed request, in-process: the same path as the socket's, the same result type."""
        return request.parse(await self.call(request.op, request.args, by))

    async def kill(self, agent: str, by: str = OPERATOR) -> KillView:
        return await self.ask(calls.KILL(agent), by)

    async def pause(self, agent: str, by: str = OPERATOR) -> ProcessesView:
        return await self.ask(calls.PAUSE(agent), by)

    async def resume(self, agent: str, by: str = OPERATOR) -> ProcessesView:
        return await self.ask(calls.RESUME(agent), by)

    async def restart(
        self, agent: str, new_budget: Budget | None = None, by: str = OPERATOR
    ) -> AgentStateView:
        budget = new_budget.model_dump(exclude_defaults=True) if new_budget else None
        return await self.ask(calls.RESTART(agent, budget), by)

    async def stop_all(self, by: str = OPERATOR, grace: float | None = None) -> StopAllView:
        return await self.ask(calls.STOP_ALL(grace=grace), by)

    async def approve(self, gate: str, reason: str = "", by: str = OPERATOR) -> GateView:
        return await self.ask(calls.APPROVE(gate, reason), by)

    async def reject(self, gate: str, reason: str, by: str = OPERATOR) -> GateView:
        return await self.ask(calls.REJECT(gate, reason), by)

    async def reset_breaker(self, agent: str, by: str = OPERATOR) -> AgentStateView:
        return await self.ask(calls.RESET_BREAKER(agent), by)

    def snapshot(self) -> SwarmView:
        sup = self.supervisor
        view = sup.view()
        for agent in view.agents:  # the files-changed column
            agent.changes = change_counts(sup, agent.name)
        view.gates = self._with_radar(sup.gates.pending())
        view.totals.collisions = len(sup.radar.collisions) if sup.radar is not None else 0
        return self._redacted(view)

    def gates(self) -> list[GateView]:
        return self._redacted(self._with_radar(self.supervisor.gates.pending()))

    def _with_radar(self, gates: list[Gate]) -> list[GateView]:
        """Each gate's own view, with the radar's part (changed files, conflicts, ...) filled in."""
        order = waiting_order(self.supervisor)
        return [
            gate_view(g).model_copy(update=dict(gate_radar(self.supervisor, g, order)))
            for g in gates
        ]

    def handoffs(self) -> list[HandoffView]:
        return self._redacted(self.supervisor.handoff_log())

    def _redacted(self, value: _T) -> _T:
        """``value`` with every secret redacted (``control.redaction``: one scan of its text)."""
        return redacted(self.supervisor.bus.redactor, value)

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        return self.supervisor.bus.subscribe(maxsize)

    async def call(self, op: str, args: Args, by: str = OPERATOR) -> Any:
        """Run one operation; raises ``ControlError`` (or another ControlRoomError) on refusal."""
        handler = self._ops.get(op)
        if handler is None:
            raise ControlError(f"unknown operation {op!r} (known: {', '.join(sorted(self._ops))})")
        check_writable(self.read_only, op)
        return self._redacted(await handler(args, by))

    async def dispatch(self, request: object, by: str) -> dict[str, Any]:
        """One decoded JSON request → one JSON-able response. Never raises."""
        req_id = request.get("id") if isinstance(request, dict) else None
        try:
            if not isinstance(request, dict):
                raise ControlError("a request must be a JSON object")
            op = request.get("op")
            args = request.get("args", {})
            if not isinstance(op, str):
                raise ControlError("a request needs an 'op' string")
            if not isinstance(args, dict):
                raise ControlError("'args' must be an object")
            result = to_json(await self.call(op, args, by))
        except ControlRoomError as exc:
            answer = {"id": req_id, "ok": False, "error": self._redacted(str(exc))}
            if isinstance(exc, ControlError) and type(exc) is not ControlError:
                answer["code"] = exc.code  # the client raises the same class again
            return answer
        except (TypeError, ValueError, KeyError) as exc:
            return {"id": req_id, "ok": False, "error": f"bad arguments: {exc}"}
        return {"id": req_id, "ok": True, "result": result}

    # ------------------------------------------------------------------ operations

    async def _ping(self, args: Args, by: str) -> PingView:
        sup = self.supervisor
        return PingView(swarm=sup.config.swarm.name, run=sup.run_id, read_only=self.read_only)

    async def _snapshot(self, args: Args, by: str) -> SwarmView:
        return self.snapshot()

    async def _gates(self, args: Args, by: str) -> list[GateView]:
        if args.get("all"):
            return self._redacted(self._with_radar(self.supervisor.gates.all()))
        return self.gates()

    async def _diff(self, args: Args, by: str) -> AgentDiff:
        return await agent_diff(self.supervisor, _text(args, "agent"))

    async def _radar(self, args: Args, by: str) -> RadarView:
        return radar_view(self.supervisor)

    async def _handoffs(self, args: Args, by: str) -> list[HandoffView]:
        return self.handoffs()

    async def _events(self, args: Args, by: str) -> list[EventBase]:
        since = whole_arg(args, "since", 0)
        limit = min(whole_arg(args, "limit", 1000), 10_000)
        events = await self.supervisor.events_since(since, limit, newest=bool(args.get("newest")))
        return list(events)

    async def _kill(self, args: Args, by: str) -> KillView:
        agent = _text(args, "agent")
        report = await self.supervisor.kill(
            agent,
            by=by,
            reason=str(args.get("reason") or f"killed by {by}"),
            grace=seconds_arg(args, "grace"),
        )
        return _report(agent, report)

    async def _pause(self, args: Args, by: str) -> ProcessesView:
        agent = _text(args, "agent")
        return ProcessesView(agent=agent, processes=await self.supervisor.pause(agent, by=by))

    async def _resume(self, args: Args, by: str) -> ProcessesView:
        agent = _text(args, "agent")
        return ProcessesView(agent=agent, processes=await self.supervisor.resume(agent, by=by))

    async def _restart(self, args: Args, by: str) -> AgentStateView:
        agent = _text(args, "agent")
        raw = args.get("new_budget")
        budget = Budget.model_validate(raw) if raw is not None else None
        await self.supervisor.restart(agent, by=by, new_budget=budget)
        return AgentStateView(agent=agent, state=self.supervisor.runner(agent).state)

    async def _stop_all(self, args: Args, by: str) -> StopAllView:
        loop = asyncio.get_running_loop()
        started = loop.time()
        reports = await self.supervisor.stop_all(
            by=by, reason=f"stop all by {by}", grace=seconds_arg(args, "grace")
        )
        agents = [_report(name, rep) for name, rep in reports.items()]
        return StopAllView(
            stopped=len(agents),
            survivors=sum(a.survivors for a in agents),
            duration_ms=round((loop.time() - started) * 1000, 3),
            agents=agents,
        )

    async def _approve(self, args: Args, by: str) -> GateView:
        gate = await self.supervisor.decide_gate(
            _text(args, "gate"),
            True,
            by=by,
            reason=str(args.get("reason") or ""),
            merge=args.get("merge", True) is not False,
        )
        return gate_view(gate)

    async def _reject(self, args: Args, by: str) -> GateView:
        reason = str(args.get("reason") or "").strip()
        if not reason:
            raise ControlError("a rejection needs a reason (-m REASON)")
        gate = await self.supervisor.decide_gate(_text(args, "gate"), False, by=by, reason=reason)
        return gate_view(gate)

    async def _reset_breaker(self, args: Args, by: str) -> AgentStateView:
        agent = _text(args, "agent")
        await self.supervisor.reset_breaker(agent, by=by)
        return AgentStateView(agent=agent, state=self.supervisor.runner(agent).state)

    async def _tool_gate(self, args: Args, by: str) -> ToolGateView:
        """Claude Code's PreToolUse hook: block until the operator decides this tool call."""
        tool_input = args.get("input") or {}
        if not isinstance(tool_input, dict):
            raise ControlError("'input' must be an object")
        approved, reason = await self.supervisor.gate_tool_call(
            _text(args, "agent"),
            _text(args, "tool"),
            tool_input,
            tool_use_id=str(args.get("tool_use_id") or ""),
        )
        return ToolGateView(approved=approved, reason=reason)


def _text(args: Args, key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value:
        raise ControlError(f"missing '{key}'")
    return value


def _report(agent: str, report: KillReport | None) -> KillView:
    if report is None:
        return KillView(agent=agent)
    return KillView(
        agent=agent,
        duration_ms=round(report.duration_ms, 3),
        processes=report.processes,
        survivors=report.survivors,
        escalated=report.escalated,
    )


def to_json(value: object) -> Any:
    """What a result looks like on the wire: views as their JSON, lists of them too."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [to_json(item) for item in value]
    return value
