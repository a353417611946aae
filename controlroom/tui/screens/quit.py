"""What to do with running agents when the operator quits the dashboard.

Quitting must never kill agents by surprise nor leave them running by
surprise: the operator picks "stop" (stop every agent, then quit) or
"detach" (keep them running headless, quit only the screen). Cancel has
focus, so a stray enter changes nothing.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

__all__ = ["QuitModal"]


class QuitModal(ModalScreen[str | None]):
    """Dismisses with "stop" (s), "detach" (d) or None (esc, n)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "s",
            "choose('stop')",
            "Stop all & quit",
            id="quit-stop",
            tooltip="Stop every agent, then quit",
        ),
        Binding(
            "d",
            "choose('detach')",
            "Detach",
            id="quit-detach",
            tooltip="Quit the screen; agents keep running headless",
        ),
        Binding(
            "escape,n",
            "cancel",
            "Cancel",
            key_display="esc",
            id="quit-cancel",
            tooltip="Stay in the control room",
        ),
    ]
    AUTO_FOCUS = "#quit-cancel"

    def __init__(self, running: int) -> None:
        super().__init__()
        self.running = running

    def compose(self) -> ComposeResult:
        if self.running:
            plural = "agent has" if self.running == 1 else "agents have"
            body = (
                f"{self.running} {plural} not finished (running, waiting or about to start). "
                "Stop them, or leave them running?"
            )
        else:
            body = "No agent is running."
        with Vertical(id="quit-dialog", classes="dialog"):
            yield Static("Quit the control room", classes="dialog-title")
            yield Static(body, id="quit-body", classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Stop all and quit (s)", variant="error", id="quit-stop")
                yield Button("Detach (d)", variant="primary", id="quit-detach")
                yield Button("Cancel (esc)", id="quit-cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        choices = {"quit-stop": "stop", "quit-detach": "detach"}
        self.dismiss(choices.get(event.button.id or ""))

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    def action_cancel(self) -> None:
        self.dismiss(None)
