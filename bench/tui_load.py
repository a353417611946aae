#!/usr/bin/env python3
"""The dashboard under load: 100 agents × 20 usage events/s, headless, for 20 s.

    .venv/bin/python bench/tui_load.py [--agents 100] [--rate 20] [--seconds 20]
                                       [--kills 100] [--no-baseline]

The control room is built as ``controlroom tui`` builds it (``LocalSession``:
audit store, supervisor, control socket; ``ControlRoomApp`` over its
``LocalPort``) and run with Textual's headless driver (``App.run_test``).
The agents are real subprocesses (a tiny inline script): each writes one
native usage line every 1/rate s on its own clock, and stamps
``time.monotonic_ns()`` into a file the moment SIGTERM reaches it.

Measured over the window, in one run on this machine:
  * the control room's CPU: this process's user+system time (all threads,
    the audit writer's included) / wall time, in % of one core — and the
    agents' own CPU separately (they share the machine's cores);
  * main-screen refreshes per second (``MainScreen.refreshes``; its pace is
    a 0.25 s one-shot timer re-armed after each refresh: at most ~4/s) and
    the time one refresh takes (``MainScreen.apply``, timed by wrapping it
    in this process);
  * event-loop stall: a task sleeping 10 ms in a loop records how late it
    wakes up, p50 / p99 / max;
  * events taken in by the dashboard per second (``LocalPort.events_seen``:
    its event stream takes in every event, and drops the usage ones at the
    source, unvalidated: they are no log line and no alert);
  * keypress → SIGTERM, what an operator does: select an agent (``j`` /
    ``k``), press ``x`` then ``y`` while the others keep flooding. Each key
    is posted to the app as the terminal driver posts it (``App.simulate_key``:
    one ``events.Key`` in the app's queue) and its effect is awaited by a
    1 ms poll on the same loop: the cursor on the next row, the confirm
    modal up (mounted, its Kill button focused), the SIGTERM stamp in the
    agent; between the two the operator reads the question (``--read`` s).
    Reported: from ``y`` posted to SIGTERM arriving in the agent, p50 / p99
    over ``--kills`` kills; and from ``x`` posted to the confirm being up.
    While the kills go on, the same stall probe runs, and the garbage
    collector's pauses are recorded by generation (``gc.callbacks``): each
    one holds the loop that also runs the governor.
    (Not ``Pilot.press``: after each key it waits for the process to
    be idle — under 1 ms of CPU in 20 ms, twice, up to 1 s each — which a
    dashboard taking in 2,000 events/s never is, so every key cost ~2 s and
    the kills never finished.)
A headless pass runs the same agents under the same supervisor with no
dashboard, so the dashboard's own share of the CPU can be read off; and a
bare pass reads the same agents with the least a control room must do (one
asyncio loop, a stream per pipe, ``json.loads`` per line, stored with plain
sqlite3 as bench/ingest.py's bare baseline stores), the floor to compare
with on this machine at this moment.
Targets: control room < 15 % of one core headless, < 20 % with the
dashboard; stall p99 < 50 ms; y → SIGTERM p99 < 30 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import percentile  # noqa: E402
from ingest import BareStore, GcWatch  # noqa: E402
from tui_harness import kill_recorded, swarm_config  # noqa: E402

from controlroom.models import AgentSpec, AgentState, Budget  # noqa: E402
from controlroom.swarm.supervisor import tune_interpreter  # noqa: E402
from controlroom.tui.session import LocalSession  # noqa: E402

AGENT = r"""
import json, os, signal, sys, time
out, interval = sys.argv[1], 1.0 / float(sys.argv[2])
line = (json.dumps({"type": "usage", "input_tokens": 900, "output_tokens": 100,
                    "model": "claude-sonnet-4-5"}) + "\n").encode()
