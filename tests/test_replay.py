"""``controlroom replay``: the dashboard on a past run, rebuilt from its audit log alone.

The run is a real one: ``controlroom demo --headless`` writes its audit file
(once per module), and the real ``ReplayApp`` is driven by Pilot with the
operator's keys. The snapshot uses a demo run recorded in
``tests/fixtures/replay/demo-run.jsonl`` (the payloads of such a run, in
order), so its picture does not change from run to run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from clikit import controlroom
from textual.pilot import Pilot
from tui_harness import until

from controlroom.control.replay import Timeline
from controlroom.models import EVENT_ADAPTER, EventBase
from controlroom.tui.replay import SPEEDS, ReplayApp
from controlroom.tui.screens.agent import AgentScreen
from controlroom.tui.screens.audit import AuditScreen
from controlroom.tui.screens.main import MainScreen
from controlroom.tui.widgets.agent_table import AgentTable
from controlroom.tui.widgets.gate_queue import GateQueue
from controlroom.tui.widgets.time_bar import TimeBar

RECORDED = Path(__file__).parent / "fixtures" / "replay" / "demo-run.jsonl"


@pytest.fixture
def demo_db(demo_run: tuple[Path, Path, str]) -> Path:
    """The audit file of one real headless demo run (speed 10; conftest's, shared)."""
    return demo_run[1]


def _kinds(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


@asynccontextmanager
async def replaying(
    timeline: Timeline, db: Path, size: tuple[int, int] = (160, 48)
) -> AsyncIterator[tuple[ReplayApp, Pilot[str]]]:
    app = ReplayApp(timeline, db)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.refreshes)
        yield app, pilot


def _main(app: ReplayApp) -> MainScreen:
    return next(s for s in app.screen_stack if isinstance(s, MainScreen))


def _table(app: ReplayApp) -> AgentTable:
    return _main(app).query_one("#agents", AgentTable)


async def _step_to(app: ReplayApp, pilot: Pilot[str], index: int) -> None:
    """``home`` and ``]`` (10 s) with the real keys, most of the rest at once (each key is a
    whole redraw: hundreds of them cost half a minute), the last steps with ``right``."""
    await pilot.press("home")
    target = app.timeline.events[index - 1].ts
    if app.timeline.at + 10 < target:
        await pilot.press("right_square_bracket")
    if app.timeline.index < index - 3:
        app.timeline.step(index - 3 - app.timeline.index)
        app.moved()
    for _ in range(len(app.timeline.events)):
        if app.timeline.index >= index:
            break
        await pilot.press("right")
    assert app.timeline.index == index


def _first(events: list[EventBase], test: Callable[[Any], bool]) -> int:
    return next(i for i, e in enumerate(events) if test(e))


# --------------------------------------------------------------------------- the real run


async def test_stepping_to_the_runaways_stop_shows_it_budget_stopped(demo_db: Path) -> None:
    timeline = Timeline.load(demo_db)
    events = timeline.events
    stop = _first(
        events,
        lambda e: e.kind == "agent_state" and e.agent == "runaway" and e.state == "budget_stopped",
    )
    async with replaying(timeline, demo_db) as (app, pilot):
        await _step_to(app, pilot, stop + 1)
        table = _table(app)
        await until(pilot, lambda: table.cell_text("runaway", "state") == "$ budget_stopped")
        snapshot = _main(app).snapshot
        shown = snapshot.agent("runaway") if snapshot is not None else None
        assert shown is not None and shown.meter is not None
        # The meter as the live meter had it then: the live supervisor wrote its figures
        # into the log just before the stop (the budget warning, a meter disagreement).
        figures = [
            e.wire_tokens if e.kind == "meter_disagreement" else int(e.value)
            for e in events[:stop]
            if e.agent == "runaway" and e.kind in ("meter_disagreement", "budget_warning")
        ]
        assert figures and shown.meter.total_tokens == figures[-1]
        assert table.cell_text("runaway", "budget").endswith("tok")
        bar = _main(app).query_one("#time-bar", TimeBar)
        assert f"event {stop + 1}/{len(events)}" in bar.text
        assert "runaway: state stopping → budget_stopped" in bar.text

        await pilot.press("left")  # one event back: not stopped yet
        await until(pilot, lambda: table.cell_text("runaway", "state") != "$ budget_stopped")


async def test_a_gate_between_its_request_and_decision_is_pending(demo_db: Path) -> None:
    timeline = Timeline.load(demo_db)
    events = timeline.events
    asked = _first(events, lambda e: e.kind == "gate_requested" and e.agent == "deploy-bot")
    gate = events[asked].gate_id  # type: ignore[attr-defined]
    decided = _first(events, lambda e: e.kind == "gate_decided" and e.gate_id == gate)
    async with replaying(timeline, demo_db) as (app, pilot):
        queue = _main(app).query_one("#gates", GateQueue)
        await _step_to(app, pilot, asked + 1)
        await until(pilot, lambda: gate in [g.id for g in queue.gates])
        # the agent shows gated from its agent_state event on (just before or after)
        state_at = _first(
            events,
            lambda e: e.kind == "agent_state" and e.agent == "deploy-bot" and e.state == "gated",
        )
        assert abs(state_at - asked) <= 2 and state_at < decided
        await _step_to(app, pilot, state_at + 1)
        await until(pilot, lambda: _table(app).cell_text("deploy-bot", "state") == "◆ gated")
        assert (gate in [g.id for g in queue.gates]) == (state_at >= asked)
        midway = (events[asked].ts + events[decided].ts) / 2
        app.timeline.seek(midway)
        app.moved()
        await until(pilot, lambda: gate in [g.id for g in queue.gates])
        age = next(g.age_seconds for g in queue.gates if g.id == gate)
        assert age == pytest.approx(midway - events[asked].ts, abs=0.01)
        await pilot.press("end")  # decided by then (every gate of the demo is)
        await until(pilot, lambda: queue.gates == [])


async def test_replay_is_read_only_and_plays(demo_db: Path) -> None:
    before = _kinds(demo_db)
    timeline = Timeline.load(demo_db)
    async with replaying(timeline, demo_db) as (app, pilot):
        await pilot.press("x")
        await pilot.press("a")
        await pilot.press("X")
        await until(pilot, lambda: len(app._notifications) >= 3)
        notes = [n.message for n in app._notifications]
        assert "read-only: kill is not allowed" in notes
        assert "read-only: approve is not allowed" in notes
        assert "read-only: stop all is not allowed" in notes
        assert isinstance(app.screen, MainScreen)

        await pilot.press("plus", "plus", "plus")
        assert app.speed == SPEEDS[-1]
        await pilot.press("minus")
        assert app.speed == SPEEDS[1]
        await pilot.press("plus", "home")
        await pilot.press("space")
        await until(pilot, lambda: not app.playing, timeout=60)  # 100×: to the end, then stops
        assert app.timeline.at == app.timeline.end
        assert app.timeline.index == len(timeline.events)
        bar = _main(app).query_one("#time-bar", TimeBar)
        assert bar.text.startswith("REPLAY ‖ 100×")

        await pilot.press("left_square_bracket")  # ten seconds back
        assert app.timeline.at == pytest.approx(app.timeline.end - 10)

        await pilot.press("enter")  # the agent screen and the audit screen open on the past
        await until(pilot, lambda: isinstance(app.screen, AgentScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, AuditScreen))
    assert _kinds(demo_db) == before  # nothing was written


def test_the_cli_names_a_missing_file_or_run(demo_db: Path, tmp_path: Path) -> None:
    missing = controlroom("replay", "--db", str(tmp_path / "nope.db"), cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.startswith("controlroom: ") and "nope.db" in missing.stderr
    assert "Traceback" not in missing.stderr
    wrong = controlroom("replay", "--db", str(demo_db), "--run", "r-0", cwd=tmp_path)
    assert wrong.returncode == 1
    assert "no run 'r-0'" in wrong.stderr and Timeline.load(demo_db).run in wrong.stderr


# --------------------------------------------------------------------------- the picture


def _recorded() -> Timeline:
    lines = RECORDED.read_text(encoding="utf-8").splitlines()
    events = [EVENT_ADAPTER.validate_json(line) for line in lines]
    return Timeline(events[0].run, events)


def test_the_replay_screen_looks_as_approved(
    snap_compare: Callable[..., bool], utc: None, tmp_path: Path
) -> None:
    """The recorded demo, stopped on the event where the deploy bot's gate opened."""
    timeline = _recorded()
    asked = _first(
        timeline.events, lambda e: e.kind == "gate_requested" and e.agent == "deploy-bot"
    )

    async def at_the_gate(pilot: Pilot[str]) -> None:
        app = pilot.app
        assert isinstance(app, ReplayApp)
        await until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.refreshes)
        app.timeline.seek(timeline.events[asked].ts)
        app.moved()
        queue = _main(app).query_one("#gates", GateQueue)
        await until(pilot, lambda: len(queue.gates) == 1)
        await pilot.pause()

    app = ReplayApp(timeline, tmp_path / "recorded.db")
    assert snap_compare(app, terminal_size=(160, 48), run_before=at_the_gate)
