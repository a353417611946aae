"""One limit of an agent's budget: its name and a bar, then value / cap and the time left.

A widget of its own (the agent screen lists one per limit the budget sets);
the bar's colour follows the meter level (``-ok``, ``-warn``, ``-over``) and
its layout is in screens.tcss (``.limit-row``).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar

from controlroom.models.views import LimitView
from controlroom.text import duration, limit_label, limit_value
from controlroom.tui.cells import meter_level

__all__ = ["LimitRow", "describe_limit"]


def describe_limit(limit: LimitView) -> str:
    """``tokens 360 / 200,000 (0.2%)`` — one limit of a budget, for people."""
    name = limit.limit
    used = f"{limit_value(name, float(limit.value))} / {limit_value(name, float(limit.cap))}"
    text = f"{limit_label(name)} {used} ({limit.fraction:.1%})"
    left = limit.seconds_left
    if left is not None and 0 < left < 24 * 3600:
        text += f" · ~{duration(left)} left at this rate"
    return text


class LimitRow(Vertical):
    """One budget limit: its name and a bar, then value / cap and the time left."""

    def __init__(self, limit: LimitView) -> None:
        super().__init__(classes="limit-row -ok")
        self.limit = limit.limit
        self._first = limit

    def compose(self) -> ComposeResult:
        with Horizontal(classes="limit-line"):
            yield Label(limit_label(self.limit), classes="limit-name")
            yield ProgressBar(total=1.0, show_eta=False, classes="limit-bar")
        yield Label("", classes="limit-text", markup=False)

    def on_mount(self) -> None:
        self.show(self._first)

    def show(self, limit: LimitView) -> None:
        cap = float(limit.cap) or 1.0
        value = min(float(limit.value), cap)
        self.query_one(ProgressBar).update(total=cap, progress=value)
        self.query_one(".limit-text", Label).update(describe_limit(limit))
        level = meter_level(limit.fraction)
        for name in ("ok", "warn", "over"):
            self.set_class(name == level, f"-{name}")
