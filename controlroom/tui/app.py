"""The dashboard app (running it, in-process or attached, is ``running.py``'s job).

``ControlRoomApp`` holds what every screen shares: the ``ControlPort`` (its
only way to the swarm), the event stream's products (the per-agent log tail,
batched alerts with toast and bell), the theme, the key debouncer and the
operator's actions. It pushes ``MainScreen`` and starts the swarm only after
the first frame is on screen, so ``controlroom`` shows a full frame fast.

"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.actions import ActionParseResult
from textual.actions import parse as parse_action
from textual.app import App
from textual.binding import BindingType
from textual.filter import LineFilter
from textual.worker import Worker, WorkerState

from controlroom._errors import ControlRoomError
from controlroom.control import calls
from controlroom.control.port import ControlPort
from controlroom.models.events import Event, OrphanFound
from controlroom.models.kinds import EventKind
from controlroom.models.views import StopAllView, SwarmView, TotalsView
from controlroom.tui.actions import Operator, refusal
from controlroom.tui.alerts import AlertBatcher, alert_for
from controlroom.tui.commands import SwarmCommands
from controlroom.tui.inert_filter import InertFilter
from controlroom.tui.keymap import load_keymap
from controlroom.tui.keys import MUTATING_ACTIONS, READ_ONLY_REFUSALS, Debouncer, binding
from controlroom.tui.pace import HURRY_KINDS
from controlroom.tui.screens.main import MainScreen
from controlroom.tui.session import LocalSession, RemoteSession, Session
from controlroom.tui.tail import EventTail
from controlroom.tui.themes import (
    css_variable_defaults,
    load_themes,
    next_theme,
    register_themes,
    resolve_theme,
)
from controlroom.tui.view_memory import ViewMemory
from controlroom.tui.widgets.header import SwarmHeader

if TYPE_CHECKING:
    from textual.dom import DOMNode


__all__ = ["ControlRoomApp"]

_SCREENS_CSS = Path(__file__).parent / "screens" / "screens.tcss"
ALERT_FLUSH_SECONDS = 0.25
BELL_EVERY_SECONDS = 1.0


INERT_FILTER = InertFilter()

SKIPPED_KINDS = frozenset({EventKind.USAGE})
"""Kinds the dashboard's event stream leaves at the source: a usage event is no log line and
no alert (the meters come with each snapshot), and a busy swarm sends thousands a second."""


class ControlRoomApp(App[str]):
    """The control room; ``exit`` values: "stop", "detach", "done" (nothing left running)."""

    TITLE = "controlroom"
    CSS_PATH: ClassVar[list[str | PurePath]] = ["controlroom.tcss"] + (
        [_SCREENS_CSS] if _SCREENS_CSS.exists() else []
    )
    COMMANDS = App.COMMANDS | {SwarmCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        binding("stop-all"),
        binding("stop-all-now", priority=True, show=False),
        binding("audit-log", show=False),
        binding("cycle-theme", show=False),
        binding("help"),
        binding("command-palette", priority=True, show=False),
        binding("quit"),
    ]

    def __init__(
        self,
        session: Session,
        port: ControlPort,
        *,
        theme: str | None = None,
        read_only: bool = False,
        theme_dirs: list[Path] | None = None,
        keymap_path: Path | None = None,
        clock: Callable[[], float] = time.time,
        view_memory: ViewMemory | None = None,
    ) -> None:
        self.theme_specs, self.theme_problems = load_themes(theme_dirs)
        self.user_keymap, self.keymap_problems = load_keymap(keymap_path)
        super().__init__()
        self.clock = clock  # epoch seconds, for ages the screens count themselves (tests pin it)
        self.session = session
        self.port = port
        self.read_only = read_only or port.read_only
        self.tail = EventTail()
        self.alerts = AlertBatcher()
        self.debouncer = Debouncer()
        self.operator = Operator(
            self, port, read_only=self.read_only, banner=self.set_banner, debouncer=self.debouncer
        )
        self.view_memory = view_memory or ViewMemory()  # the table's sort and group, per swarm
        self.last_snapshot: SwarmView | None = None
        self.swarm_started = False
        self._banner: tuple[str, str, float] | None = None
        self._last_bell = 0.0
        self._alerted_orphans: set[int] = set()
        register_themes(self, self.theme_specs)
        spec, self.theme_warning = resolve_theme(theme, self.theme_specs)
        self.theme = spec.name

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return css_variable_defaults(getattr(self, "theme_specs", {}))

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters, then ``InertFilter``: no agent text reaches the terminal raw."""
        return [*super().get_line_filters(), INERT_FILTER]

    # ------------------------------------------------------------------ start

    def main_screen(self) -> MainScreen:
        """The home screen (a replay's has a time bar)."""
        return MainScreen()

    def on_mount(self) -> None:
        self.set_keymap(self.user_keymap)  # the operator's keys, by binding id (keymap.toml)
        self.push_screen(self.main_screen())
        for problem in self.theme_problems:
            self.notify(f"theme skipped: {problem}", severity="warning", timeout=10)
        for problem in self.keymap_problems:
            self.notify(f"key skipped: {problem}", severity="warning", timeout=10)
        if self.theme_warning:
            self.notify(self.theme_warning, severity="warning", timeout=10)
        self.call_after_refresh(self._start_swarm)
        self.set_timer(ALERT_FLUSH_SECONDS, self._flush_alerts)

    @work(group="swarm", exit_on_error=False, description="start the swarm and follow its events")
    async def _start_swarm(self) -> None:
        """Subscribe to events first (so nothing is missed), then start the swarm, then follow."""
        events = self.port.events(skip=SKIPPED_KINDS)
        first: asyncio.Future[Event] = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0)
        try:
            await self.session.start()
        except BaseException:
            first.cancel()
            raise
        self.swarm_started = True
        self._orphans_at_start()
        if isinstance(self.session, RemoteSession):
            await self._catch_up()
        try:
            self._take(await first)
        except StopAsyncIteration:
            return
        async for event in events:
            self._take(event)

    def _take(self, event: Event) -> None:
        self.tail.feed(event)
        if event.kind in HURRY_KINDS:  # news the operator must not wait a slow tick for
            for screen in self.screen_stack:
                if isinstance(screen, MainScreen):
                    screen.hurry()
        alert = alert_for(event)
        if alert is not None:
            if isinstance(event, OrphanFound):
                self._alerted_orphans.add(event.pid)
            self.alerts.add(alert)

    def _orphans_at_start(self) -> None:
        for pid, text in self.session.orphan_pids():
            if pid not in self._alerted_orphans:
                self._alerted_orphans.add(pid)
                self.notify(text, title="Orphan process", severity="error", timeout=20)
                self._bell()

    async def _catch_up(self) -> None:
        """Attached: the recent history of the run, for the log tails (no alerts for the past)."""
        history = await self.port.call(calls.EVENTS(0, 2000, newest=True))
        for event in history:
            self.tail.feed(event)
        snapshot = await self.port.snapshot()
        waiting = snapshot.totals.pending_gates
        if waiting:
            self.notify(f"{waiting} gate(s) waiting for you (g)", title="Gates", severity="warning")
            self._bell()

    # ------------------------------------------------------------------ alerts

    def _flush_alerts(self) -> None:
        try:
            if self.alerts:
                for alert in self.alerts.flush():
                    timeout = 15 if alert.severity == "error" else 8
                    self.notify(
                        alert.message, title=alert.title, severity=alert.severity, timeout=timeout
                    )
                self._bell()
        finally:
            self.set_timer(ALERT_FLUSH_SECONDS, self._flush_alerts)

    def _bell(self) -> None:
        now = time.monotonic()
        if now - self._last_bell >= BELL_EVERY_SECONDS:
            self._last_bell = now
            self.bell()

    def set_banner(self, text: str, severity: str = "warning", *, seconds: float = 30.0) -> None:
        """A line under the header for ``seconds`` (0: until replaced)."""
        until = time.monotonic() + seconds if seconds else float("inf")
        self._banner = (text, severity, until)
        if isinstance(self.screen, MainScreen):
            self.screen.query_one("#header", SwarmHeader).set_banner(text, severity)

    def banner_now(self) -> tuple[str | None, str]:
        if self._banner is None or time.monotonic() > self._banner[2]:
            self._banner = None
            return None, "warning"
        return self._banner[0], self._banner[1]

    # ------------------------------------------------------------------ workers

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One place where a failed worker becomes a message the operator can read."""
        worker = event.worker
        if event.state != WorkerState.ERROR:
            return
        error = worker.error
        what = worker.description or worker.name
        text = str(error) if isinstance(error, ControlRoomError) else repr(error)
        self.notify(f"{what}: {text}", title="failed", severity="error", timeout=15)
        if worker.group == "swarm":
            self.set_banner(f"swarm: {text}", "error", seconds=0)

    # ------------------------------------------------------------------ app-wide actions

    async def run_action(
        self,
        action: str | ActionParseResult,
        default_namespace: DOMNode | None = None,
        namespaces: Mapping[str, DOMNode] | None = None,
    ) -> bool:
        """Read-only: a key that would change the swarm says why it does nothing.

        ``check_action`` hides those bindings from the footer (False), which
        would also make a press silently do nothing; every key press reaches
        its action through here, so the refusal is told here, once, for
        every screen.
        """
        if self.read_only:
            _, name, _ = action if isinstance(action, tuple) else parse_action(action)
            command = READ_ONLY_REFUSALS.get(name)
            if command is not None:
                self.notify(refusal(command), severity="warning")
                return True
        return await super().run_action(action, default_namespace, namespaces)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MUTATING_ACTIONS and self.read_only:
            return False
        if action == "stop_all" and any(
            type(s).__name__ == "EmergencyStopModal" for s in self.screen_stack
        ):
            return False
        return True

    def action_stop_all(self) -> None:
        totals = self.last_snapshot.totals if self.last_snapshot is not None else TotalsView()
        self.operator.stop_all(totals.running, totals.agents)

    def action_cycle_theme(self) -> None:
        self.theme = next_theme(self.theme, self.theme_specs)
        self.notify(f"theme: {self.theme}", timeout=2)

    def action_audit_log(self) -> None:
        from controlroom.tui.screens.audit import AuditScreen

        if type(self.screen) is not AuditScreen:
            self.push_screen(AuditScreen(self.port))

    def action_help(self) -> None:
        from controlroom.tui.screens.help import HelpScreen

        if type(self.screen) is not HelpScreen:
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Attached: just leave. Owning agents that still run: ask (stop, detach, cancel)."""
        if not self.session.owns_swarm:
            self.exit("detach")
            return
        if self.unfinished_agents() == 0:
            self.exit("done")
            return
        self.operator.quit(self.unfinished_agents(), self.stop_owned_swarm)

    # ------------------------------------------------------------------ helpers for actions

    def unfinished_agents(self) -> int:
        if isinstance(self.session, LocalSession):
            return self.session.unfinished()
        return self.last_snapshot.totals.running if self.last_snapshot is not None else 0

    async def stop_owned_swarm(self) -> StopAllView | None:
        """Quit → "stop": every agent, through the port (or directly when read-only)."""
        if not self.read_only:
            return await self.port.call(calls.STOP_ALL())
        if isinstance(self.session, LocalSession):
            await self.session.stop_all("quit: stop all")
        return None
