"""What the dashboard looks like: SVG snapshots of its screens in two themes.

The thing under test here is the *rendering*: the real ``ControlRoomApp``,
its real screens, widgets, stylesheets and themes. Its input is a recording,
not a live swarm, so every run draws the same pixels: ``RecordedPort``
implements the ``ControlPort`` protocol as a plain data source — it returns
copies of fixed ``SwarmView`` frames, built from the same view models the
control API fills in (so a change of shape changes the recording with it),
and replays fixed events of the event union. It has no logic of the
dashboard's and does not stand in for any of our code that is under test.

Everything else that could vary is pinned: the app's clock (the gate screen
counts a gate's age from it: ``ControlRoomApp(clock=...)``, not a process-wide
patch of ``time.time``), the time zone (log lines print local
``HH:MM:SS``), the user theme folder (``$XDG_CONFIG_HOME`` is an empty temp
dir, as harlequin's functional tests isolate user config), the input cursor
blink, and the burn-rate sparklines (the recording is a fixed sequence of
frames, and each shot waits until all of them were drawn).

Regenerate the baselines after an intended change of look with
``pytest tests/test_tui_snapshots.py --snapshot-update`` and look at them
(``__snapshots__/test_tui_snapshots/*.svg``) before committing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Log
from tui_harness import SIZE, isolated_config  # noqa: F401 - a fixture

from controlroom._errors import ControlError
from controlroom.control import calls
from controlroom.control.calls import Request
from controlroom.models import (
    AgentOutput,
    AgentSpawned,
    AgentState,
    Budget,
    Discrepancy,
    Event,
    FileChange,
    GateState,
    Handoff,
    HandoffEvent,
    RunStarted,
    StatusEvent,
    ToolCall,
    Usage,
)
from controlroom.models.radarviews import (
    AgentDiff,
    ChangeCounts,
    CollisionView,
    Conflict,
    GateRadar,
    RadarView,
)
from controlroom.models.views import (
    AgentView,
    ContainmentView,
    GateView,
    HandoffView,
    LimitView,
    MeterView,
    PingView,
    ProxyView,
    SwarmView,
    TotalsView,
)
from controlroom.tui.app import ControlRoomApp
from controlroom.tui.screens import main as main_screen
from controlroom.tui.screens.audit import AuditScreen
from controlroom.tui.screens.collisions import CollisionsScreen
from controlroom.tui.screens.emergency import EmergencyStopModal
from controlroom.tui.screens.gate import GateScreen
from controlroom.tui.screens.help import HelpScreen
from controlroom.tui.screens.main import REFRESH_SECONDS, MainScreen
from controlroom.tui.widgets.diff_view import DiffView

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("isolated_config")]

NOW = 1_767_225_600.0
"""2026-01-01 00:00:00 UTC: the recording's "now"."""
RUN = "20260101-000000-4242"
R = TypeVar("R")
THEMES = ["control-room", "high-contrast"]

# --------------------------------------------------------------------------- the recording

_BUDGET = Budget(
    max_tokens=400_000,
    max_cost_usd=1.5,
    max_wall_seconds=900.0,
    max_turns=60,
    kill_grace_seconds=3.0,
)
_PRICE_IN, _PRICE_OUT = 3.0 / 1e6, 15.0 / 1e6


