"""Attach mode: the dashboard on a swarm that a separate ``controlroom run --headless`` owns.

The swarm runs in a real subprocess; the dashboard is built as
``controlroom attach`` builds it (``RemoteSession`` → ``RemotePort`` over the
control socket → ``ControlRoomApp``) and driven by keys under Pilot. What it
does must be visible where it really happens: the headless process's own
log lines, its audit database, and the processes (psutil).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import pytest
from tui_harness import (
    attached,
    audit_rows,
    isolated_config,  # noqa: F401 - a fixture
    kill_recorded,
    run_id_of,
    tree_alive,
    until,
    write_config,
)

from controlroom.tui.app import ControlRoomApp
from controlroom.tui.screens.confirm import ConfirmModal
from controlroom.tui.screens.main import MainScreen
from controlroom.tui.session import RemoteSession
from controlroom.tui.widgets.agent_table import AgentTable

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("isolated_config")]

CONFIG = """
[swarm]
name = "attached"
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
name = "tree"
command = ["{python}", "{agents}/tree4.py"]
budget = { kill_grace_seconds = 2 }

[[agents]]
name = "sleeper"
command = ["{python}", "{agents}/well_behaved.py", "sleeper", "30"]
"""


@dataclass
class Headless:
    """A ``controlroom run --headless`` subprocess and what it printed."""

    proc: asyncio.subprocess.Process
    folder: Path
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def socket(self) -> Path:
        return self.folder / "r" / "control.sock"

    @property
    def db(self) -> Path:
        return self.folder / "audit.db"

    def rows(self, kind: str | None = None) -> list[dict[str, Any]]:
        run = run_id_of(self.db)
        return [] if run is None else audit_rows(self.db, run, kind)

    def spawned(self, agent: str) -> list[dict[str, Any]]:
        return [r for r in self.rows("agent_spawned") if r["agent"] == agent]


async def _read(stream: asyncio.StreamReader | None, into: list[str]) -> None:
    assert stream is not None
    while line := await stream.readline():
        into.append(line.decode(errors="replace").rstrip("\n"))


@asynccontextmanager
async def headless(folder: Path) -> AsyncIterator[Headless]:
    """The swarm of ``CONFIG`` running headless in ``folder``; stopped (SIGTERM) on the way out."""
    cfg = write_config(folder / "config.toml", CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLROOM_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controlroom", "run", str(cfg), "--headless",
        cwd=folder, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    run = Headless(proc, folder)
    readers = [
        asyncio.create_task(_read(proc.stdout, run.stdout)),
        asyncio.create_task(_read(proc.stderr, run.stderr)),
    ]
    try:
        await _wait(lambda: any("control socket" in line for line in run.stderr), 15, run)
        yield run
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await asyncio.gather(*readers, return_exceptions=True)
        kill_recorded(run.db)


async def _wait(check: Any, timeout: float, run: Headless) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if run.proc.returncode is not None:
            raise AssertionError(f"headless exited {run.proc.returncode}: {run.stderr}")
        if loop.time() > deadline:
            raise AssertionError(f"timed out; stderr: {run.stderr}")
        await asyncio.sleep(0.02)


def table(app: ControlRoomApp) -> AgentTable:
    main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
    return main.query_one("#agents", AgentTable)


def shown(app: ControlRoomApp) -> dict[str, str]:
    """agent → state, as the app's last applied snapshot shows it."""
    main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
    return {a.name: a.state for a in main.snapshot.agents} if main.snapshot is not None else {}


def pending_gates(app: ControlRoomApp) -> list[str]:
    main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
    return [g.id for g in main.snapshot.gates] if main.snapshot is not None else []


def released(app: ControlRoomApp) -> bool:
    """The gate is gone from ``app``'s screen and the downstream has started."""
    return pending_gates(app) == [] and shown(app).get("down") in ("running", "done")


async def tree_pids(run: Headless, pilot: Any) -> list[int]:
    def ready() -> list[int] | None:
        for row in run.rows("status"):
            if row["agent"] == "tree" and row["text"] == "ready":
                return [int(p) for p in row["extra"]["pids"]]
        return None

    return await until(pilot, ready)


