"""Test harness: a real Supervisor over real agent processes, writing a real audit file.

Shared by the supervisor, pipeline and control tests. ``swarm(tmp_path,
agents)`` yields a started supervisor and stops every agent on the way out;
``EventLog`` collects what the bus published so tests can wait for events.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from controlroom.control.api import ControlAPI
from controlroom.control.server import ControlSocketServer
from controlroom.models import (
    AgentSpawned,
    AgentSpec,
    Containment,
    EventBase,
    ProxySettings,
    StatusEvent,
    SwarmConfig,
    SwarmSettings,
    new_run_id,
)
from controlroom.process.runcontain import RunContainment
from controlroom.store.writer import AuditStore
from controlroom.swarm.bus import Subscription
from controlroom.swarm.supervisor import Supervisor

AGENTS = Path(__file__).parent / "agents"
RUNAWAY_LINE_USD = (900 * 3.0 + 100 * 15.0) / 1_000_000  # one runaway.py line, sonnet-4-5 prices


CONTAINMENTS = ("cgroup", "process-tree")
"""Both ways a run contains its agents: tests of a guarantee run under each."""


def need_containment(mode: str) -> None:
    """Skip a cgroup test where no cgroup can be made (a failure in CI, where they must be)."""
    if mode != "cgroup":
        return
    probe = RunContainment.open("auto", f"probe-{os.getpid()}")
    probe.close()
    if probe.cgroups is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the cgroup tests: {probe.describe()}")
        pytest.skip(probe.describe())


def frozen(proc: psutil.Process) -> bool:
    """Held by a pause: stopped by SIGSTOP (state T), or trapped by the cgroup freezer.

    A process the cgroup freezer holds shows state S, waiting in the kernel's
    signal path (``get_signal``), where no running or sleeping program waits.
    """
    try:
        if proc.status() == psutil.STATUS_STOPPED:
            return True
        with open(f"/proc/{proc.pid}/wchan") as fh:
            return proc.status() == psutil.STATUS_SLEEPING and fh.read() in (
                "get_signal",
                "do_freezer_trap",
            )
    except (psutil.Error, OSError):
        return False


def agent_cmd(name: str, *args: str) -> list[str]:
    return [sys.executable, str(AGENTS / f"{name}.py"), *args]


def inline_cmd(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def sleeper(name: str, **kwargs: Any) -> AgentSpec:
    """A cooperative agent that sits in a long sleep (dies on SIGTERM)."""
    return AgentSpec(name=name, command=agent_cmd("well_behaved", name, "30"), **kwargs)


# --------------------------------------------------------------------------- harness


def _said(event: EventBase) -> str:
    """``AgentCrashed(beta: why)``: an event's class, agent and reason, for a failure message."""
    why = getattr(event, "reason", "") or getattr(event, "message", "")
    agent = getattr(event, "agent", None) or ""
    return f"{type(event).__name__}({agent}{': ' if why else ''}{why})"


class EventLog:
    """Everything the bus published, collected from one subscription as tests wait."""

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub
        self.events: list[EventBase] = []

    def collect(self) -> list[EventBase]:
        self.events.extend(self.sub.drain())
        return self.events

    async def until(
        self, predicate: Callable[[EventBase], bool], timeout: float = 30.0
    ) -> EventBase:
        """The first event (seen or still to come) that satisfies ``predicate``."""

        async def scan() -> EventBase:
            checked = 0
            while True:
                self.collect()
                for event in self.events[checked:]:
                    if predicate(event):
                        return event
                checked = len(self.events)
                event_or_none = await self.sub.get()
                if event_or_none is None:
                    raise AssertionError("the bus closed before the event came")
                self.events.append(event_or_none)

        try:
            return await asyncio.wait_for(scan(), timeout)
        except TimeoutError:  # say what did come, so a failure under load can be read
            seen = [_said(e) for e in self.events]
            raise AssertionError(
                f"no matching event within {timeout} s; {len(seen)} seen: {', '.join(seen[-60:])}"
            ) from None

    def of(self, kind: str, agent: str | None = None) -> list[Any]:
        return [
            e
            for e in self.collect()
            if getattr(e, "kind", None) == kind and (agent is None or e.agent == agent)
        ]

    def status(self, agent: str, text: str, timeout: float = 30.0) -> Any:
        return self.until(
            lambda e: isinstance(e, StatusEvent) and e.agent == agent and e.text == text, timeout
        )