def _meter(
    name: str,
    tokens_in: int,
    tokens_out: int,
    turns: int,
    tokens_per_minute: float,
    elapsed: float,
    *,
    budget: dict[str, float] | None = None,
    running: bool = True,
    paused: bool = False,
    cpu: float = 2.0,
    rss: int = 41_000_000,
    processes: int = 1,
) -> MeterView:
    """An agent's meter as the supervisor's ``meter_view`` makes it, from a few recorded numbers."""
    caps = _BUDGET.model_copy(update=budget or {})
    cost = tokens_in * _PRICE_IN + tokens_out * _PRICE_OUT
    total = tokens_in + tokens_out
    values = {
        "max_tokens": float(total),
        "max_cost_usd": cost,
        "max_turns": float(turns),
        "max_wall_seconds": elapsed,
    }
    limits: list[LimitView] = []
    for limit, value in values.items():
        cap = getattr(caps, limit)
        if cap:
            fraction = value / float(cap)
            left = None if limit == "max_wall_seconds" or not running else 60.0 * (1 - fraction)
            limits.append(
                LimitView(
                    limit=limit, value=value, cap=float(cap), fraction=fraction, seconds_left=left
                )
            )
    limits.sort(key=lambda item: -item.fraction)
    return MeterView(
        agent=name,
        at=3600.0,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        total_tokens=total,
        cost_usd=cost,
        turns=turns,
        metered_at="wire",
        self_reported_tokens=total,
        self_reported_cost_usd=cost,
        tokens_per_minute=tokens_per_minute,
        cost_per_minute=tokens_per_minute * _PRICE_IN,
        turns_per_minute=turns / max(elapsed / 60, 1e-9),
        elapsed_seconds=elapsed,
        running=running,
        paused=paused,
        tightest_limit=limits[0].limit if limits else None,
        seconds_to_limit=limits[0].seconds_left if limits else None,
        cpu_percent=cpu,
        rss_bytes=rss,
        processes=processes,
        budget=caps,
        limits=limits,
    )


HANDOFF = Handoff(
    changed="Designed the retry policy for BillingClient (docs/design/billing-retry.md): "
    "retry 429/502/503/504 and resets, exponential backoff capped at 8 s, at most 5 attempts.",
    next_needs="Implement RetryPolicy in src/billing/retry.py; one idempotency key per "
    "charge() call, not per attempt. Use the fake clock in tests/conftest.py.",
    risks="A retried POST without the key could double-charge a customer. Retry-After may "
    "be an HTTP date.",
)
SCRAPER_HANDOFF = Handoff(
    changed="Collected 1,204 invoices from the staging ledger into data/invoices.jsonl.",
    next_needs="Deduplicate by invoice id before the sync.",
    risks="Two invoices had no currency; they are listed in data/skipped.txt.",
)


def _agent(
    name: str,
    state: AgentState,
    *,
    reason: str = "",
    pid: int | None = None,
    attempt: int = 1,
    after: list[str] | None = None,
    breaker_open: bool = False,
    handoff: Handoff | None = None,
    meter: MeterView | None = None,
    changes: tuple[int, int, int] | None = None,
) -> AgentView:
    files, added, removed = changes or (0, 0, 0)
    return AgentView(
        name=name,
        state=state,
        reason=reason,
        after=after or [],
        pid=pid,
        attempt=attempt,
        breaker_open=breaker_open,
        handoff=handoff,
        meter=meter,
        containment=ContainmentView(
            mode="cgroup",
            cgroup=f"/sys/fs/cgroup/controlroom-20261125-020249-3f9a/agent-{name}",
        ),
        changes=ChangeCounts(
            tracked=changes is not None, files=files, added=added, removed=removed
        ),
    )


