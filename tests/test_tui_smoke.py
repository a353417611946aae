"""Smoke tests of the dashboard: the real app, a real in-process swarm, real agent processes.

Each test opens the dashboard exactly as ``controlroom tui`` does (a
``LocalSession``: audit file, supervisor, control socket) and drives it with
Textual's Pilot. Processes are checked with psutil; every agent is stopped
and, as a last resort, killed by its recorded identity on the way out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
from swarmkit import agent_cmd, audit_rows, gone, same_process, sleeper
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets import Static

from controlroom._errors import ControlError
from controlroom.control import calls
from controlroom.models import AgentSpec, AgentState, Budget, SwarmConfig, SwarmSettings
from controlroom.models.views import AgentView, LimitView, MeterView
from controlroom.tui.app import ControlRoomApp
from controlroom.tui.keys import Debouncer
from controlroom.tui.screens.main import MainScreen
from controlroom.tui.session import LocalSession
from controlroom.tui.widgets.agent_table import AgentTable

SIZE = (160, 48)


@asynccontextmanager
async def dashboard(
    tmp_path: Path, agents: list[AgentSpec], *, read_only: bool = False
) -> AsyncIterator[tuple[ControlRoomApp, Pilot[str], LocalSession]]:
    cfg = SwarmConfig(
        swarm=SwarmSettings(
            name="smoke", audit_db=str(tmp_path / "audit.db"), run_dir=str(tmp_path / "run")
        ),
        agents=agents,
    )
    session = LocalSession(cfg, tmp_path / "audit.db", read_only=read_only, base_dir=tmp_path)
    port = await session.open()
    app = ControlRoomApp(session, port, read_only=read_only)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.swarm_started and app.last_snapshot is not None)
            yield app, pilot, session
    finally:
        try:
            if session.unfinished():
                await asyncio.wait_for(session.stop_all("test cleanup"), 10)
            await asyncio.wait_for(session.wait(), 10)
        finally:
            run = session.supervisor.run_id if session.supervisor else ""
            await session.close()
            for row in audit_rows(tmp_path / "audit.db", run, "agent_spawned"):
                proc = same_process(row["pid"], row["create_time"])
                if proc is not None:
                    proc.kill()


async def until(pilot: Pilot[Any], check: Callable[[], object], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the dashboard")
        await pilot.pause(0.05)


def states(app: ControlRoomApp) -> dict[str, str]:
    snapshot = app.last_snapshot
    return {a.name: a.state for a in snapshot.agents} if snapshot is not None else {}


def table(app: ControlRoomApp) -> AgentTable:
    return app.screen.query_one("#agents", AgentTable)


def pid_of(app: ControlRoomApp, agent: str) -> int | None:
    found = app.last_snapshot.agent(agent) if app.last_snapshot is not None else None
    return found.pid if found is not None else None


async def test_main_screen_shows_agents_with_their_states(tmp_path: Path) -> None:
    agents = [
        sleeper("a-sleeper"),
        AgentSpec(name="b-quick", command=agent_cmd("well_behaved", "quick", "0.01")),
        AgentSpec(name="c-later", command=agent_cmd("well_behaved"), after=["a-sleeper"]),
    ]
    async with dashboard(tmp_path, agents) as (app, pilot, _):
        assert isinstance(app.screen, MainScreen)
        await until(pilot, lambda: states(app).get("b-quick") == "done")
        await until(pilot, lambda: states(app).get("a-sleeper") == "running")
        shown = table(app)
        await until(pilot, lambda: "running" in shown.cell_text("a-sleeper", "state"))
        assert shown.rows == ["a-sleeper", "c-later", "b-quick"]  # running, pending, done
        assert shown.cell_text("b-quick", "state") == "✓ done"
        assert shown.cell_text("c-later", "state") == "○ pending"
        assert shown.cell_text("b-quick", "tokens") == "300/60"  # 3 usage lines of 100 in / 20 out
        assert shown.cell_text("a-sleeper", "pid") == str(pid_of(app, "a-sleeper"))
        header = app.screen.query_one("#hdr-agents")  # painted in the frame after the table's
        await until(pilot, lambda: "1/3 running" in str(header.render()))

        await pilot.press("s")  # the next sort: by name
        assert shown.rows == ["a-sleeper", "b-quick", "c-later"]
        await pilot.press("slash", "q", "u", "i")
        assert shown.rows == ["b-quick"]
        await pilot.press("escape")
        assert shown.row_count == 3


async def test_x_and_confirm_kills_the_selected_agent(tmp_path: Path) -> None:
    agents = [sleeper("a-victim"), sleeper("b-bystander")]
    async with dashboard(tmp_path, agents) as (app, pilot, _):
        await until(pilot, lambda: pid_of(app, "a-victim") and pid_of(app, "b-bystander"))
        victim = psutil.Process(pid_of(app, "a-victim"))
        bystander = psutil.Process(pid_of(app, "b-bystander"))
        assert table(app).selected_agent == "a-victim"
        await pilot.press("x")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmModal")
        await pilot.press("y")
        await until(pilot, lambda: states(app).get("a-victim") == "killed")
        assert gone(victim)
        assert not gone(bystander)
        assert states(app)["b-bystander"] == "running"


async def test_held_x_opens_one_confirm(tmp_path: Path) -> None:
    async with dashboard(tmp_path, [sleeper("a-victim")]) as (app, pilot, _):
        await until(pilot, lambda: pid_of(app, "a-victim"))
        await pilot.press("x", "x", "x")  # a held key repeats faster than the debounce
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmModal")
        await pilot.press("n")
        await pilot.pause(0.1)
        assert isinstance(app.screen, MainScreen)  # one modal, dismissed once
        assert states(app)["a-victim"] == "running"


async def test_ctrl_x_and_enter_stops_every_agent(tmp_path: Path) -> None:
    agents = [sleeper("a"), sleeper("b"), sleeper("c")]
    async with dashboard(tmp_path, agents) as (app, pilot, _):
        await until(pilot, lambda: all(pid_of(app, n) for n in "abc"))
        procs = [psutil.Process(pid_of(app, n)) for n in "abc"]
        await pilot.press("ctrl+x")
        await until(pilot, lambda: type(app.screen).__name__ == "EmergencyStopModal")
        await pilot.press("enter")
        await until(pilot, lambda: set(states(app).values()) == {"killed"})
        assert all(gone(p) for p in procs)
        banner, severity = app.banner_now()
        assert banner is not None and "3 agents stopped in" in banner
        assert banner.endswith("0 survivors")
        assert any("3 agents stopped" in n.message for n in app._notifications)


async def test_a_approves_the_pending_handoff_and_the_next_agent_spawns(tmp_path: Path) -> None:
    agents = [
        AgentSpec(name="architect", command=agent_cmd("well_behaved", "design", "0.01")),
        AgentSpec(
            name="implementer", command=agent_cmd("well_behaved"), after=["architect"], gate="human"
        ),
    ]
    async with dashboard(tmp_path, agents) as (app, pilot, session):
        await until(pilot, lambda: app.last_snapshot is not None and app.last_snapshot.gates)
        assert app.last_snapshot is not None
        gate = app.last_snapshot.gates[0]
        assert gate.kind == "handoff"
        await until(pilot, lambda: any(n.title == "Gate waiting" for n in app._notifications))
        assert states(app)["implementer"] == "pending"
        await pilot.press("a")
        await until(pilot, lambda: states(app).get("implementer") == "done")
        assert session.supervisor is not None
        await session.supervisor.bus.flush()  # the audit writer commits on its own pace
        run = session.supervisor.run_id
        decided = audit_rows(tmp_path / "audit.db", run, "gate_decided")
        assert [(d["gate_id"], d["approved"]) for d in decided] == [(gate.id, True)]
        assert [r["agent"] for r in audit_rows(tmp_path / "audit.db", run, "agent_spawned")] == [
            "architect",
            "implementer",
        ]


async def test_read_only_refuses_x(tmp_path: Path) -> None:
    async with dashboard(tmp_path, [sleeper("a-watched")], read_only=True) as (app, pilot, _):
        await until(pilot, lambda: pid_of(app, "a-watched"))
        watched = psutil.Process(pid_of(app, "a-watched"))
        assert "READ-ONLY" in str(app.screen.query_one("#hdr-readonly").render())
        keys = {b.binding.key for b in app.active_bindings.values()}
        assert "x" not in keys and "X" not in keys
        await pilot.press("x", "X", "ctrl+x")
        await pilot.pause(0.3)
        assert isinstance(app.screen, MainScreen)
        assert states(app)["a-watched"] == "running" and not gone(watched)
        with pytest.raises(ControlError, match="read-only"):
            await app.port.call(calls.KILL("a-watched"))


def test_debouncer_lets_a_burst_through_once() -> None:
    now = [0.0]
    debounce = Debouncer(0.3, clock=lambda: now[0])
    assert debounce.allow("kill-agent")
    for _ in range(20):  # a held key: a repeat every 30 ms, for 0.6 s
        now[0] += 0.03
        assert not debounce.allow("kill-agent")
    assert debounce.allow("stop-all")  # other actions are not blocked
    now[0] += 0.31
    assert debounce.allow("kill-agent")  # released, pressed again


class _TableHost(App[None]):
    def compose(self) -> ComposeResult:
        yield AgentTable(id="agents")


def _busy_agent(i: int, tick: int) -> AgentView:
    name = f"agent-{i:03d}"
    return AgentView(
        name=name,
        state=(AgentState.RUNNING, AgentState.GATED, AgentState.PAUSED)[(i + tick) % 3],
        pid=1000 + i,
        meter=MeterView(
            agent=name,
            at=tick * 5.0,
            input_tokens=1000 * tick + i,
            output_tokens=100 * tick,
            total_tokens=1100 * tick + i,
            cost_usd=0.001 * tick * (i + 1),
            tokens_per_minute=float((i * tick) % 5000),
            elapsed_seconds=tick * 0.25,
            budget=Budget(max_wall_seconds=1800),
            limits=[LimitView(limit="max_cost_usd", fraction=(tick % 10) / 10, value=1, cap=5)],
            cpu_percent=float(tick % 100),
            rss_bytes=10_000_000 + tick,
            processes=1 + tick % 4,
        ),
    )


async def test_refreshing_100_busy_agents_changes_every_row() -> None:
    """Every cell of 100 rows × 12 columns changes each tick (its cost: bench/tui_load.py)."""
    async with _TableHost().run_test(size=SIZE) as pilot:
        shown = pilot.app.query_one(AgentTable)
        shown.apply([_busy_agent(i, 0) for i in range(100)], 0.0)
        await pilot.pause()
        for tick in range(1, 21):
            agents = [_busy_agent(i, tick) for i in range(100)]
            with pilot.app.batch_update():
                changed = shown.apply(agents, tick * 5.0)
            for y in range(48):
                shown.render_line(y)
            await pilot.pause()
        assert changed == shown.scrollable_content_region.height - 1  # every row on screen
        assert shown.row_count == 100


async def test_q_asks_and_stop_kills_every_agent_before_quitting(tmp_path: Path) -> None:
    async with dashboard(tmp_path, [sleeper("a-left")]) as (app, pilot, session):
        await until(pilot, lambda: pid_of(app, "a-left"))
        left = psutil.Process(pid_of(app, "a-left"))
        await pilot.press("q")
        await until(pilot, lambda: type(app.screen).__name__ == "QuitModal")
        assert not gone(left)  # asking stops nothing
        await pilot.press("s")
        await until(pilot, lambda: app.return_value == "stop")
        assert gone(left)
        assert session.unfinished() == 0


class _CountingTable(AgentTable):
    """The agent table, noting which of its lines are drawn."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.drawn: list[int] = []

    def render_line(self, y: int) -> Strip:
        self.drawn.append(y)
        return super().render_line(y)


