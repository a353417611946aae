"""Every operation of the control API with the type of its result: the one registry.

A caller names an operation by its ``Call`` (``calls.SNAPSHOT``, ``calls.KILL``)
and gets back that operation's typed result: the dashboard's ports
(``ControlPort.call``), the CLI's ``ControlClient.call``. The result is
validated once, here, where it crosses the socket; in-process the API's own
models pass through untouched (pydantic does not revalidate an instance),
so the dashboard that owns its swarm pays no JSON round trip.

Adding an operation is one line here plus its handler in ``control.api``;
a test holds the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

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

__all__ = [
    "APPROVE",
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
    "check_writable",
]

R = TypeVar("R")

EVENT: TypeAdapter[Event] = EVENT_ADAPTER
"""One event of the stream (``subscribe``), validated as it arrives."""


@dataclass(frozen=True)
class Call(Generic[R]):
    """One operation: its name on the wire, whether it changes the swarm, its result's type."""

    op: str
    result: type[R] | Any  # a model class, or a generic alias such as list[GateView]
    command: bool = False

    @cached_property
    def _adapter(self) -> TypeAdapter[R]:
        """Built on first use: a CLI verb pays only for the one operation it makes."""
        return TypeAdapter(self.result)

    def parse(self, raw: object) -> R:
        """``raw`` (the wire's JSON, or the API's own models) as this operation's result."""
        return self._adapter.validate_python(raw)


PING: Call[PingView] = Call("ping", PingView)
SNAPSHOT: Call[SwarmView] = Call("snapshot", SwarmView)
GATES: Call[list[GateView]] = Call("gates", list[GateView])
HANDOFFS: Call[list[HandoffView]] = Call("handoffs", list[HandoffView])
EVENTS: Call[list[Event]] = Call("events", list[Event])
DIFF: Call[AgentDiff] = Call("diff", AgentDiff)
RADAR: Call[RadarView] = Call("radar", RadarView)
TOOL_GATE: Call[ToolGateView] = Call("tool_gate", ToolGateView)
KILL: Call[KillView] = Call("kill", KillView, command=True)
PAUSE: Call[ProcessesView] = Call("pause", ProcessesView, command=True)
RESUME: Call[ProcessesView] = Call("resume", ProcessesView, command=True)
RESTART: Call[AgentStateView] = Call("restart", AgentStateView, command=True)
STOP_ALL: Call[StopAllView] = Call("stop_all", StopAllView, command=True)
APPROVE: Call[GateView] = Call("approve", GateView, command=True)
REJECT: Call[GateView] = Call("reject", GateView, command=True)
RESET_BREAKER: Call[AgentStateView] = Call("reset_breaker", AgentStateView, command=True)

CALLS: dict[str, Call[Any]] = {
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
        raise ReadOnly(f"read-only: {op.replace('_', ' ')} is not allowed")