def _agents(burn: float) -> list[AgentView]:
    """Every agent of the recording; ``burn`` scales the running agents' tokens/min."""
    return [
        _agent(
            "architect",
            AgentState.GATED,
            reason="handoff architect → implementer",
            handoff=HANDOFF,
            meter=_meter("architect", 37_400, 8_830, 5, 0.0, 48.2, running=False, cpu=0.0),
            changes=(2, 12, 1),
        ),
        _agent(
            "deploy-bot",
            AgentState.GATED,
            reason="deploy to staging?",
            pid=41017,
            meter=_meter(
                "deploy-bot", 9_100, 1_240, 2, 900 * burn, 51.0, budget={"max_cost_usd": 0.25}
            ),
        ),
        _agent(
            "docs-writer",
            AgentState.RUNNING,
            pid=41011,
            meter=_meter(
                "docs-writer",
                88_000,
                9_900,
                21,
                41_000 * burn,
                95.5,
                budget={"max_cost_usd": 0.5},
                cpu=12.0,
                rss=58_000_000,
                processes=2,
            ),  # fmt: skip
            changes=(3, 40, 5),
        ),
        _agent(
            "flaky",
            AgentState.BREAKER_OPEN,
            reason="3 failures within 300 s",
            attempt=3,
            breaker_open=True,
            meter=_meter("flaky", 1_200, 90, 3, 0.0, 4.0, running=False, cpu=0.0),
        ),
        _agent("implementer", AgentState.PENDING, after=["architect"]),
        _agent(
            "janitor",
            AgentState.KILLED,
            reason="killed by operator",
            meter=_meter("janitor", 5_000, 700, 2, 0.0, 30.0, running=False, cpu=0.0),
        ),
        _agent(
            "migrator",
            AgentState.FAILED,
            reason="exit code 3",
            meter=_meter("migrator", 12_000, 2_100, 4, 0.0, 12.5, running=False, cpu=0.0),
        ),
        _agent("reviewer", AgentState.PENDING, after=["implementer"]),
        _agent(
            "runaway",
            AgentState.BUDGET_STOPPED,
            reason="budget: max_tokens reached",
            meter=_meter(
                "runaway",
                55_800,
                6_200,
                62,
                0.0,
                15.3,
                budget={"max_tokens": 60_000, "max_cost_usd": 1.0},
                running=False,
                cpu=0.0,
            ),  # fmt: skip
        ),
        _agent(
            "scraper",
            AgentState.DONE,
            handoff=SCRAPER_HANDOFF,
            meter=_meter("scraper", 21_000, 3_300, 6, 0.0, 40.0, running=False, cpu=0.0),
        ),
        _agent(
            "test-writer",
            AgentState.PAUSED,
            reason="paused by operator",
            pid=41013,
            meter=_meter(
                "test-writer", 64_000, 7_700, 14, 0.0, 80.0, paused=True, cpu=0.0, processes=3
            ),
            changes=(1, 88, 0),
        ),
    ]


ARCHITECT_RADAR = GateRadar(
    changed_files=[
        FileChange(path="docs/design/billing-retry.md", status="added", added=9, removed=0),
        FileChange(path="src/billing/client.py", status="modified", added=3, removed=1),
    ],
    file_count=2,
    conflicts=[Conflict(other="docs-writer", files=["src/billing/client.py"])],
    discrepancies=[
        Discrepancy(
            kind="unmentioned",
            path="src/billing/client.py",
            text="changed src/billing/client.py (+3 -1) but never mentions it",
        )
    ],
    verdict="merges cleanly with test-writer; conflicts with docs-writer in "
    "src/billing/client.py",
    merge_order=1,
)
"""The radar's part of the architect's handoff gate (``control.radarviews.gate_radar``)."""

ARCHITECT_DIFF_TEXT = """\
diff --git a/docs/design/billing-retry.md b/docs/design/billing-retry.md
new file mode 100644
index 0000000..8f3c2a1
--- /dev/null
+++ b/docs/design/billing-retry.md
@@ -0,0 +1,9 @@
+# Retry policy for BillingClient
+
+Retry on 429, 502, 503, 504 and connection resets.
+Backoff: exponential from 0.5 s, capped at 8 s, full jitter.
+At most 5 attempts; honour Retry-After (seconds or an HTTP date).
+
+Every charge() carries ONE idempotency key for all its attempts:
+a retried POST without it could charge a customer twice.
+Tests use the fake clock in tests/conftest.py.
diff --git a/src/billing/client.py b/src/billing/client.py
index 3b18e51..c4d2f07 100644
--- a/src/billing/client.py
+++ b/src/billing/client.py
@@ -12,7 +12,9 @@ class BillingClient:
     def _send(self, request: Request) -> Response:
-        return self._http.send(request)
+        # TODO(implementer): wrap in RetryPolicy (docs/design/billing-retry.md)
+        response = self._http.send(request)
+        return response
 
     def charge(self, customer: str, cents: int) -> Receipt:
         request = self._request("POST", "/charges", customer=customer, cents=cents)
"""

