"""The radar on the dashboard: real agents writing in worktrees of a real repository, real keys.

alpha and beta rewrite the same line of ``src/client.py`` and keep running.
The dashboard (built as ``controlroom tui`` builds it) must raise a toast
and ring the bell when their collision appears, show each agent's files
changed in the agent table, list the collisions with ``c`` and show the
selected agent's diff with ``d``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from radarkit import CLIENT, HOLD, make_repo, writer
from textual.widgets import Static
from tui_harness import dashboard, isolated_config  # noqa: F401 - a fixture

from controlroom.tui.screens.collisions import CollisionsScreen
from controlroom.tui.screens.diff import DiffScreen
from controlroom.tui.screens.help import HelpScreen
from controlroom.tui.screens.main import MainScreen
from controlroom.tui.widgets.collisions import CollisionsPanel
from controlroom.tui.widgets.diff_view import DiffView

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("isolated_config")]

EDIT = CLIENT.replace("line 10\n", "{}\n")


async def test_collisions_are_told_listed_and_each_diff_is_one_key_away(tmp_path: Path) -> None:
    make_repo(tmp_path, {"src/client.py": CLIENT, "README.md": "# billing\n"})
    agents = [
        writer("alpha", [{"write": "src/client.py", "text": EDIT.format("ALPHA")}, HOLD]),
        writer(
            "beta",
            [
                {"sleep": 0.3},
                {"write": "src/client.py", "text": EDIT.format("BETA")},
                {"write": "docs/b.md", "text": "b\n"},
                HOLD,
            ],
        ),
    ]
    async with dashboard(tmp_path, agents) as d:
        # a toast (and the bell) when the collision appears
        await d.until(lambda: any(t.startswith("warning: Collision: ") for t in d.texts()))
        told = next(t for t in d.texts() if t.startswith("warning: Collision: "))
        assert "src/client.py" in told
        assert d.app._last_bell > 0  # the bell rang (at most once a second)

        # the header counts them, pointing at c
        header = d.main.query_one("#hdr-collisions", Static)
        await d.until(lambda: str(header.render()).endswith(" collisions (c)"))

        # the files-changed column
        await d.until(lambda: d.table.cell_text("beta", "files") == "2 +2-1")
        assert d.table.cell_text("alpha", "files") == "1 +1-1"

        # c: the collisions panel, with the file, the agents, the kind and since when
        await d.pilot.press("c")
        screen = await d.on_screen(CollisionsScreen)
        panel = screen.query_one(CollisionsPanel)
        await d.until(lambda: {r[2] for r in panel.shown} >= {"file", "conflict"})
        rows = {(r[0], r[1], r[2]) for r in panel.shown}
        assert ("src/client.py", "alpha, beta", "file") in rows
        assert ("src/client.py", "alpha, beta", "conflict") in rows
        assert all(r[3].endswith(" ago") for r in panel.shown)
        order = str(screen.query_one("#collisions-order", Static).render())
        assert order == "suggested merge order: no branch waits at a gate"
        await d.pilot.press("escape")
        await d.on_screen(MainScreen)

        # d: the selected agent's diff, with the radar's verdict
        await d.select("beta")
        await d.pilot.press("d")
        diff = await d.on_screen(DiffScreen)
        view = diff.query_one(DiffView)
        await d.until(lambda: view.found is not None)
        assert view.found is not None and "+BETA\n" in view.found.diff
        assert str(diff.query_one("#diff-files", Static).render()).splitlines() == [
            "A  docs/b.md  +1 -0",
            "M  src/client.py  +1 -1",
        ]
        verdict = str(diff.query_one("#diff-verdict", Static).render())
        assert "conflicts with alpha in src/client.py" in verdict
        await d.pilot.press("escape")
        await d.on_screen(MainScreen)

        # both keys are in the help, under View
        await d.pilot.press("question_mark")
        help_screen = await d.on_screen(HelpScreen)
        shown = " ".join(str(s.render()) for s in help_screen.query(Static))
        assert "Collisions" in shown and "Diff" in shown
