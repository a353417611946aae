"""The words of the control API's refusals: each once, whoever raises it.

A refusal is one of ``_errors``' classes (``AgentNotFound``, ``AgentNotRunning``,
``GateNotFound``, ``GateAlreadyDecided``, ``ReadOnly``); its message crosses
the socket unchanged and is shown as it is: ``controlroom kill x`` prints it
after ``controlroom:``, the dashboard's toast shows it. So whoever raises one
(the swarm that refuses, the radar's ``diff``, a screen that can tell before it
asks) takes its words from here, and one refusal reads the same in the CLI and
the dashboard: ``unknown agent 'x' (agents: a, b)``, never ``no agent 'x'`` in
one verb and ``unknown agent`` in another.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "gate_decided",
    "not_in_state",
    "nothing_to_restart",
    "read_only",
    "unknown_agent",
    "unknown_gate",
]


def unknown_agent(name: str, known: Iterable[str]) -> str:
    """``unknown agent 'x' (agents: a, b)``: names the agents there are, so a typo shows."""
    return f"unknown agent {name!r} (agents: {', '.join(known) or 'none'})"


def unknown_gate(gate_id: str, pending: Iterable[str]) -> str:
    """``no gate 'g-1' (pending: g-2, g-3)``: names the gates that wait for a decision."""
    return f"no gate {gate_id!r} (pending: {', '.join(pending) or 'none'})"


def gate_decided(gate_id: str, state: str) -> str:
    """``gate g-1 is already approved`` (or ``… being decided``): someone decided first."""
    return f"gate {gate_id} is already {state}"


def not_in_state(agent: str, state: str, wanted: str) -> str:
    """``agent 'a' is done, not running``: a pause needs it running, a resume paused."""
    return f"agent {agent!r} is {state}, not {wanted}"


def nothing_to_restart(agent: str, state: str) -> str:
    """``agent 'a' is pending: nothing to restart`` (it has not started yet)."""
    return f"agent {agent!r} is {state}: nothing to restart"


def read_only(op: str) -> str:
    """``read-only: stop all is not allowed``: an observer's control room takes no command."""
    return f"read-only: {op.replace('_', ' ')} is not allowed"