ARCHITECT_DIFF = AgentDiff(
    agent="architect",
    tracked=True,
    branch=f"controlroom/{RUN}/architect",
    base="4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    files=ARCHITECT_RADAR.changed_files,
    added=12,
    removed=1,
    verdict=ARCHITECT_RADAR.verdict,
    discrepancies=ARCHITECT_RADAR.discrepancies,
    diff=ARCHITECT_DIFF_TEXT,
)
"""The control API's ``diff`` of the architect (``control.radarviews.agent_diff``)."""

RADAR = RadarView(
    enabled=True,
    collisions=[
        CollisionView(
            kind="file",
            path="src/billing/client.py",
            agents=["architect", "docs-writer"],
            detail="architect and docs-writer both changed src/billing/client.py",
            since=NOW - 95.0,
        ),
        CollisionView(
            kind="conflict",
            path="src/billing/client.py",
            agents=["architect", "docs-writer"],
            detail="merging architect and docs-writer conflicts in src/billing/client.py",
            since=NOW - 61.0,
        ),
        CollisionView(
            kind="manifest",
            path="pyproject.toml",
            agents=["docs-writer", "test-writer"],
            dependency="requests",
            detail="requests pinned two ways: ==2.31.0 (docs-writer), >=2.32 (test-writer)",
            since=NOW - 12.0,
        ),
    ],
    merge_order=["architect"],
)
"""The control API's ``radar`` answer (``control.radarviews.radar_view``)."""

GATES = [
    GateView(
        id="g-946c6f6f",
        agent="architect",
        kind="handoff",
        state=GateState.PENDING,
        title="handoff architect → implementer",
        stage="implementer",
        created=NOW - 125.0,
        age_seconds=125.0,
        timeout_seconds=3600.0,
        handoff=HANDOFF,
        **dict(ARCHITECT_RADAR),
    ),
    GateView(
        id="g-383ee97f",
        agent="deploy-bot",
        kind="agent",
        state=GateState.PENDING,
        title="deploy to staging?",
        detail="billing-api:3f9a2c1 to staging: 3 replicas, rolling update; smoke tests passed",
        created=NOW - 47.0,
        age_seconds=47.0,
        timeout_seconds=3600.0,
    ),
]

HANDOFFS = [
    HandoffView(
        from_="scraper",
        to=["janitor"],
        handoff=SCRAPER_HANDOFF,
        ts=NOW - 150.0,
        gate="g-11aa22bb",
        state=GateState.APPROVED,
        by="operator",
    ),
    HandoffView(
        from_="architect",
        to=["implementer"],
        handoff=HANDOFF,
        ts=NOW - 125.0,
        gate="g-946c6f6f",
        state=GateState.PENDING,
        by="",
    ),
]


def _frame(ts: float, burn: float) -> SwarmView:
    agents = _agents(burn)
    meters = [a.meter for a in agents if a.meter is not None]
    return SwarmView(
        swarm="billing-retry",
        run=RUN,
        mode="tui",
        ts=ts,
        totals=TotalsView(
            agents=len(agents),
            running=sum(
                a.state in (AgentState.RUNNING, AgentState.GATED, AgentState.PAUSED)
                and a.pid is not None
                for a in agents
            ),
            input_tokens=sum(m.input_tokens for m in meters),
            output_tokens=sum(m.output_tokens for m in meters),
            total_tokens=sum(m.total_tokens for m in meters),
            cost_usd=sum(m.cost_usd for m in meters),
            charged_usd=sum(m.cost_usd for m in meters),
            tokens_per_minute=sum(m.tokens_per_minute for m in meters),
            cost_per_hour=sum(m.cost_per_minute for m in meters) * 60,
            max_cost_usd=5.0,
            pending_gates=len(GATES),
            collisions=2,
        ),
        agents=agents,
        gates=GATES,
        handoffs=HANDOFFS,
        proxy=ProxyView(
            url="http://127.0.0.1:41877",
            socket="/home/operator/billing/.controlroom/proxy.sock",
            upstream="https://api.anthropic.com",
            credentials="swap",
        ),
    )


