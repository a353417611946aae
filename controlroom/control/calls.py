"""Every operation of the control API, its arguments and its result's type: the one registry.

A caller asks by calling the operation's ``Call`` with its arguments
(``calls.KILL("coder", grace=2.0)``, ``calls.SNAPSHOT()``): that makes a
``Request`` (the op's name and its arguments as the wire carries them),
typed by the result it will get back. The dashboard's ports
(``ControlPort.call``) and the CLI's ``ControlClient.call`` send it and
return that result, validated once, here, where it crosses the socket;
in-process the API's own models pass through untouched (pydantic does not
revalidate an instance), so the dashboard that owns its swarm pays no JSON
round trip. A misspelt argument or a wrong type is a mypy error at the
caller, not a refusal from the control room.

Adding an operation is one ``Call`` here (its arguments as a function's
signature) plus its handler in ``control.api``; a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, ParamSpec, TypeVar

from pydantic import JsonValue, TypeAdapter

from controlroom._errors import ReadOnly
from controlroom.models.events import EVENT_ADAPTER, Event
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
from controlroom.text import refusals

__all__ = [
    "APPROVE",
    "Args",
    "CALLS",
    "COMMANDS",
    "DIFF",
    "EVENT",
    "EVENTS",
    "GATES",
    "HANDOFFS",
    "KILL",
    "PAUSE",
    "PING",
    "QUERIES",
    "RADAR",
    "REJECT",
    "RESET_BREAKER",
    "RESTART",
    "RESUME",
    "SNAPSHOT",
    "STOP_ALL",
    "TOOL_GATE",
    "Call",
    "Request",
    "check_writable",
    "seconds_arg",
    "whole_arg",
]

P = ParamSpec("P")
R = TypeVar("R")

Args = dict[str, JsonValue]
"""An operation's arguments as the wire carries them (what ``control.api`` reads)."""

EVENT: TypeAdapter[Event] = EVENT_ADAPTER
"""One event of the stream (``subscribe``), validated as it arrives."""


@dataclass(frozen=True)
class Request(Generic[R]):
    """One operation asked: its name, its arguments, and how to read its answer."""

    call: Call[..., R]
    args: Args

    @property
    def op(self) -> str:
        return self.call.op

    def parse(self, raw: object) -> R:
        """The answer (the wire's JSON, or the API's own models) as this operation's result."""
        return self.call.parse(raw)


class Call(Generic[P, R]):
    """One operation: its name on the wire, its arguments, whether it changes the swarm."""

    def __init__(
        self, op: str, args: Callable[P, Args], result: type[R], *, command: bool = False
    ) -> None:
        self.op = op
        self.command = command
        self._args = args
        self._result = result  # a model class, or a generic alias such as list[GateView]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Request[R]:
        return Request(self, self._args(*args, **kwargs))

    def __repr__(self) -> str:
        return f"Call({self.op!r})"

    @cached_property
    def _adapter(self) -> TypeAdapter[R]:
        """Built on first use: a CLI verb pays only for the one operation it makes."""
        return TypeAdapter(self._result)

    def parse(self, raw: object) -> R:
        """``raw`` as this operation's result."""
        return self._adapter.validate_python(raw)


def _none() -> Args:
    return {}


def _agent(agent: str) -> Args:
    return {"agent": agent}


def _kill(agent: str, *, grace: float | None = None) -> Args:
    """``grace``: seconds before SIGKILL (None: the agent's budget's ``kill_grace_seconds``)."""
    return {"agent": agent, "grace": grace}


def _restart(agent: str, new_budget: Mapping[str, int | float] | None = None) -> Args:
    """``new_budget``: keys of ``Budget`` (None: the budget it had)."""
    return {"agent": agent, "new_budget": dict(new_budget) if new_budget is not None else None}


def _stop_all(*, grace: float | None = None) -> Args:
    return {"grace": grace}


def _approve(gate: str, reason: str = "", *, merge: bool = True) -> Args:
    """``merge``: an approved handoff's branch is merged into the base (git workspaces)."""
    return {"gate": gate, "reason": reason, "merge": merge}


def _reject(gate: str, reason: str) -> Args:
    return {"gate": gate, "reason": reason}


def _gates(*, every: bool = False) -> Args:
    """``every``: decided gates too, not only the pending ones."""
    return {"all": every}


def _events(since: int = 0, limit: int = 1000, *, newest: bool = False) -> Args:
    """Stored events after ``since``, oldest first; ``newest``: the last ``limit`` of them."""
    return {"since": since, "limit": limit, "newest": newest}


def _tool_gate(
    agent: str, tool: str, tool_input: Mapping[str, JsonValue], tool_use_id: str = ""
) -> Args:
    return {"agent": agent, "tool": tool, "input": dict(tool_input), "tool_use_id": tool_use_id}


PING = Call("ping", _none, PingView)
SNAPSHOT = Call("snapshot", _none, SwarmView)
GATES = Call("gates", _gates, list[GateView])
HANDOFFS = Call("handoffs", _none, list[HandoffView])
EVENTS = Call("events", _events, list[Event])
DIFF = Call("diff", _agent, AgentDiff)
RADAR = Call("radar", _none, RadarView)
TOOL_GATE = Call("tool_gate", _tool_gate, ToolGateView)
KILL = Call("kill", _kill, KillView, command=True)
PAUSE = Call("pause", _agent, ProcessesView, command=True)
RESUME = Call("resume", _agent, ProcessesView, command=True)
RESTART = Call("restart", _restart, AgentStateView, command=True)
STOP_ALL = Call("stop_all", _stop_all, StopAllView, command=True)
APPROVE = Call("approve", _approve, GateView, command=True)
REJECT = Call("reject", _reject, GateView, command=True)
RESET_BREAKER = Call("reset_breaker", _agent, AgentStateView, command=True)

CALLS: dict[str, Call[..., Any]] = {
    c.op: c
    for c in (
        PING, SNAPSHOT, GATES, HANDOFFS, EVENTS, DIFF, RADAR, TOOL_GATE,
        KILL, PAUSE, RESUME, RESTART, STOP_ALL, APPROVE, REJECT, RESET_BREAKER,
    )
}  # fmt: skip
"""Every operation by its name on the wire."""

COMMANDS = frozenset(op for op, c in CALLS.items() if c.command)
"""Operations that change the swarm: refused by a read-only API."""

QUERIES = frozenset(op for op, c in CALLS.items() if not c.command)


def check_writable(read_only: bool, op: str) -> None:
    """The one read-only refusal: the API's, and each port's before it asks."""
    if read_only and op in COMMANDS:
        raise ReadOnly(refusals.read_only(op))


def whole_arg(args: Args, key: str, default: int) -> int:
    """A whole-number argument as the API reads it; ``default`` when absent (else TypeError)."""
    value = args.get(key, default)
    if isinstance(value, int | float | str):
        return int(value)
    raise TypeError(f"'{key}' must be a number")


def seconds_arg(args: Args, key: str) -> float | None:
    """A duration argument in seconds; None when absent (TypeError if not a number)."""
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, int | float | str):
        return float(value)
    raise TypeError(f"'{key}' must be a number of seconds")
