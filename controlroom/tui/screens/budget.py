"""A new budget for an agent's restart, prefilled with the one it had.

An agent stopped by its budget restarts only with a new one (the supervisor
refuses otherwise). Every limit is shown with its current value; an empty
field means "no limit of that kind", a value must be a positive number (the
kill grace may be zero). Enter anywhere submits the whole form; a bad field
keeps the modal open and names the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from controlroom.models.config import Budget

__all__ = ["BUDGET_FIELDS", "BudgetField", "BudgetLimits", "BudgetModal", "parse_budget_field"]

BudgetLimits = dict[str, int | float]
"""The limits the operator set, by ``Budget`` key (what ``calls.RESTART`` sends)."""


@dataclass(frozen=True)
class BudgetField:
    """One editable limit: the ``Budget`` key, its label, and what a value may be."""

    key: str
    label: str
    kind: Literal["integer", "number"]
    allow_zero: bool = False


BUDGET_FIELDS: tuple[BudgetField, ...] = (
    BudgetField("max_tokens", "max tokens", "integer"),
    BudgetField("max_cost_usd", "max cost (USD)", "number"),
    BudgetField("max_wall_seconds", "max wall time (s)", "number"),
    BudgetField("max_turns", "max turns", "integer"),
    BudgetField("kill_grace_seconds", "kill grace (s)", "number", allow_zero=True),
)


def parse_budget_field(field: BudgetField, text: str) -> int | float | None:
    """The value of one field (None when empty); ValueError names what is wrong."""
    text = text.strip().replace("_", "")
    if not text:
        return None
    value: int | float
    try:
        value = int(text) if field.kind == "integer" else float(text)
    except ValueError:
        wanted = "a whole number" if field.kind == "integer" else "a number"
        raise ValueError(f"{field.label}: {text!r} is not {wanted}") from None
    if not math.isfinite(value):
        raise ValueError(f"{field.label}: must be a finite number")
    if value < 0 or (value == 0 and not field.allow_zero):
        bound = "zero or more" if field.allow_zero else "more than zero"
        raise ValueError(f"{field.label}: must be {bound} (empty means no limit)")
    return value


def _shown(value: int | float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class BudgetModal(ModalScreen[BudgetLimits | None]):
    """Dismisses with the new budget (only the keys that are set) or None (esc)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            key_display="esc",
            id="budget-cancel",
            tooltip="Back out: nothing is restarted",
        ),
    ]
    AUTO_FOCUS = "#budget-max_tokens"

    def __init__(self, agent: str, budget: Budget) -> None:
        super().__init__()
        self.agent = agent
        self.budget = budget

    def compose(self) -> ComposeResult:
        with Vertical(id="budget-dialog", classes="dialog"):
            yield Static(f"New budget for {self.agent}", classes="dialog-title", markup=False)
            yield Static(
                "Empty means no limit of that kind. Enter restarts with this budget.",
                classes="dialog-body",
            )
            for field in BUDGET_FIELDS:
                with Horizontal(classes="budget-row"):
                    yield Label(field.label, classes="budget-label")
                    yield Input(
                        _shown(getattr(self.budget, field.key)),
                        type=field.kind,
                        compact=True,
                        id=f"budget-{field.key}",
                        classes="budget-input",
                    )
            yield Static("", id="budget-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Restart with this budget", variant="primary", id="budget-submit")
                yield Button("Cancel (esc)", id="budget-cancel")

    def collect(self) -> BudgetLimits:
        """The limits set in the form; ValueError (naming the field) when a value is bad."""
        budget: BudgetLimits = {}
        for field in BUDGET_FIELDS:
            value = parse_budget_field(field, self.query_one(f"#budget-{field.key}", Input).value)
            if value is not None:
                budget[field.key] = value
        return budget

    def _submit(self) -> None:
        try:
            budget = self.collect()
        except ValueError as exc:
            error = self.query_one("#budget-error", Static)
            error.update(str(exc))
            error.add_class("-shown")
            return
        self.dismiss(budget)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "budget-submit":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
