"""``controlroom replay``: the dashboard on a past run, read-only, with a time bar.

The same app, screens and widgets as the live dashboard, over a
``ReplayPort`` (control/replay.py) instead of a swarm: every pane is drawn
from the fold of the audit log up to the cursor, so it shows what the live
screen showed at that instant. The app adds the cursor's keys (``←``/``→``
an event, ``[``/``]`` ten seconds, space plays at 1×/10×/100× — ``+``/``-``
— and ``home``/``end``) and keeps the per-agent log tails in step with the
cursor. It is read-only: every key that would change a swarm answers with
the one read-only refusal.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.timer import Timer
from textual.widgets import Footer, Input

from controlroom.control.replay import ReplayPort, Timeline
from controlroom.tui.app import ControlRoomApp
from controlroom.tui.keys import binding
from controlroom.tui.screens.main import MainScreen
from controlroom.tui.tail import EventTail
from controlroom.tui.widgets.time_bar import TimeBar, time_bar_text

__all__ = ["PLAY_TICK_SECONDS", "SPEEDS", "ReplayApp", "ReplaySession", "replay_dashboard"]

SPEEDS = (1, 10, 100)
"""Play speeds, times real time."""
PLAY_TICK_SECONDS = 0.1


class ReplaySession:
    """A past run: nothing to start, nothing owned, nothing left behind."""

    owns_swarm = False

    def __init__(self, port: ReplayPort, db: Path) -> None:
        self.port = port
        self.socket_path = db  # nothing listens: shown only in descriptions

    async def open(self) -> ReplayPort:
        return self.port

    async def start(self) -> None:
        return None

    def orphan_pids(self) -> list[tuple[int, str]]:
        return []

    async def close(self) -> None:
        await self.port.close()


class ReplayMainScreen(MainScreen):
    """The main screen with the time bar above its footer."""

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, Footer):
                yield TimeBar(id="time-bar")
            yield widget


class ReplayApp(ControlRoomApp):
    """The dashboard over a timeline; the cursor keys win over the table's (priority)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        binding(name, priority=True)
        for name in (
            "replay-play",
            "replay-back",
            "replay-forward",
            "replay-back-10s",
            "replay-forward-10s",
            "replay-faster",
            "replay-slower",
            "replay-start",
            "replay-end",
        )
    ]

    def __init__(self, timeline: Timeline, db: Path, **kwargs: Any) -> None:
        port = ReplayPort(timeline, db)
        super().__init__(ReplaySession(port, db), port, read_only=True, **kwargs)
        self.timeline = timeline
        self.playing = False
        self.speed = SPEEDS[0]
        self._fed = 0  # events of the timeline fed to the tail
        self._player: Timer | None = None
        self._played_at = 0.0

    def main_screen(self) -> MainScreen:
        return ReplayMainScreen()

    @work(group="swarm", exit_on_error=False, description="open the replay")
    async def _start_swarm(self) -> None:
        """No swarm to start: the screen polls the port; here the tail and the bar follow."""
        self.swarm_started = True
        self.moved()

    # ------------------------------------------------------------------ the cursor

    def moved(self) -> None:
        """The cursor moved: the tails, the bar and the main screen follow at once."""
        index = self.timeline.index
        if index < self._fed:
            self.tail = EventTail()
            self._fed = 0
        for event in self.timeline.events[self._fed : index]:
            self.tail.feed(event)
        self._fed = index
        self._show_bar()
        screen = self.screen
        if isinstance(screen, MainScreen) and not screen.covered:
            screen.apply(self.timeline.snapshot())

    def _show_bar(self) -> None:
        timeline = self.timeline
        bars = [bar for screen in self.screen_stack for bar in screen.query(TimeBar)]
        for bar_widget in bars:
            bar_widget.show(
                time_bar_text(
                    at=timeline.at,
                    start=timeline.start,
                    end=timeline.end,
                    index=timeline.index,
                    total=len(timeline.events),
                    playing=self.playing,
                    speed=self.speed,
                    event=timeline.current(),
                )
            )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Typing in a box (the filter): the cursor keys are the box's, not the replay's."""
        if action.startswith("replay_") and isinstance(self.focused, Input):
            return False
        return super().check_action(action, parameters)

    def action_replay_step(self, events: int) -> None:
        self._pause()
        self.timeline.step(events)
        self.moved()

    def action_replay_jump(self, seconds: float) -> None:
        self.timeline.seek(self.timeline.at + seconds)
        self.moved()

    def action_replay_edge(self, end: int) -> None:
        self._pause()
        self.timeline.seek(self.timeline.end if end else self.timeline.start)
        self.moved()

    def action_replay_speed(self, step: int) -> None:
        position = SPEEDS.index(self.speed) + step
        self.speed = SPEEDS[min(max(position, 0), len(SPEEDS) - 1)]
        self._show_bar()

    def action_replay_play(self) -> None:
        if self.playing:
            self._pause()
        else:
            if self.timeline.at >= self.timeline.end:
                self.timeline.seek(self.timeline.start)
            self.playing = True
            self._played_at = time.monotonic()
            self._player = self.set_interval(PLAY_TICK_SECONDS, self._play_tick)
        self.moved()

    def _pause(self) -> None:
        self.playing = False
        if self._player is not None:
            self._player.stop()
            self._player = None

    def _play_tick(self) -> None:
        now = time.monotonic()
        elapsed, self._played_at = now - self._played_at, now
        self.timeline.seek(self.timeline.at + elapsed * self.speed)
        if self.timeline.at >= self.timeline.end:
            self._pause()
        self.moved()


def replay_dashboard(db: Path, run: str | None = None, *, theme: str | None = None) -> int:
    """Open the dashboard on run ``run`` (default: the newest) of the audit file ``db``."""
    timeline = Timeline.load(db, run)

    async def run_app() -> int:
        app = ReplayApp(timeline, db, theme=theme)
        try:
            await app.run_async()
        finally:
            await app.session.close()
        return 0

    return asyncio.run(run_app())
