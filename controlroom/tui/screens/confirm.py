"""The yes/no question asked before an action that cannot be undone (kill, restart).

Shaped like posting's ``widgets/confirmation.py``: a ``ModalScreen[bool]``
answered with y/n/esc. The confirm button has focus when it opens, so enter
confirms too; tab to Cancel and enter cancels. The caller says what the
action touches in ``body`` (for a kill: the agent and how many processes its
tree has), as k9s's delete confirm says how many rows it deletes.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

__all__ = ["ConfirmModal"]


class ConfirmModal(ModalScreen[bool]):
    """Asks one question; dismisses with True (y, enter) or False (n, esc)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes", id="confirm-yes", tooltip="Confirm: do it"),
        Binding(
            "n,escape",
            "cancel",
            "No",
            key_display="n/esc",
            id="confirm-no",
            tooltip="Cancel: change nothing",
        ),
        Binding("enter", "confirm", "Confirm", show=False, id="confirm-enter", tooltip="Confirm"),
    ]
    AUTO_FOCUS = "#confirm"

    def __init__(
        self, title: str, body: str, confirm_label: str = "Kill", danger: bool = True
    ) -> None:
        super().__init__()
        self.question = title
        self.body = body
        self.confirm_label = confirm_label
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog -danger" if self.danger else "dialog"):
            yield Static(self.question, id="confirm-title", classes="dialog-title", markup=False)
            yield Static(self.body, id="confirm-body", classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    f"{self.confirm_label} (y)",
                    variant="error" if self.danger else "primary",
                    id="confirm",
                )
                yield Button("Cancel (n/esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
