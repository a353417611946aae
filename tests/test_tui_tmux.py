"""The dashboard in a real terminal: ``controlroom CONFIG`` inside tmux, driven by keystrokes.

Nothing here is simulated: tmux gives the app a real pty of 160×48, keys go
in with ``send-keys`` and the screen comes back with ``capture-pane``; the
swarm's effects are checked in its audit database and with psutil. The tmux
server is a private one (``-L``, a unique socket name) and is killed at the
end, whatever happens; every wait is bounded.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from termkit import terminal
from tui_harness import audit_rows, kill_recorded, run_id_of, tree_alive, write_config

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

CONFIG = """
[swarm]
name = "terminal"
audit_db = "audit.db"
run_dir = "r"

[[agents]]
name = "up"
command = ["{python}", "{agents}/well_behaved.py", "{task}", "0.01"]
task = "up task"

[[agents]]
name = "down"
after = ["up"]
gate = "human"
command = ["{python}", "{agents}/well_behaved.py", "{task}", "0.01"]
task = "down task"

[[agents]]
name = "sleeper"
command = ["{python}", "{agents}/well_behaved.py", "sleeper", "30"]
budget = { kill_grace_seconds = 2 }

[[agents]]
name = "idler"
command = ["{python}", "{agents}/well_behaved.py", "idler", "30"]
"""


def row(screen: str, agent: str) -> str:
    """The agent table's line for ``agent`` ('' when not on screen)."""
    for text in screen.splitlines():
        cells = text.strip("│ ").split()
        if cells and cells[0] == agent:
            return text
    return ""


def detail_agent(screen: str) -> str | None:
    """The agent the detail pane names (the first word on its first line)."""
    found = re.search(r"Detail ─[^\n]*\n│ (\S+)", screen)
    return found.group(1) if found else None


def spawned(db: Path, agent: str) -> list[dict[str, Any]]:
    run = run_id_of(db)
    rows = [] if run is None else audit_rows(db, run, "agent_spawned")
    return [r for r in rows if r["agent"] == agent]


def test_the_dashboard_in_a_real_terminal(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config.toml", CONFIG)
    db = tmp_path / "audit.db"
    with terminal(tmp_path, [sys.executable, "-m", "controlroom", str(cfg)]) as term:
        try:
            term.until(lambda s: all(row(s, a) for a in ("up", "down", "sleeper", "idler")))
            term.until(lambda s: "◆ gated" in row(s, "up") and "1 GATE WAITING" in s)
            assert spawned(db, "down") == [] and "○ pending" in row(term.screen(), "down")

            term.keys("a")
            term.until(lambda s: "✓ done" in row(s, "down") or "● running" in row(s, "down"))
            term.until(lambda _: len(spawned(db, "down")) == 1)  # the log commits in batches
            term.until(lambda s: "no gates waiting" in s)

            sleeper_pid = int(spawned(db, "sleeper")[0]["pid"])
            term.until(lambda s: "● running" in row(s, "sleeper"))
            # select by name, not by place: rows move in attention order, and a
            # loaded machine draws a moved cursor late
            term.keys("5")  # only the running: the idler, then the sleeper
            term.until(lambda s: row(s, "down") == "" and row(s, "idler") and row(s, "sleeper"))
            term.keys("End")
            term.until(lambda s: "│ sleeper  ● running" in s)
            term.keys("x")
            term.until(lambda s: "Kill agent sleeper?" in s)
            term.keys("y")
            term.until(lambda s: row(s, "sleeper") == "")  # no longer among the running
            term.keys("Escape")  # every agent again (wait: ESC and a key at once read as Alt+key)
            term.until(lambda s: "✖ killed" in row(s, "sleeper"))
            assert tree_alive([sleeper_pid]) == []
            idler_pid = int(spawned(db, "idler")[0]["pid"])
            assert tree_alive([idler_pid]) == [idler_pid]

            term.keys("q")  # the idler still runs: asks stop / detach / cancel
            term.until(lambda s: "detach" in s.lower() and "stop" in s.lower())
            term.keys("s")
            exit_line = term.until(
                lambda s: next((ln for ln in s.splitlines() if "EXIT=" in ln), "")
            )
            assert exit_line.strip() == "EXIT=1"  # stopped agents: not a clean run
            assert tree_alive([idler_pid]) == []
            run = run_id_of(db)
            assert run is not None
            assert len(audit_rows(db, run, "run_ended")) == 1
            assert [r["agent"] for r in audit_rows(db, run, "kill_requested")] == [
                "sleeper",
                "idler",
            ]
        finally:
            kill_recorded(db)


ONE_IDLER = """
[swarm]
name = "quitting"
audit_db = "audit.db"
run_dir = "r"

[[agents]]
name = "idler"
command = ["{python}", "{agents}/well_behaved.py", "idler", "30"]
"""


def test_quit_and_stop_records_the_run_as_stopped(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config.toml", ONE_IDLER)
    db = tmp_path / "audit.db"
    with terminal(tmp_path, [sys.executable, "-m", "controlroom", str(cfg)]) as term:
        try:
            term.until(lambda s: "● running" in row(s, "idler"))
            term.keys("q")
            term.until(lambda s: "detach" in s.lower())
            term.keys("s")
            term.until(lambda s: "EXIT=" in s)
            run = run_id_of(db)
            assert run is not None
            assert [r["outcome"] for r in audit_rows(db, run, "run_ended")] == ["stopped"]
        finally:
            kill_recorded(db)
