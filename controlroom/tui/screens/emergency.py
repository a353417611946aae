"""The emergency stop: one question, impossible to miss and impossible to fumble.

A full-width red band says what is about to happen and to how many agents;
the focused (default) button is "Stop all", so enter stops everything at
once — in an emergency the operator must not hunt for a button — while esc
or n backs out. The text spells out the mechanism (SIGTERM to every process
tree, SIGKILL after the grace period) so nobody wonders what "stop" means.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

__all__ = ["EmergencyStopModal"]


class EmergencyStopModal(ModalScreen[bool]):
    """Dismisses with True (enter on "Stop all", or y) or False (esc, n, Cancel)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "y", "stop_all", "STOP ALL", id="emergency-confirm", tooltip="Stop every agent now"
        ),
        Binding(
            "n,escape",
            "cancel",
            "Cancel",
            key_display="n/esc",
            id="emergency-cancel",
            tooltip="Back out: nothing is stopped",
        ),
    ]
    AUTO_FOCUS = "#stop-all"

    def __init__(self, running: int, total: int) -> None:
        super().__init__()
        self.running = running
        self.total = total

    def compose(self) -> ComposeResult:
        with Vertical(id="emergency-dialog"):
            yield Static("EMERGENCY STOP", id="emergency-band")
            yield Static(
                f"Kill every agent: {self.running} running of {self.total}",
                id="emergency-count",
            )
            yield Static(
                "Each agent's whole process tree gets SIGTERM now, and SIGKILL if it is "
                "still alive when its grace period ends. Nothing restarts by itself; "
                "every kill is recorded in the audit log.",
                id="emergency-what",
            )
            with Horizontal(id="emergency-buttons"):
                yield Button("Stop all (enter)", variant="error", id="stop-all")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "stop-all")

    def action_stop_all(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
