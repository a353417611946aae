"""How many agents each attention group holds, one label per group, clickable.

At 60 agents the operator reads this line first: "2 at a gate, 1 breaker
open, 1 near its budget". Clicking a group (or typing its number, ``1``…``7``)
shows only that group in the agent table; the same again shows every agent.
Each label says its key, so the line is its own legend.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from controlroom.models.attention import ATTENTION_ORDER, Attention
from controlroom.tui.messages import AttentionChosen

__all__ = ["GROUP_GLYPHS", "AttentionBar"]

GROUP_GLYPHS: Mapping[Attention, str] = {
    Attention.GATE: "◆",
    Attention.BREAKER: "⊘",
    Attention.BUDGET: "$",
    Attention.FAILED: "✗",
    Attention.RUNNING: "●",
    Attention.IDLE: "‖",
    Attention.DONE: "✓",
}

_URGENT = frozenset({Attention.GATE, Attention.BREAKER, Attention.BUDGET, Attention.FAILED})


class _GroupLabel(Label):
    """One group's count; a click says which group was chosen."""

    def __init__(self, group: Attention) -> None:
        super().__init__("", id=f"att-{group.value}", classes=f"att-{group.value}")
        self.group = group

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(AttentionChosen(self.group))


class AttentionBar(Horizontal):
    """``show(counts, active)`` brings the labels up to date (only those that changed)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._texts: dict[Attention, str] = {}

    def compose(self) -> ComposeResult:
        for group in ATTENTION_ORDER:
            yield _GroupLabel(group)

    def label_text(self, group: Attention) -> str:
        """What the label of ``group`` says (for tests and the help)."""
        return self._texts.get(group, "")

    def show(self, counts: Mapping[Attention, int], active: Attention | None) -> None:
        for number, group in enumerate(ATTENTION_ORDER, start=1):
            count = counts.get(group, 0)
            text = f"{number} {GROUP_GLYPHS[group]} {count} {group.value}"
            label = self.query_one(f"#att-{group.value}", _GroupLabel)
            if self._texts.get(group) != text:
                self._texts[group] = text
                label.update(text)
            label.set_class(count == 0, "-zero")
            label.set_class(count > 0 and group in _URGENT, "-urgent")
            label.set_class(group is active, "-active")