class _Below(Static):
    """What sits under the table on the main screen (the detail pane): counts its renders."""

    renders = 0

    def render_lines(self, crop: Region) -> list[Strip]:
        self.renders += 1
        return super().render_lines(crop)


class _TableAbove(App[None]):
    CSS = "_CountingTable { height: 12; } #bottom { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield _CountingTable(id="agents")
        with Horizontal(id="bottom"):  # as the main screen's detail pane and gates are
            yield _Below("detail")


async def test_a_refresh_redraws_the_changed_rows_on_screen_and_nothing_below() -> None:
    """One agent on screen and one scrolled out of view change: only the first's line is drawn.

    A row out of view used to be repainted at its virtual place, below the table, and every
    widget there was rendered again each refresh (bench/tui_load.py: detail pane, gates, footer).
    """
    async with _TableAbove().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(_CountingTable)
        below = pilot.app.query_one(_Below)
        agents = [_busy_agent(i, 1) for i in range(100)]
        table.apply(agents, 0.0)
        await pilot.pause()
        seen, hidden = table.rows[2], table.rows[15]  # 11 rows shown: 0 to 10
        table.drawn = []
        below.renders = 0
        changed = []
        for agent in agents:
            if agent.name in (seen, hidden) and agent.meter is not None:
                meter = agent.meter.model_copy(update={"input_tokens": 987_654})
                agent = agent.model_copy(update={"meter": meter})
            changed.append(agent)
        assert table.apply(changed, 0.5) == 1  # within one burn sample: no sparkline moves
        await pilot.pause()
        assert table.drawn == [3]  # row 2, under the header line
        assert below.renders == 0
        assert table.cell_text(seen, "tokens").startswith("987.7k/")
        for _ in range(15):  # the operator goes down to the other one: it shows the new value
            table.action_cursor_down()
        await pilot.pause()
        shown = [table.render_line(y).text for y in range(1, 12)]
        assert "987.7k/" in next(text for text in shown if text.lstrip().startswith(hidden))