async def test_attached_dashboard_approves_kills_and_detaches(tmp_path: Path) -> None:
    async with headless(tmp_path) as run:
        session = RemoteSession(run.socket)
        port = await session.open()
        try:
            async with attached(session, port) as (app, pilot, notes):
                await until(pilot, lambda: shown(app).get("up") == "gated")
                pids = await tree_pids(run, pilot)
                sleeper_pid = int(run.spawned("sleeper")[0]["pid"])
                assert run.spawned("down") == []

                await pilot.press("a")  # the oldest pending gate: up's handoff
                await until(pilot, lambda: run.spawned("down"))
                await until(pilot, lambda: any("down" in line for line in run.stdout))
                decided = run.rows("gate_decided")
                assert [(r["agent"], r["approved"]) for r in decided] == [("up", True)]
                await until(pilot, lambda: shown(app).get("down") in ("running", "done"))

                await until(pilot, lambda: "tree" in table(app).rows)
                table(app).focus()
                for _ in range(5):  # rows move in attention order: aim by place, then look
                    await pilot.press("home")
                    for _ in range(table(app).rows.index("tree")):
                        await pilot.press("j")
                    await pilot.pause()
                    if table(app).selected_agent == "tree":
                        break
                assert table(app).selected_agent == "tree"
                await pilot.press("x")
                await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
                await pilot.press("y")
                await until(pilot, lambda: tree_alive(pids) == [])
                await until(pilot, lambda: shown(app).get("tree") == "killed")

                await pilot.press("q")  # attached: leaves at once, asks nothing
                await until(pilot, lambda: app.return_value is not None or not app.is_running)
            assert app.return_value == "detach"
        finally:
            await session.close()

        await asyncio.sleep(0.3)  # the headless swarm must not notice the dashboard left
        assert run.proc.returncode is None
        assert psutil.pid_exists(sleeper_pid) and tree_alive([sleeper_pid]) == [sleeper_pid]
        assert [r["agent"] for r in run.rows("kill_requested")] == ["tree"]
        assert not any("stop all" in line for line in run.stderr)


async def test_two_attached_dashboards_see_the_same_swarm(tmp_path: Path) -> None:
    async with headless(tmp_path) as run:
        first, second = RemoteSession(run.socket), RemoteSession(run.socket)
        port1, port2 = await first.open(), await second.open()
        try:
            async with attached(first, port1) as (app1, pilot1, _):
                async with attached(second, port2) as (app2, pilot2, notes2):
                    await until(pilot2, lambda: shown(app1).get("up") == "gated")
                    await until(pilot2, lambda: shown(app2).get("up") == "gated")
                    assert pending_gates(app1) == pending_gates(app2) != []
                    # both in attention order: the gated agent first, the pending one last
                    assert table(app1).rows == table(app2).rows == ["up", "sleeper", "tree", "down"]

                    await pilot1.press("a")  # one approves; both see the downstream start
                    for app in (app1, app2):
                        await until(pilot2, partial(released, app))
                    await until(pilot2, lambda: shown(app2).get("down") == "done")
                    await until(pilot1, lambda: shown(app1).get("down") == "done")
                    stable = ("up", "down", "sleeper")
                    assert {a: shown(app1)[a] for a in stable} == {
                        a: shown(app2)[a] for a in stable
                    }
                    assert len(run.rows("gate_decided")) == 1

                    # The second, late, approves the same gate: the refusal crosses the socket
                    # as its class and reads as it does in-process (test_tui_operator).
                    gate = run.rows("gate_decided")[0]["gate_id"]
                    app2.operator.approve(gate)
                    late = await until(
                        pilot2, lambda: [n for n in notes2 if "already" in n.message]
                    )
                    assert [(n.severity, n.title, n.message) for n in late] == [
                        ("error", f"approve {gate}", f"gate {gate} is already approved")
                    ]
                    assert len(run.rows("gate_decided")) == 1
        finally:
            await first.close()
            await second.close()
        assert run.proc.returncode is None  # neither dashboard took the swarm down with it
