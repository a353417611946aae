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
from controlroom.tui.host import Dashboard

__all__ = ["SwarmCommands", "swarm_commands"]

Command = tuple[str, str, Callable[[], object]]
"""(palette text, help line, what it runs)."""


def swarm_commands(app: App[Any]) -> Iterator[Command]:
    """Every command that applies to the swarm's last snapshot (none in an app without one)."""
    if not isinstance(app, Dashboard):
        return
    snapshot = app.last_snapshot or {}
    operator = app.operator
    writable = not app.read_only
    if writable:
        yield ("EMERGENCY STOP ALL agents", "stop every agent now (X, ctrl+x)", app.action_stop_all)
    for gate in snapshot.get("gates") or ():
        what = f"{gate.get('agent')}: {gate.get('title') or gate.get('kind')}"
        gate_id = str(gate["id"])
        if writable:
            yield (
                f"Approve gate {gate_id} ({what})",
                "approve it (a)",
                partial(operator.approve, gate_id),
            )
            yield (
                f"Reject gate {gate_id} ({what})",
                "reject it, with a reason (r)",
                partial(operator.reject, gate_id),
            )
    for agent in snapshot.get("agents") or ():
        name = str(agent["name"])
        state = agent.get("state")
        yield (
            f"Open agent {name}",
            f"{state}: log, tools, budget (enter)",
            partial(_open_agent, app, name),
        )
        if not writable:
            continue
        if agent.get("pid") is not None:
            yield (
                f"Kill agent {name}",
                f"{state}: kill its process tree (x)",
                partial(operator.kill, name),
            )
        if state in (AgentState.RUNNING, AgentState.PAUSED):
            verb = "Resume" if state == AgentState.PAUSED else "Pause"
            yield (f"{verb} agent {name}", f"{state} (p)", partial(operator.pause_or_resume, name))
        if agent.get("breaker_open"):
            yield (
                f"Reset breaker of {name}",
                "close its circuit breaker (b)",
                partial(operator.reset_breaker, name),
            )
        elif state not in (AgentState.PENDING, AgentState.STARTING):
            yield (f"Restart agent {name}", f"{state} (R)", partial(operator.restart, name))
    for name in app.theme_specs:
        yield (f"Theme: {name}", "switch colours (t cycles)", partial(_set_theme, app, name))
    yield ("Audit log", "the live audit log (l)", app.action_audit_log)
    yield ("Help: keys", "every key, by section (?)", app.action_help)


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