BURNS = [0.2, 0.5, 0.9, 0.7, 1.0, 0.6, 0.8, 1.0]
FRAMES = [_frame(NOW - 5.0 * (len(BURNS) - 1 - i), burn) for i, burn in enumerate(BURNS)]
"""Snapshots 5 s apart (one burn-rate sample each); the last one is "now"."""


def _events() -> list[Event]:
    at = {"run": RUN}
    raw: list[tuple[float, Event]] = [
        (-160, RunStarted(swarm="billing-retry", pid=40999, mode="tui", **at)),
        (-158, AgentSpawned(agent="architect", pid=41001, create_time=NOW - 158,
                            argv=["architect.py"], workspace=".", **at)),
        (-157, StatusEvent(agent="architect", text="reading src/billing/client.py", **at)),
        (-156, ToolCall(agent="architect", name="Read",
                        input={"path": "src/billing/client.py"}, **at)),
        (-150, AgentOutput(agent="architect", text="BillingClient._send has no retry at all",
                           **at)),
        (-149, Usage(agent="architect", input_tokens=12_000, output_tokens=2_100,
                     model="claude-sonnet-4-5", cost_usd=0.0675, **at)),
        (-140, ToolCall(agent="architect", name="Grep", input={"pattern": "Retry-After"}, **at)),
        (-131, StatusEvent(agent="architect", text="writing docs/design/billing-retry.md", **at)),
        (-130, ToolCall(agent="architect", name="Write",
                        input={"path": "docs/design/billing-retry.md"}, **at)),
        (-126, HandoffEvent(agent="architect", handoff=HANDOFF, **at)),
        (-120, StatusEvent(agent="docs-writer", text="drafting docs/billing/retries.md", **at)),
        (-90, ToolCall(agent="docs-writer", name="Edit", input={"path": "docs/index.md"}, **at)),
        (-60, StatusEvent(agent="test-writer", text="writing tests/test_retry.py", **at)),
        (-40, AgentOutput(agent="deploy-bot", text="smoke tests passed (12/12)", **at)),
    ]  # fmt: skip
    return [
        event.model_copy(update={"seq": seq, "ts": NOW + offset})
        for seq, (offset, event) in enumerate(raw, start=1)
    ]


EVENTS = _events()


class RecordedPort:
    """A ``ControlPort`` replaying a recording: fixed views and fixed events, nothing else."""

    read_only = False
    description = f"recorded run {RUN}"

    def __init__(self) -> None:
        self.snapshots_served = 0

    async def snapshot(self) -> SwarmView:
        frame = FRAMES[min(self.snapshots_served, len(FRAMES) - 1)]
        self.snapshots_served += 1
        return frame.model_copy(deep=True)

    async def call(self, request: Request[R]) -> R:
        call, args = request.call, request.args
        if call is calls.EVENTS:
            since, limit = int(str(args["since"])), int(str(args["limit"]))
            after = [e for e in EVENTS if e.seq > since]
            return request.parse(after[-limit:] if args["newest"] else after[:limit])
        if call is calls.PING:
            return request.parse(PingView(swarm="billing-retry", run=RUN))
        if call is calls.DIFF and args["agent"] == "architect":
            return request.parse(ARCHITECT_DIFF)
        if call is calls.RADAR:
            return request.parse(RADAR)
        raise ControlError(f"a recording cannot {request.op}")

    async def events(self, skip: Collection[str] = ()) -> AsyncIterator[Event]:
        for event in EVENTS:
            if event.kind not in skip:
                yield event
        await asyncio.Event().wait()  # a live stream: nothing more, but never closed


class RecordedSession:
    """The ``Session`` of a recording: owns nothing, starts nothing."""

    owns_swarm = False
    socket_path = Path("recording.sock")

    async def open(self) -> RecordedPort:
        return RecordedPort()

    async def start(self) -> None:
        return None

    def orphan_pids(self) -> list[tuple[int, str]]:
        return []

    async def close(self) -> None:
        return None