def on_term(signum, frame):
    stamp = time.monotonic_ns()
    with open(out, "w") as handle:
        handle.write(str(stamp))
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
due = time.monotonic()
while True:
    os.write(1, line)
    due += interval
    time.sleep(max(0.0, due - time.monotonic()))
"""


def agents(n: int, rate: float, folder: Path) -> list[AgentSpec]:
    return [
        AgentSpec(
            name=f"a{i:03d}",
            command=[sys.executable, "-c", AGENT, str(folder / f"term-a{i:03d}"), str(rate)],
            budget=Budget(kill_grace_seconds=2),
        )
        for i in range(n)
    ]


class StallProbe:
    """Sleeps 10 ms in a loop and records how late each wake-up is."""

    def __init__(self) -> None:
        self.late_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.010)
            self.late_ms.append((time.perf_counter() - before - 0.010) * 1000)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class Window:
    """CPU and counters over the measured window."""

    seconds: float = 0.0
    own_cpu: float = 0.0
    agents_cpu: float = 0.0
    machine_percent: float = 0.0
    events: int = 0
    refreshes: int = 0
    stall: list[float] = field(default_factory=list)


def agent_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


async def measure(
    seconds: float, pids: list[int], counters: Callable[[], tuple[int, int]]
) -> Window:
    me = psutil.Process()
    probe = StallProbe()
    psutil.cpu_percent(None)
    own0 = sum(me.cpu_times()[:2])
    agents0 = agent_cpu(pids)
    events0, refreshes0 = counters()
    started = time.perf_counter()
    probe.start()
    await asyncio.sleep(seconds)
    await probe.stop()
    wall = time.perf_counter() - started
    events1, refreshes1 = counters()
    return Window(
        seconds=wall,
        own_cpu=(sum(me.cpu_times()[:2]) - own0) / wall * 100,
        agents_cpu=(agent_cpu(pids) - agents0) / wall * 100,
        machine_percent=psutil.cpu_percent(None),
        events=events1 - events0,
        refreshes=refreshes1 - refreshes0,
        stall=probe.late_ms,
    )


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    started = time.monotonic()
    while not check():
        if time.monotonic() > started + timeout:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    if time.monotonic() - started > 1:
        print(f"  ({what}: {time.monotonic() - started:.1f} s)", file=sys.stderr)


async def first_seen(check: Callable[[], bool], timeout: float, what: str) -> int:
    """``time.monotonic_ns()`` of the first loop turn where ``check()`` holds (1 ms polls)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)
    return time.monotonic_ns()


async def key(app: Any, name: str, effect: Callable[[], bool], what: str) -> tuple[int, int]:
    """Post key ``name`` as the driver does, then await ``effect``: (posted, seen) in ns.

    The key goes straight into the app's message queue (``simulate_key``), so it waits
    behind whatever the app is doing (a refresh) exactly as a typed key would.
    """
    posted = time.monotonic_ns()
    app.simulate_key(name)
    return posted, await first_seen(effect, 10, what)


def _moved(table: Any, row: int, selected: str | None) -> bool:
    """The cursor left ``row`` or the selection left ``selected`` (a re-sort moves rows too)."""
    return (table.cursor_row, table.selected_agent) != (row, selected)


async def select_row(app: Any, table: Any, name: str) -> None:
    """Move the cursor to ``name`` with j / k (rows re-sort as agents stop: attention order)."""
    for _ in range(4 * table.row_count + 10):
        selected = table.selected_agent
        if selected == name:
            return
        rows = table.rows
        down = selected is None or rows.index(name) > rows.index(selected)
        row = table.cursor_row
        what = f"the cursor to leave row {row} ({selected}) for {name}, focus {app.focused}"
        moved = partial(_moved, table, row, selected)
        await key(app, "j" if down else "k", moved, what)
    raise SystemExit(f"could not select {name} in the agent table")


def asking(app: Any) -> bool:
    """The kill confirm is up and ready for y: mounted, its Kill button focused."""
    from controlroom.tui.screens.confirm import ConfirmModal

    screen = app.screen
    return (
        isinstance(screen, ConfirmModal)
        and screen.is_mounted
        and app.focused is not None
        and app.focused.id == "confirm"
    )


