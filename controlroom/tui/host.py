"""What a screen may ask of the app it runs in, as Protocols: no screen imports the app.

``tui.app`` imports every screen; a screen that imported ``tui.app`` back
(for its Operator, its port, its banner) closed an import circle. A screen
names instead what it needs here: :class:`Operations` (the operator's
actions, which ``tui.actions.Operator`` carries out) and, for the main
screen and the command palette, :class:`Dashboard` (what the dashboard app
shares between its screens). ``ControlRoomApp`` satisfies both by its
shape, and a test's bare host app can give a screen its own Operator.

Imports no screen and no Operator, so that every screen may import it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from textual.worker import Worker

    from controlroom.control.port import ControlPort
    from controlroom.models.views import SwarmView
    from controlroom.tui.keys import Debouncer
    from controlroom.tui.tail import EventTail
    from controlroom.tui.view_memory import ViewMemory

__all__ = ["Dashboard", "Decided", "Decision", "HasOperator", "Operations", "operator_of"]

Decision = Literal["approved", "rejected", "decided elsewhere"]
"""How a gate decision asked for ended (a cancelled or failed one ends without one)."""

Decided = Callable[[Decision], None]
"""Told how a decision ended; the gate screen closes on it."""


class Operations(Protocol):
    """The operator's actions on the swarm, by agent name or gate id.

    Each asks what it must (a confirm, a reason, a new budget), sends one
    command, and says in a toast what happened or why not. An action already
    under way for the same target, or pressed again within the debounce
    interval, is not started twice; in read-only each is refused with the
    control API's own words. Every screen and the command palette call these.
    """

    @property
    def read_only(self) -> bool:
        """True when every action is refused (the bindings that change the swarm are hidden)."""
        ...

    def kill(self, agent: str) -> None: ...

    def pause_or_resume(self, agent: str) -> None: ...

    def restart(self, agent: str) -> None: ...

    def reset_breaker(self, agent: str) -> None: ...

    def approve(self, gate: str, *, note: bool = False, then: Decided | None = None) -> None: ...

    def reject(self, gate: str, *, then: Decided | None = None) -> None: ...

    def stop_all(self, running: int, total: int) -> None: ...


@runtime_checkable
class HasOperator(Protocol):
    """An app that carries the Operator its screens act through."""

    @property
    def operator(self) -> Operations: ...


def operator_of(app: object) -> Operations:
    """The Operator of the app a screen runs in (a TypeError names an app without one)."""
    if not isinstance(app, HasOperator):
        raise TypeError(f"{type(app).__name__} has no operator: give it a tui.actions.Operator")
    return app.operator


@runtime_checkable
class Dashboard(Protocol):
    """What the dashboard app shares between the main screen and the command palette."""

    @property
    def port(self) -> ControlPort: ...

    @property
    def read_only(self) -> bool: ...

    @property
    def operator(self) -> Operations: ...

    @property
    def debouncer(self) -> Debouncer: ...

    @property
    def tail(self) -> EventTail: ...

    @property
    def view_memory(self) -> ViewMemory: ...

    @property
    def theme_specs(self) -> dict[str, Any]: ...

    last_snapshot: SwarmView | None

    def set_banner(self, text: str, severity: str = ..., *, seconds: float = ...) -> None: ...

    def banner_now(self) -> tuple[str | None, str]: ...

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None: ...

    def action_stop_all(self) -> None: ...

    def action_audit_log(self) -> None: ...

    def action_help(self) -> None: ...
