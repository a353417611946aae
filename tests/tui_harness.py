"""Shared helpers for the dashboard's tests and benches: the real app over a real swarm.

``dashboard(tmp_path, agents)`` builds the dashboard exactly as
``controlroom tui`` does (``run_dashboard``): a ``LocalSession`` (audit
store, supervisor, control socket) opened first, then ``ControlRoomApp``
over its ``LocalPort`` — and runs it under Textual's Pilot. Everything the
operator could see is reachable from the ``Dash`` it yields: the app, its
main screen, the notifications it raised (observed with Textual's
``message_hook``, the app itself is not altered), the supervisor's live
state and the audit rows on disk. On the way out every agent is stopped and,
as a last resort, every process the run spawned is killed by its recorded
(pid, create_time) identity — never by name.

Waits are bounded polls that let the app run (``Dash.until``), never fixed
sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
from swarmkit import agent_cmd
from textual.message import Message
from textual.notifications import Notification, Notify
from textual.pilot import Pilot
from textual.screen import Screen

from controlroom.control.port import ControlPort
from controlroom.models import AgentSpec, SwarmConfig, SwarmSettings
from controlroom.tui.app import ControlRoomApp
from controlroom.tui.screens.main import MainScreen
from controlroom.tui.session import LocalSession, Session
from controlroom.tui.widgets.agent_table import AgentTable
from controlroom.tui.widgets.header import SwarmHeader

__all__ = [
    "AGENTS",
    "REPO",
    "SIZE",
    "STOP_ALL_SUMMARY",
    "Dash",
    "attached",
    "audit_rows",
    "banner_text",
    "dashboard",
    "fast",
    "isolated_config",
    "kill_recorded",
    "notes_of",
    "run_id_of",
    "swarm_config",
    "tree_alive",
    "until",
    "write_config",
]

REPO = Path(__file__).resolve().parent.parent
AGENTS = REPO / "tests" / "agents"
SIZE = (160, 48)
"""The terminal size every dashboard test runs at."""

T = TypeVar("T")
S = TypeVar("S", bound=Screen[Any])


@pytest.fixture
def isolated_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """An empty ``$XDG_CONFIG_HOME``: the operator's own themes never leak into a test."""
    home = tmp_path_factory.mktemp("xdg-config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


# --------------------------------------------------------------------------- configs


def fast(name: str, **kwargs: Any) -> AgentSpec:
    """Says a few lines, hands off, exits 0 within ~50 ms."""
    return AgentSpec(
        name=name,
        command=agent_cmd("well_behaved", "{task}", "0.01"),
        task=f"{name} task",
        **kwargs,
    )


def swarm_config(
    tmp_path: Path, agents: list[AgentSpec], *, name: str = "tui", max_cost_usd: float | None = None
) -> SwarmConfig:
    """A config whose audit db and run folder live in ``tmp_path`` (short paths: a unix socket)."""
    return SwarmConfig(
        swarm=SwarmSettings(
            name=name,
            audit_db=str(tmp_path / "audit.db"),
            run_dir=str(tmp_path / "r"),
            max_cost_usd=max_cost_usd,
        ),
        agents=agents,
    )


def write_config(path: Path, body: str) -> Path:
    """Write a config.toml; ``{python}`` and ``{agents}`` are this interpreter and tests/agents."""
    text = body.replace("{python}", sys.executable).replace("{agents}", str(AGENTS))
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- waiting


async def until(pilot: Pilot[Any], check: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Let the app run until ``check()`` is truthy; return its value (AssertionError on timeout)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := check()):
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {check.__qualname__}")
        await pilot.pause(0.02)
    return value


# --------------------------------------------------------------------------- what the screen says


def notes_of(notes: list[Notification]) -> list[str]:
    """Every notification raised, as ``severity: title: message`` lines."""
    return [f"{n.severity}: {n.title}: {n.message}" for n in notes]


def banner_text(app: ControlRoomApp) -> str:
    """The header's banner line of the main screen ('' when hidden)."""
    main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
    banner = main.query_one("#header", SwarmHeader).query_one("#hdr-banner")
    return "" if banner.has_class("-hidden") else str(banner.render())


# --------------------------------------------------------------------------- the audit file


def audit_rows(
    db: Path, run_id: str | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    """The stored events (of ``run_id``, of ``kind``), in order, read-only."""
    import json

    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        sql = "SELECT payload FROM events WHERE 1=1"
        params: list[str] = []
        if run_id is not None:
            sql += " AND run = ?"
            params.append(run_id)
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        rows = conn.execute(sql + " ORDER BY run, seq", params).fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        conn.close()
    return [json.loads(payload) for (payload,) in rows]


def run_id_of(db: Path) -> str | None:
    """The newest run in ``db``."""
    rows = audit_rows(db, kind="run_started")
    return str(rows[-1]["run"]) if rows else None


# --------------------------------------------------------------------------- processes


def tree_alive(pids: list[int], create_times: dict[int, float] | None = None) -> list[int]:
    """The pids of ``pids`` still running (zombies count as gone)."""
    alive = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if create_times and abs(proc.create_time() - create_times[pid]) > 1e-3:
                continue
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.Error:
            pass
    return alive


def kill_recorded(db: Path) -> None:
    """Last resort: SIGKILL every process ``db`` says was spawned, and its children, by identity."""
    for spawned in audit_rows(db, kind="agent_spawned"):
        try:
            proc = psutil.Process(int(spawned["pid"]))
            if abs(proc.create_time() - float(spawned["create_time"])) > 1e-3:
                continue
            for child in [*proc.children(recursive=True), proc]:
                with contextlib.suppress(psutil.Error):
                    child.kill()
        except psutil.Error:
            pass


# --------------------------------------------------------------------------- the dashboard


@dataclass
class Dash:
    """A running dashboard and what can be observed of it."""

    app: ControlRoomApp
    pilot: Pilot[str]
    session: LocalSession
    notes: list[Notification] = field(default_factory=list)

    @property
    def db(self) -> Path:
        return self.session.db

    @property
    def run_id(self) -> str:
        assert self.session.supervisor is not None
        return self.session.supervisor.run_id

    @property
    def main(self) -> MainScreen:
        return next(s for s in self.app.screen_stack if isinstance(s, MainScreen))

    @property
    def table(self) -> AgentTable:
        return self.main.query_one("#agents", AgentTable)

    def state(self, agent: str) -> str:
        """The agent's state as the supervisor knows it (the truth the screen must follow)."""
        assert self.session.supervisor is not None
        return str(self.session.supervisor.runners[agent].state)

    def shown_state(self, agent: str) -> str | None:
        """The agent's state as the last snapshot the screen applied shows it."""
        snapshot = self.main.snapshot
        row = snapshot.agent(agent) if snapshot is not None else None
        return None if row is None else str(row.state)

    def audit(self, kind: str | None = None) -> list[dict[str, Any]]:
        return audit_rows(self.db, self.run_id, kind)

    def texts(self) -> list[str]:
        return notes_of(self.notes)

    async def until(self, check: Callable[[], T | None], timeout: float = 30.0) -> T:
        return await until(self.pilot, check, timeout)

    async def on_screen(self, kind: type[S], timeout: float = 30.0) -> S:
        """Until the current screen is a ``kind``; that screen."""

        def current() -> S | None:
            screen = self.app.screen
            return screen if isinstance(screen, kind) else None

        return await self.until(current, timeout)

    async def ready(self, *agents: str, timeout: float = 30.0) -> None:
        """Until the swarm started and the table shows ``agents``."""
        await self.until(lambda: self.app.swarm_started and self.main.refreshes > 0, timeout)
        await self.until(lambda: set(agents) <= set(self.table.rows), timeout)

    async def shows(self, agent: str, states: set[str], timeout: float = 30.0) -> str:
        """Until the screen shows ``agent`` in one of ``states`` (the table's own cell text)."""

        def shown() -> str | None:
            state = self.shown_state(agent)
            if state in states and agent in self.table.rows:
                text = self.table.cell_text(agent, "state")
                return state if text.endswith(state) else None
            return None

        return await self.until(shown, timeout)

    async def select(self, agent: str) -> None:
        """Move the table's cursor onto ``agent`` with the real keys (home, then j)."""
        table = self.table
        if self.app.focused is not table:
            table.focus()
            await self.pilot.pause()
        await self.pilot.press("home")
        for _ in range(len(table.rows)):
            if table.selected_agent == agent:
                return
            await self.pilot.press("j")
        assert table.selected_agent == agent, (agent, table.rows)


def _recorder(notes: list[Notification]) -> Callable[[Message], None]:
    def hook(message: Message) -> None:
        if isinstance(message, Notify):
            notes.append(message.notification)

    return hook


async def _stop_session(session: LocalSession) -> None:
    """Stop what still runs, wait for it, release the socket and the database."""
    try:
        if session.unfinished():
            await asyncio.wait_for(session.stop_all("test cleanup"), 15)
        await asyncio.wait_for(session.wait(), 15)
    finally:
        await session.close()
        kill_recorded(session.db)


@asynccontextmanager
async def dashboard(
    tmp_path: Path,
    agents: list[AgentSpec],
    *,
    read_only: bool = False,
    theme: str | None = None,
    max_cost_usd: float | None = None,
    size: tuple[int, int] = SIZE,
) -> AsyncIterator[Dash]:
    """The dashboard over a real swarm of ``agents``, built as ``controlroom tui`` builds it."""
    cfg = swarm_config(tmp_path, agents, max_cost_usd=max_cost_usd)
    session = LocalSession(cfg, Path(cfg.swarm.audit_db), read_only=read_only, base_dir=tmp_path)
    port = await session.open()
    try:
        async with _piloted(session, port, theme=theme, read_only=read_only, size=size) as (
            app,
            pilot,
            notes,
        ):
            yield Dash(app, pilot, session, notes)
    finally:
        await _stop_session(session)


@asynccontextmanager
async def attached(
    session: Session,
    port: ControlPort,
    *,
    theme: str | None = None,
    read_only: bool = False,
    size: tuple[int, int] = SIZE,
) -> AsyncIterator[tuple[ControlRoomApp, Pilot[str], list[Notification]]]:
    """The dashboard over an already-open session (attach mode: a ``RemoteSession``)."""
    async with _piloted(session, port, theme=theme, read_only=read_only, size=size) as running:
        yield running


@asynccontextmanager
async def _piloted(
    session: Session,
    port: ControlPort,
    *,
    theme: str | None,
    read_only: bool,
    size: tuple[int, int],
) -> AsyncIterator[tuple[ControlRoomApp, Pilot[str], list[Notification]]]:
    notes: list[Notification] = []
    app = ControlRoomApp(session, port, theme=theme, read_only=read_only)
    async with app.run_test(size=size, message_hook=_recorder(notes)) as pilot:
        yield app, pilot, notes


# --------------------------------------------------------------------------- small things


STOP_ALL_SUMMARY = re.compile(r"(\d+) agents? stopped in (\d+) ms, (\d+) survivors")
"""The words the emergency stop reports with."""