# --------------------------------------------------------------------------- pinning


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch, utc: None) -> None:
    """Local time is UTC; frames come every 50 ms (the app's clock: ``recorded_app``)."""
    monkeypatch.setattr(main_screen, "REFRESH_SECONDS", 0.05)  # the same frames, sooner


def recorded_app(theme: str) -> ControlRoomApp:
    return ControlRoomApp(RecordedSession(), RecordedPort(), theme=theme, clock=lambda: NOW)


async def _until(pilot: Pilot[Any], check: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out: {check.__qualname__}"
        await pilot.pause(0.02)


async def _main_drawn(pilot: Pilot[Any]) -> None:
    """Every frame of the recording drawn and every event taken in."""
    app = pilot.app
    assert isinstance(app, ControlRoomApp)
    port = app.port
    assert isinstance(port, RecordedPort)
    await _until(pilot, lambda: isinstance(app.screen, MainScreen))
    main = app.screen
    assert isinstance(main, MainScreen)
    await _until(
        pilot,
        lambda: (
            port.snapshots_served > len(FRAMES)
            and main.refreshes > len(FRAMES)
            and app.tail.last_seq == EVENTS[-1].seq
        ),
    )
    main_screen.REFRESH_SECONDS = REFRESH_SECONDS  # the real pace again (the fixture restores it)


def _no_blink(pilot: Pilot[Any]) -> None:
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False


async def _show_main(pilot: Pilot[Any]) -> None:
    await _main_drawn(pilot)
    _no_blink(pilot)


async def _show_gate(pilot: Pilot[Any]) -> None:
    await _main_drawn(pilot)
    await pilot.press("g", "enter")
    await _until(pilot, lambda: isinstance(pilot.app.screen, GateScreen))
    screen = pilot.app.screen
    assert isinstance(screen, GateScreen) and screen.gate_id == "g-946c6f6f"
    view = screen.query_one(DiffView)
    await _until(pilot, lambda: view.found is not None)
    await pilot.pause()


async def _show_emergency(pilot: Pilot[Any]) -> None:
    await _main_drawn(pilot)
    await pilot.press("X")
    await _until(pilot, lambda: isinstance(pilot.app.screen, EmergencyStopModal))


async def _show_audit(pilot: Pilot[Any]) -> None:
    await _main_drawn(pilot)
    await pilot.press("l")
    await _until(pilot, lambda: isinstance(pilot.app.screen, AuditScreen))
    screen = pilot.app.screen
    assert isinstance(screen, AuditScreen)
    log = screen.query_one("#audit-log", Log)
    await _until(pilot, lambda: screen.received == len(EVENTS) and log.line_count == len(EVENTS))
    _no_blink(pilot)
    await pilot.pause()


async def _show_collisions(pilot: Pilot[Any]) -> None:
    await _main_drawn(pilot)
    await pilot.press("c")
    await _until(pilot, lambda: isinstance(pilot.app.screen, CollisionsScreen))
    screen = pilot.app.screen
    assert isinstance(screen, CollisionsScreen)
    await _until(pilot, lambda: screen.answers > 0)
    await pilot.pause()


async def _show_help(pilot: Pilot[Any]) -> None:
    await _main_drawn(pilot)
    await pilot.press("question_mark")
    await _until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))


SCREENS: dict[str, Callable[[Pilot[Any]], Any]] = {
    "main": _show_main,
    "gate": _show_gate,
    "emergency": _show_emergency,
    "audit": _show_audit,
    "help": _show_help,
    "collisions": _show_collisions,
}


# --------------------------------------------------------------------------- the snapshots


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_looks_as_approved(
    snap_compare: Callable[..., bool], frozen: None, screen: str, theme: str
) -> None:
    """Each screen over the recording, in the default dark theme and in high contrast."""
    app = recorded_app(theme)
    assert snap_compare(app, terminal_size=SIZE, run_before=SCREENS[screen])
    assert app.theme == theme