@dataclass
class ManualClock:
    """The supervisor's clock, moved only by the test: budgets read it, not the wall.

    Steps that are sums of powers of two (0.25, 0.125, ...) add up exactly,
    so a limit is crossed at the step the test means, on any machine.
    """

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Swarm:
    sup: Supervisor
    store: AuditStore
    log: EventLog
    db: Path
    run_id: str
    started: float = field(default_factory=time.monotonic)
    server: ControlSocketServer | None = None  # with ``swarm(serve=True)``: the control socket

    async def wait(self, timeout: float = 30.0) -> bool:
        return await asyncio.wait_for(self.sup.wait(), timeout)

    async def state(self, agent: str, states: Iterable[str], timeout: float = 30.0) -> str:
        """Wait until ``agent`` is in one of ``states``; return it."""
        wanted = set(states)

        async def poll() -> str:
            while (now := self.sup.runners[agent].state) not in wanted:
                await asyncio.sleep(0.005)
            return now

        return await asyncio.wait_for(poll(), timeout)

    def spawned(self, agent: str) -> list[AgentSpawned]:
        return self.log.of("agent_spawned", agent)


@asynccontextmanager
async def swarm(
    tmp_path: Path,
    agents: list[AgentSpec],
    *,
    max_cost_usd: float | None = None,
    environ: dict[str, str] | None = None,
    sample_seconds: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    containment: Containment = "auto",
    base_dir: Path | None = None,
    settings: dict[str, Any] | None = None,
    proxy: ProxySettings | None = None,
    busy_timeout: float = 5.0,
    serve: bool = False,
) -> AsyncIterator[Swarm]:
    """A started supervisor over ``agents``; on the way out every agent is stopped.

    ``base_dir`` is where it runs (default ``tmp_path``); ``settings`` more ``[swarm]``
    keys (``name`` and ``run_dir`` too). ``serve``: the control socket (``Swarm.server``)
    listens before the first agent starts and closes after the last has stopped.
    """
    swarm_keys: dict[str, Any] = {
        "name": "test",
        "audit_db": str(tmp_path / "audit.db"),
        "run_dir": str(tmp_path / "run"),
        "max_cost_usd": max_cost_usd,
        "containment": containment,
        **(settings or {}),
    }
    config = SwarmConfig(
        swarm=SwarmSettings(**swarm_keys),
        proxy=proxy or ProxySettings(),
        agents=agents,
    )
    run_id = new_run_id()
    secrets = config.secret_values(environ)
    store = await AuditStore.open(config.swarm.audit_db, run_id, secrets, busy_timeout=busy_timeout)
    sup = Supervisor(
        config,
        store,
        run_id=run_id,
        base_dir=base_dir or tmp_path,
        environ=environ,
        sample_seconds=sample_seconds,
        clock=clock,
    )
    log = EventLog(sup.bus.subscribe(maxsize=1_000_000))
    handle = Swarm(sup, store, log, Path(config.swarm.audit_db), run_id)
    if serve:
        handle.server = ControlSocketServer(ControlAPI(sup), sup.run_dir / "control.sock")
        await handle.server.start()
    try:
        await sup.start()
        yield handle
    finally:
        try:
            if not all(r.is_final for r in sup.runners.values()):
                await asyncio.wait_for(sup.stop_all(by="test cleanup", grace=0), 10)
            await asyncio.wait_for(sup.wait(), 10)
        finally:
            if handle.server is not None:
                await handle.server.close()
            await sup.close()
            await store.close()
            log.collect()
            _kill_leftovers(handle)


def _kill_leftovers(handle: Swarm) -> None:
    """Last resort, by recorded identity only: a failing test must not leak processes."""
    for spawned in handle.log.of("agent_spawned"):
        proc = same_process(spawned.pid, spawned.create_time)
        if proc is None:
            continue
        try:
            for child in proc.children(recursive=True):
                child.kill()
            proc.kill()
        except psutil.Error:
            pass


def same_process(pid: int, create_time: float) -> psutil.Process | None:
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > 1e-3:
            return None
    except psutil.Error:
        return None
    return proc


def gone(proc: psutil.Process) -> bool:
    """Not running any more (a zombie counts as gone; a reused pid is another process)."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def audit_rows(db: Path, run_id: str, kind: str | None = None) -> list[dict[str, Any]]:
    """The events of ``run_id`` as stored on disk, in order."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        if kind is None:
            rows = conn.execute(
                "SELECT payload FROM events WHERE run = ? ORDER BY seq", (run_id,)
            ).fetchall()
        else:
            rows = conn.execute(
                "SELECT payload FROM events WHERE run = ? AND kind = ? ORDER BY seq",
                (run_id, kind),
            ).fetchall()
    finally:
        conn.close()
    return [json.loads(payload) for (payload,) in rows]