def written(path: Path) -> bool:
    return path.exists() and path.read_text() != ""


def running_pids(session: LocalSession) -> list[int]:
    assert session.supervisor is not None
    view = session.supervisor.view()
    return [a.pid for a in view.agents if a.state == AgentState.RUNNING and a.pid]


async def with_session(
    folder: Path, args: argparse.Namespace, body: Callable[[LocalSession], Awaitable[None]]
) -> None:
    cfg = swarm_config(folder, agents(args.agents, args.rate, folder), name="load")
    session = LocalSession(cfg, Path(cfg.swarm.audit_db), base_dir=folder)
    await session.open()
    try:
        await body(session)
    finally:
        started = time.perf_counter()
        with contextlib.suppress(Exception):
            if session.unfinished():
                await asyncio.wait_for(session.stop_all("bench done"), 30)
            await asyncio.wait_for(session.wait(), 30)
        await session.close()
        kill_recorded(session.db)
        print(f"  (stop all + close: {time.perf_counter() - started:.1f} s)", file=sys.stderr)


# --------------------------------------------------------------------------- passes

HEADLESS_TARGET = 15.0
DASHBOARD_TARGET = 20.0
KILL_TARGET_MS = 30.0


async def bare_pass(folder: Path, args: argparse.Namespace) -> Window:
    """The same agents read, parsed and stored with the least work: the floor."""
    store = BareStore(folder / "bare.db", "bare")
    procs = [
        await asyncio.create_subprocess_exec(
            *spec.command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            cwd=folder,
        )
        for spec in agents(args.agents, args.rate, folder)
    ]

    async def read(proc: asyncio.subprocess.Process, name: str) -> None:
        assert proc.stdout is not None
        tail = b""
        while chunk := await proc.stdout.read(1 << 16):
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            for line in lines:
                store.add(json.loads(line), name)

    readers = [
        asyncio.get_running_loop().create_task(read(proc, f"a{i:03d}"))
        for i, proc in enumerate(procs)
    ]
    try:
        await asyncio.sleep(args.warmup)
        return await measure(args.seconds, [p.pid for p in procs], lambda: (store.seq, 0))
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await asyncio.gather(*(proc.wait() for proc in procs))
        await asyncio.gather(*readers, return_exceptions=True)
        store.write()
        store.conn.close()


async def baseline_pass(folder: Path, args: argparse.Namespace) -> Window:
    """The same agents and supervisor, no dashboard."""
    result: list[Window] = []

    async def body(session: LocalSession) -> None:
        assert session.supervisor is not None
        await session.start()
        subscription = session.supervisor.bus.subscribe(maxsize=1_000_000)
        seen = [0]

        async def drain() -> None:  # stands in for nothing: counts what a subscriber gets
            while (event := await subscription.get()) is not None:
                seen[0] = event.seq
                for more in subscription.drain():
                    seen[0] = more.seq

        counter = asyncio.get_running_loop().create_task(drain())
        await until(lambda: len(running_pids(session)) == args.agents, 240, "every agent running")
        await asyncio.sleep(args.warmup)
        result.append(await measure(args.seconds, running_pids(session), lambda: (seen[0], 0)))
        counter.cancel()

    await with_session(folder, args, body)
    return result[0]


@dataclass
class DashboardResult:
    window: Window
    apply_ms: list[float]
    y_to_term_ms: list[float]
    x_to_modal_ms: list[float]
    kills_stall_ms: list[float] = field(default_factory=list)
    kills_gc_ms: dict[int, list[float]] = field(default_factory=dict)


