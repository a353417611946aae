"""The gate screen shows what an agent really changed: real agents, a real repository, Pilot keys.

alpha and beta rewrite the same line of ``src/client.py``; beta's handoff
also names ``src/retry.py``, which it never touched, and its worktree
moves while the gate waits. Its gate screen (the real ``GateScreen`` over
``LocalPort``, as the dashboard opens it) must show git's diff, the
radar's verdict naming the conflict, the discrepancy, and follow the
new write without being reopened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from radarkit import CLIENT, HOLD, make_repo, writer
from swarmkit import sleeper, swarm
from textual.app import App
from textual.screen import Screen
from textual.widgets import Static
from tui_harness import until

from controlroom.control.api import ControlAPI
from controlroom.control.port import ControlPort, LocalPort
from controlroom.models import CollisionFound, GateRequested, HandoffChecked
from controlroom.tui.actions import Operator
from controlroom.tui.screens.gate import GateScreen
from controlroom.tui.themes import (
    DEFAULT_THEME,
    builtin_theme_dir,
    css_variable_defaults,
    load_themes,
    register_themes,
)
from controlroom.tui.widgets.diff_view import DiffView

pytestmark = pytest.mark.timeout(120)

SCREENS_TCSS = Path(__file__).parent.parent / "controlroom" / "tui" / "screens" / "screens.tcss"
THEMES, _ = load_themes([builtin_theme_dir()])
EDIT = CLIENT.replace("line 10\n", "{}\n")


class Host(App[None]):
    """A bare app with the real stylesheet, themes and an Operator; records what screens return."""

    CSS_PATH = str(SCREENS_TCSS)

    def __init__(self, port: ControlPort) -> None:
        super().__init__()
        self.results: list[Any] = []
        self.operator = Operator(self, port)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return css_variable_defaults(THEMES)

    def on_mount(self) -> None:
        register_themes(self, THEMES)
        self.theme = DEFAULT_THEME

    def open(self, screen: Screen[Any]) -> None:
        self.push_screen(screen, self.results.append)


def text_of(screen: Screen[Any], selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def handoff(changed: str) -> dict[str, Any]:
    return {"handoff": {"changed": changed, "next_needs": "review it", "risks": "none"}}


async def test_the_gate_screen_shows_the_diff_the_verdict_and_the_discrepancies(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", {"src/client.py": CLIENT, "README.md": "# billing\n"})
    agents = [
        writer("alpha", [{"write": "src/client.py", "text": EDIT.format("ALPHA")}, HOLD]),
        writer(
            "beta",
            [
                {"write": "src/client.py", "text": EDIT.format("BETA")},
                handoff("src/client.py and src/retry.py"),
            ],
        ),
        sleeper("next", after=["beta"], gate="human"),
    ]
    async with swarm(tmp_path, agents, base_dir=repo) as s:
        await s.log.until(lambda e: isinstance(e, HandoffChecked) and e.agent == "beta", 30)
        requested = await s.log.until(lambda e: isinstance(e, GateRequested), 30)
        await s.log.until(
            lambda e: isinstance(e, CollisionFound) and e.collision_kind == "conflict", 30
        )
        assert isinstance(requested, GateRequested)
        api = ControlAPI(s.sup)
        snapshot = api.snapshot()
        gate = next(g for g in snapshot.gates if g.id == requested.gate_id)
        agent = snapshot.agent("beta")
        port = LocalPort(api)
        app = Host(port)
        async with app.run_test(size=(160, 48)) as pilot:
            app.open(GateScreen(port, gate, agent))
            await until(pilot, lambda: isinstance(app.screen, GateScreen))
            screen = app.screen
            await until(pilot, lambda: screen.query("#gate-diff"))
            view = screen.query_one("#gate-diff", DiffView)
            await until(pilot, lambda: view.found is not None)

            assert text_of(screen, "#diff-files").splitlines()[0] == "M  src/client.py  +1 -1"
            diff = view.found.diff if view.found else ""
            assert "-line 10\n+BETA\n" in diff
            drawn = view.query_one("#diff-text", Static)
            assert drawn.render_lines(drawn.content_region.reset_offset)  # the diff is drawn
            verdict = text_of(screen, "#gate-verdict")
            assert "conflicts with alpha in src/client.py" in verdict
            assert "suggested merge order: 1" in verdict
            assert text_of(screen, "#gate-discrepancies") == (
                "! names src/retry.py, which the diff does not touch"
            )
            boxes = [str(b.border_title) for b in screen.query(".gate-handoff")]
            assert len(boxes) == 3  # the three fields beside the diff

            # its worktree moves while the gate waits: the screen asks for the diff again
            worktree = tmp_path / "run" / "worktrees" / s.run_id / "beta"
            (worktree / "docs").mkdir()
            (worktree / "docs" / "notes.md").write_text("one\ntwo\nthree\n")
            await until(
                pilot,
                lambda: view.found is not None and len(view.found.files) == 2,
                timeout=30,
            )
            assert text_of(screen, "#diff-files").splitlines() == [
                "A  docs/notes.md  +3 -0",
                "M  src/client.py  +1 -1",
            ]
            assert text_of(screen, "#diff-summary").startswith("2 files, +4 -1 against ")

            # the diff pane scrolls from the keyboard
            view.focus()
            await pilot.press("end")
            await pilot.press("escape")
            await until(pilot, lambda: app.results == [None])
