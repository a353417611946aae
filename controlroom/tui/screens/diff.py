"""One agent's diff against its base, opened with ``d`` on the selected agent.

The same ``DiffView`` as the gate screen (files with +/- counts, then the
diff, coloured from the theme, scrollable), with the radar's verdict for
the agent's branch above it. It asks the control API's ``diff`` query
again every ``REFRESH_SECONDS`` while it is on screen and redraws only
when the answer changed, so the operator can watch an agent work without
losing their place in the diff.
"""

from __future__ import annotations

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
from controlroom.models.radarviews import AgentDiff
from controlroom.tui.keys import binding
from controlroom.tui.widgets.diff_view import DiffView

__all__ = ["REFRESH_SECONDS", "DiffScreen"]

REFRESH_SECONDS = 2.0


class DiffScreen(Screen[None]):
    """What ``agent`` really changed, live."""

    BINDINGS: ClassVar[list[BindingType]] = [binding("back")]
    AUTO_FOCUS = "#diff"

    def __init__(self, port: ControlPort, agent: str) -> None:
        super().__init__()
        self.port = port
        self.agent = agent
        self._last: AgentDiff | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"DIFF · {inert_line(self.agent)}", id="diff-title", markup=False)
        yield Static("", id="diff-verdict", markup=False)
        yield DiffView(id="diff")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_diff()

    @work(exclusive=True, group="diff", exit_on_error=False, description="diff of an agent")
    async def refresh_diff(self) -> None:
        """One ``diff`` answer, drawn if it changed; the next asked later."""
        view = self.query_one("#diff", DiffView)
        try:
            found = await self.port.call(calls.DIFF(self.agent))
            if found != self._last:
                self._last = found
                view.show(found)
                verdict = found.verdict
                self.query_one("#diff-verdict", Static).update(
                    f"radar: {inert_line(verdict)}" if verdict else ""
                )
        except (ControlRoomError, OSError) as exc:
            view.show_error(str(exc))
        finally:
            if self.is_attached:
                self.set_timer(REFRESH_SECONDS, self.refresh_diff)

    def action_back(self) -> None:
        self.dismiss(None)