async def dashboard_pass(folder: Path, args: argparse.Namespace) -> DashboardResult:
    from controlroom.control.port import LocalPort
    from controlroom.tui.app import ControlRoomApp
    from controlroom.tui.keys import DEBOUNCE_SECONDS
    from controlroom.tui.screens.main import MainScreen
    from controlroom.tui.widgets.agent_table import AgentTable

    apply_ms: list[float] = []
    original_apply = MainScreen.apply

    def timed_apply(self: MainScreen, snapshot: dict[str, Any]) -> None:
        started = time.perf_counter()
        original_apply(self, snapshot)
        apply_ms.append((time.perf_counter() - started) * 1000)

    MainScreen.apply = timed_apply  # type: ignore[method-assign]
    result: list[DashboardResult] = []

    async def body(session: LocalSession) -> None:
        assert session.port is not None
        port = session.port
        assert isinstance(port, LocalPort)
        app = ControlRoomApp(session, port)
        async with app.run_test(headless=True, size=(160, 48)):
            everyone = args.agents
            await until(lambda: len(running_pids(session)) == everyone, 240, "every agent running")
            main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
            table = main.query_one("#agents", AgentTable)
            await until(lambda: table.row_count == args.agents, 10, "every row on screen")
            await asyncio.sleep(args.warmup)
            apply_ms.clear()
            window = await measure(
                args.seconds,
                running_pids(session),
                lambda: (port.events_seen, main.refreshes),
            )
            # printed now: the kills below press keys on a loaded app, which can be slow
            report_window("dashboard", window, args.agents)
            print(f"dashboard: table refreshes {window.refreshes / window.seconds:.2f}/s")
            y_ms: list[float] = []
            x_ms: list[float] = []
            table.focus()
            await first_seen(lambda: table.has_focus, 10, "the table focused")
            last_x = 0.0  # when the last x was handled (its modal seen): the debounce's clock
            stall = StallProbe()
            stall.start()
            with GcWatch() as collector:
                for i in range(min(args.kills, args.agents)):
                    name = f"a{i:03d}"
                    await select_row(app, table, name)
                    stamp = folder / f"term-{name}"
                    debounced = last_x + DEBOUNCE_SECONDS + 0.05
                    await asyncio.sleep(max(0.0, debounced - time.monotonic()))
                    x_at, modal_at = await key(app, "x", partial(asking, app), "the kill confirm")
                    last_x = modal_at / 1e9
                    await asyncio.sleep(args.read)  # the operator reads the question
                    y_at, _ = await key(app, "y", partial(written, stamp), f"SIGTERM in {name}")
                    term = int(stamp.read_text())
                    y_ms.append((term - y_at) / 1e6)
                    x_ms.append((modal_at - x_at) / 1e6)
                    await until(lambda: isinstance(app.screen, MainScreen), 10, "the confirm gone")
            await stall.stop()
            result.append(
                DashboardResult(
                    window, list(apply_ms), y_ms, x_ms, stall.late_ms, collector.pauses_ms
                )
            )

    try:
        await with_session(folder, args, body)
    finally:
        MainScreen.apply = original_apply  # type: ignore[method-assign]
    return result[0]


# --------------------------------------------------------------------------- report


