"""Asks the operator why: a rejection needs a reason, an approval may carry one.

The reason is recorded in the audit log and, for a rejected handoff with
``on_reject = "retry"``, handed to the agent that tries again — so an empty
one is refused on the spot, with a visible message, not by the supervisor
after the modal has closed.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

__all__ = ["ReasonModal"]


class ReasonModal(ModalScreen[str | None]):
    """Dismisses with the reason typed (enter), or None (esc)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            key_display="esc",
            id="reason-cancel",
            tooltip="Back out: nothing is decided",
        ),
    ]
    AUTO_FOCUS = "#reason-input"

    def __init__(
        self, title: str, prompt: str, required: bool = True, placeholder: str = ""
    ) -> None:
        super().__init__()
        self.question = title
        self.prompt = prompt
        self.required = required
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        hint = "enter submit · esc cancel" + ("" if self.required else " · may be left empty")
        with Vertical(id="reason-dialog", classes="dialog"):
            yield Static(self.question, classes="dialog-title", markup=False)
            yield Static(self.prompt, classes="dialog-body", markup=False)
            yield Input(placeholder=self.placeholder, id="reason-input")
            yield Static("", id="reason-error", classes="dialog-error")
            yield Static(hint, classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        reason = event.value.strip()
        if self.required and not reason:
            error = self.query_one("#reason-error", Static)
            error.update("A reason is required: it is recorded and sent to the agent.")
            error.add_class("-shown")
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)
