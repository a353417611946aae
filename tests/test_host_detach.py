"""A detached dashboard is the same host as a headless run: its log, its signals, its stop.

The dashboard runs in a real terminal (tmux); ``q`` then ``d`` detaches it,
and the swarm keeps running with its log in ``run_dir/detached-PID.log``.
The agents leave setsid daemons and a zombie, and ignore SIGTERM down their
trees with a long grace, so only a second SIGTERM (kill now) ends them:
the control room must then exit on its own, every kill recorded, nothing
left running, every line of the detached log committed to the audit log.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from clikit import controlroom, wait_dead
from stopkit import (
    AGENTS,
    EXIT_BOUND_SECONDS,
    MARK,
    events,
    marking,
    recorded_pids,
    unanswered_kills,
    wait_forked,
    wait_unmarked,
)
from test_tui_tmux import terminal

pytestmark = pytest.mark.timeout(2 * EXIT_BOUND_SECONDS)


@pytest.fixture
def marker() -> Iterator[str]:
    with marking() as value:
        yield value


SEQ = re.compile(r"#(\d+)\s")


def test_detached_swarm_logs_committed_lines_and_stops_on_two_sigterms(
    tmp_path: Path, marker: str
) -> None:
    argv = [sys.executable, str(AGENTS / "forks_setsid.py"), "2", "--zombie", "--ignore-term"]
    agents = "".join(
        f'[[agents]]\nname = "f{i}"\ncommand = {json.dumps(argv)}\nenv = ["{MARK}"]\n'
        "budget = { kill_grace_seconds = 600 }\n\n"
        for i in range(2)
    )
    config = tmp_path / "swarm.toml"
    config.write_text(f'[swarm]\nname = "d"\naudit_db = "audit.db"\nrun_dir = "r"\n\n{agents}')
    db = tmp_path / "audit.db"
    command = ["env", f"{MARK}={marker}", sys.executable, "-m", "controlroom", str(config)]
    with terminal(tmp_path, command) as term:
        term.until(lambda s: s.count("● running") >= 2)
        term.keys("q")
        term.until(lambda s: "detach" in s.lower())
        term.keys("d")
        term.until(lambda s: "detached: the swarm keeps running" in s)
        pid = int(next(p["pid"] for _, _, p in events(db, "run_started")))  # type: ignore[call-overload]
        wait_forked(db, 2, _Alive(pid))
        signal_and_wait(pid, db)
        term.until(lambda s: "EXIT=" in s, timeout=EXIT_BOUND_SECONDS)
        exit_line = next(ln for ln in term.screen().splitlines() if "EXIT=" in ln)
    assert exit_line.strip() == "EXIT=1"  # stopped by a signal: not a clean run

    log = (tmp_path / "r" / f"detached-{pid}.log").read_text(encoding="utf-8")
    assert "SIGTERM: stop all" in log and "SIGTERM again: kill now" in log
    assert "Traceback" not in log and "Task exception" not in log, log
    printed = {int(m.group(1)) for line in log.splitlines() if (m := SEQ.search(line))}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        stored = {seq for (seq,) in conn.execute("SELECT seq FROM events")}
    assert printed and printed <= stored  # each line it printed is in the audit log
    assert "run ended: interrupted" in log
    assert unanswered_kills(db) == {}
    assert wait_dead(recorded_pids(db), timeout=10) == []
    assert wait_unmarked(marker) == []
    verify = controlroom("audit", "verify", "--db", str(db), cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def signal_and_wait(pid: int, db: Path) -> None:
    """SIGTERM; once every agent's kill is requested (and waits out its grace), SIGTERM again."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + EXIT_BOUND_SECONDS
    while len(events(db, "kill_requested")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(events(db, "kill_requested")) == 2
    os.kill(pid, signal.SIGTERM)


class _Alive:
    """What ``wait_forked`` polls: the detached control room, by pid."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def poll(self) -> int | None:
        try:
            return None if psutil.Process(self.pid).is_running() else 1
        except psutil.Error:
            return 1