def loadavg() -> str:
    """The machine's load average: every figure here depends on it (2 cores, shared)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def report_window(label: str, w: Window, agents: int) -> None:
    cores = psutil.cpu_count() or 1
    print(f"{label}: window {w.seconds:.1f} s, {agents} agents, machine {cores} cores, {loadavg()}")
    print(f"{label}: control room CPU {w.own_cpu:.1f} % of one core")
    print(f"{label}: agents' CPU {w.agents_cpu:.1f} % of one core (all {agents} together)")
    print(f"{label}: machine busy {w.machine_percent:.0f} % of all {cores} cores")
    print(f"{label}: events taken in {w.events / w.seconds:,.0f}/s")
    stall = w.stall or [0.0]
    print(
        f"{label}: event-loop stall (10 ms sleep overshoot) p50 {percentile(stall, 50):.1f} ms, "
        f"p99 {percentile(stall, 99):.1f} ms, max {max(stall):.1f} ms"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0, help="usage lines/s per agent")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--kills", type=int, default=100, help="one per agent at most; a p99 needs 100"
    )
    parser.add_argument(
        "--read", type=float, default=0.2, help="s between the confirm up and y (reading it)"
    )
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp(prefix="cr-bench-xdg-"))
    tune_interpreter()  # as `controlroom tui` and `controlroom run` do; every pass gets it
    print(
        f"tui_load: {args.agents} agents × {args.rate:g} usage lines/s for {args.seconds:g} s "
        f"(python {sys.version.split()[0]}, {psutil.cpu_count()} cores, {loadavg()})"
    )
    if not args.no_baseline:
        with tempfile.TemporaryDirectory(prefix="cr-load-") as tmp:
            bare = await bare_pass(Path(tmp), args)
        report_window("bare loop (read, json.loads, sqlite3)", bare, args.agents)
        with tempfile.TemporaryDirectory(prefix="cr-load-") as tmp:
            base = await baseline_pass(Path(tmp), args)
        report_window("headless (supervisor, no dashboard)", base, args.agents)
    with tempfile.TemporaryDirectory(prefix="cr-load-") as tmp:
        dash = await dashboard_pass(Path(tmp), args)
    w = dash.window
    if dash.apply_ms:
        print(
            f"dashboard: one refresh (MainScreen.apply) p50 {percentile(dash.apply_ms, 50):.2f} ms,"
            f" p99 {percentile(dash.apply_ms, 99):.2f} ms"
        )
    if not args.no_baseline:
        print(
            f"dashboard: its own share {w.own_cpu - base.own_cpu:+.1f} % of one core vs headless;"
            f" headless / bare loop CPU {base.own_cpu / max(bare.own_cpu, 0.1):.2f}, "
            f"dashboard / bare loop {w.own_cpu / max(bare.own_cpu, 0.1):.2f}"
        )
    if dash.y_to_term_ms:
        y, x = dash.y_to_term_ms, dash.x_to_modal_ms
        print(
            f"kill: y (confirm) → SIGTERM in agent p50 {statistics.median(y):.1f} ms, "
            f"p99 {percentile(y, 99):.1f} ms, max {max(y):.1f} ms over {len(y)} kills under load"
        )
        print(
            f"kill: x → confirm up (mounted, focused) p50 {statistics.median(x):.1f} ms, "
            f"p99 {percentile(x, 99):.1f} ms"
        )
        stall = dash.kills_stall_ms or [0.0]
        print(
            f"kill: event-loop stall while the operator kills (10 ms sleep overshoot) p50"
            f" {percentile(stall, 50):.1f} ms, p99 {percentile(stall, 99):.1f} ms,"
            f" max {max(stall):.1f} ms"
        )
        for generation, pauses in sorted(dash.kills_gc_ms.items()):
            print(
                f"kill: garbage collections of generation {generation} meanwhile: {len(pauses)},"
                f" p50 {percentile(pauses, 50):.1f} ms, max {max(pauses):.1f} ms"
            )
    kills = dash.y_to_term_ms
    verdict = [
        (f"control room CPU < {DASHBOARD_TARGET:g} % of one core", w.own_cpu < DASHBOARD_TARGET),
        ("event-loop stall p99 < 50 ms", percentile(w.stall or [0.0], 99) < 50),
        (
            f"y → SIGTERM p99 < {KILL_TARGET_MS:g} ms",
            bool(kills) and percentile(kills or [0.0], 99) < KILL_TARGET_MS,
        ),
    ]
    if not args.no_baseline:
        verdict.insert(
            0,
            (f"headless CPU < {HEADLESS_TARGET:g} % of one core", base.own_cpu < HEADLESS_TARGET),
        )
    for what, ok in verdict:
        print(f"target: {what}: {'met' if ok else 'NOT met'}")
    print(f"tui_load: done at {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
