"""The command palette's commands, built from the swarm as it is right now.

As posting's ``commands.py``: the palette offers what makes sense this
second — "Approve gate g-1a2b (implementer: …)" only while that gate waits,
"Resume agent x" only while x is paused, nothing that changes the swarm in
``--read-only`` — and every command runs the same code as its key: the
app's one Operator. It reads the app through ``tui.host.Dashboard``, never
``tui.app`` (which imports this module).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider

from controlroom.models.state import AgentState
from controlroom.models.views import AgentView, GateView
from controlroom.text.operator import gate_line
from controlroom.tui.host import Dashboard, Operations

__all__ = ["SwarmCommands", "swarm_commands"]

Command = tuple[str, str, Callable[[], object]]
"""(palette text, help line, what it runs)."""


def swarm_commands(app: App[Any]) -> Iterator[Command]:
    """Every command that applies to the swarm's last snapshot (none in an app without one)."""
    if not isinstance(app, Dashboard):
        return
    writable = not app.read_only
    if writable:
        yield ("EMERGENCY STOP ALL agents", "stop every agent now (X, ctrl+x)", app.action_stop_all)
    swarm = app.last_snapshot
    if swarm is None:
        return
    if writable:
        yield from _gate_commands(app.operator, swarm.gates)
    for agent in swarm.agents:
        yield (
            f"Open agent {agent.name}",
            f"{agent.state}: log, tools, budget (enter)",
            partial(_open_agent, app, agent.name),
        )
        if writable:
            yield from _agent_commands(app.operator, agent)
    for name in app.theme_specs:
        yield (f"Theme: {name}", "switch colours (t cycles)", partial(_set_theme, app, name))
    yield ("Audit log", "the live audit log (l)", app.action_audit_log)
    yield ("Help: keys", "every key, by section (?)", app.action_help)


def _gate_commands(operator: Operations, gates: list[GateView]) -> Iterator[Command]:
    for gate in gates:
        what = gate_line(gate)
        yield (
            f"Approve gate {gate.id} ({what})",
            "approve it (a)",
            partial(operator.approve, gate.id),
        )
        yield (
            f"Reject gate {gate.id} ({what})",
            "reject it, with a reason (r)",
            partial(operator.reject, gate.id),
        )


def _agent_commands(operator: Operations, agent: AgentView) -> Iterator[Command]:
    name, state = agent.name, agent.state
    if agent.pid is not None:
        yield (
            f"Kill agent {name}",
            f"{state}: kill its process tree (x)",
            partial(operator.kill, name),
        )
    if state in (AgentState.RUNNING, AgentState.PAUSED):
        verb = "Resume" if state == AgentState.PAUSED else "Pause"
        yield (f"{verb} agent {name}", f"{state} (p)", partial(operator.pause_or_resume, name))
    if agent.breaker_open:
        yield (
            f"Reset breaker of {name}",
            "close its circuit breaker (b)",
            partial(operator.reset_breaker, name),
        )
    elif state not in (AgentState.PENDING, AgentState.STARTING):
        yield (f"Restart agent {name}", f"{state} (R)", partial(operator.restart, name))


def _open_agent(app: App[Any], name: str) -> None:
    from controlroom.tui.screens.agent import AgentScreen

    if isinstance(app, Dashboard):
        app.push_screen(AgentScreen(app.port, name))


def _set_theme(app: App[Any], name: str) -> None:
    app.theme = name


class SwarmCommands(Provider):
    """Commands that follow the swarm's state."""

    def _commands(self) -> list[Command]:
        return list(swarm_commands(self.app))

    async def discover(self) -> Hits:
        for text, help_text, run in self._commands():
            yield DiscoveryHit(text, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, run in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), run, text=text, help=help_text)
