"""Where agents' work collides now, and the order to merge the branches waiting at gates.

Opened with ``c`` from the dashboard. It asks the control API's ``radar``
query once a second (a one-shot timer re-armed after each answer, so slow
answers never pile up) and shows the collisions panel and, above it, the
radar's suggested merge order: the branches waiting at handoff gates,
fewest conflicts with the others first. The toast and the bell for a new
collision come from the app's alerts, wherever the operator is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static

from controlroom._errors import ControlRoomError
from controlroom.control import calls
from controlroom.control.port import ControlPort
from controlroom.inert import inert_line
from controlroom.models.radarviews import RadarView
from controlroom.tui.keys import binding
from controlroom.tui.widgets.collisions import CollisionsPanel

__all__ = ["REFRESH_SECONDS", "CollisionsScreen", "describe_order"]

REFRESH_SECONDS = 1.0


def describe_order(radar: RadarView) -> str:
    """``suggested merge order: gamma → alpha → beta (…)``, or why there is none."""
    if not radar.enabled:
        return "the radar is off: no git repository, or [swarm] radar = false"
    order = [inert_line(a) for a in radar.merge_order]
    if not order:
        return "suggested merge order: no branch waits at a gate"
    return f"suggested merge order: {' → '.join(order)} (fewest conflicts first)"


class CollisionsScreen(Screen[None]):
    """The collisions panel, live."""

    BINDINGS: ClassVar[list[BindingType]] = [binding("back")]
    AUTO_FOCUS = "#collisions"

    def __init__(self, port: ControlPort, *, clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.port = port
        self._clock = clock
        self.answers = 0

    def compose(self) -> ComposeResult:
        yield Static("COLLISIONS", id="collisions-title", markup=False)
        yield Static("asking the radar…", id="collisions-order", markup=False)
        yield CollisionsPanel(id="collisions")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#collisions", CollisionsPanel).border_title = "where agents' work collides"
        self.refresh_radar()

    def now(self) -> float:
        clock = self._clock or getattr(self.app, "clock", None) or time.time
        return float(clock())

    @work(exclusive=True, group="collisions", exit_on_error=False, description="collisions")
    async def refresh_radar(self) -> None:
        """One ``radar`` answer drawn; the next asked ``REFRESH_SECONDS`` later."""
        try:
            radar = await self.port.call(calls.RADAR())
            found = radar.collisions
            self.query_one("#collisions", CollisionsPanel).apply(found, self.now())
            title = f"COLLISIONS · {len(found)} now" if found else "COLLISIONS · none now"
            self.query_one("#collisions-title", Static).update(title)
            self.query_one("#collisions-order", Static).update(describe_order(radar))
            self.answers += 1
        except (ControlRoomError, OSError) as exc:
            self.query_one("#collisions-order", Static).update(f"no answer: {exc}")
        finally:
            if self.is_attached:
                self.set_timer(REFRESH_SECONDS, self.refresh_radar)

    def action_back(self) -> None:
        self.dismiss(None)
