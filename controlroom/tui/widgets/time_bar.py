"""The replay's time bar: where in the run the screen stands, and what just happened.

One line: play state and speed, the cursor's wall-clock time and its offset
into the run, a bar of the run's length, the event count, and the event the
cursor stands on in the one wording (``text.describe``). The keys that move
the cursor live on the replay app (``←``/``→``, ``[``/``]``, space, ``+``/``-``,
``home``/``end``); this widget only shows.
"""

from __future__ import annotations

import time

from textual.widgets import Static

from controlroom.models import EventBase
from controlroom.text import describe, duration
from controlroom.tui.cells import bar

__all__ = ["TimeBar", "time_bar_text"]

_BAR_WIDTH = 24


def time_bar_text(
    *,
    at: float,
    start: float,
    end: float,
    index: int,
    total: int,
    playing: bool,
    speed: int,
    event: EventBase | None,
) -> str:
    """The bar's text (a pure function: the tests read it without a screen)."""
    span = max(end - start, 0.0)
    fraction = 1.0 if span == 0 else (at - start) / span
    clock = time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 10) % 10}"
    state = "▶" if playing else "‖"
    if event is None:
        what = "before the first event"
    else:
        what = f"{event.agent}: {describe(event)}" if event.agent else describe(event)
    return (
        f"REPLAY {state} {speed}×  {clock}  +{duration(at - start)}/{duration(span)}  "
        f"{bar(fraction, _BAR_WIDTH)}  event {index}/{total}  {what}"
    )


class TimeBar(Static):
    """Shows ``time_bar_text``; updated only when its text changes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.text = ""

    def show(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.update(text)
