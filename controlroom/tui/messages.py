"""Every message the dashboard's widgets and screens send each other, in one place.

Dataclasses over ``textual.message.Message`` (as posting and toolong keep
theirs): what a widget says happened, never what the receiver should do.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from controlroom.models.attention import Attention
from controlroom.models.views import GateView

__all__ = [
    "AgentChosen",
    "AgentHighlighted",
    "AttentionChosen",
    "FilterChanged",
    "GateChosen",
    "SwarmFailed",
    "SwarmReady",
]


@dataclass
class AgentHighlighted(Message):
    """The agent table's cursor moved to ``agent`` (None: no row)."""

    agent: str | None


@dataclass
class AgentChosen(Message):
    """Enter on an agent row: open its screen."""

    agent: str


@dataclass
class AttentionChosen(Message):
    """A group's count in the attention bar was clicked: show only that group (again: all)."""

    group: Attention


@dataclass
class GateChosen(Message):
    """Enter on a pending gate: open it."""

    gate: GateView


@dataclass
class FilterChanged(Message):
    """The operator typed in the filter box (an empty string shows every agent)."""

    text: str


@dataclass
class SwarmReady(Message):
    """The port answers and the swarm has started: screens may poll."""


@dataclass
class SwarmFailed(Message):
    """The swarm could not be started or reached; ``error`` says why, for the operator."""

    error: str
