"""What the dashboard looks like: SVG snapshots of its screens in two themes.

The thing under test here is the *rendering*: the real ``ControlRoomApp``,
its real screens, widgets, stylesheets and themes. Its input is a recording,
not a live swarm, so every run draws the same pixels: ``RecordedPort``
implements the ``ControlPort`` protocol as a plain data source — it returns
copies of fixed snapshot dicts (the shape ``Supervisor.snapshot_dict`` makes;
``test_the_recording_has_the_live_shape`` checks that against a real
supervisor, so a change of shape fails loudly instead of leaving this
recording stale) and replays fixed event dicts. It has no logic of the
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
import copy
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from swarmkit import agent_cmd, swarm
from textual.pilot import Pilot
from textual.widgets import Input, Log
from tui_harness import SIZE, isolated_config  # noqa: F401 - a fixture

from controlroom._errors import ControlError
from controlroom.control.api import ControlAPI
from controlroom.models import EVENT_ADAPTER, AgentSpec, Budget
from controlroom.models.radarviews import GateRadar
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
THEMES = ["control-room", "high-contrast"]

# --------------------------------------------------------------------------- the recording

_BUDGET: dict[str, Any] = {
    "max_tokens": 400_000,
    "max_cost_usd": 1.5,
    "max_wall_seconds": 900.0,
    "max_turns": 60,
    "kill_grace_seconds": 3.0,
}
_PRICE_IN, _PRICE_OUT = 3.0 / 1e6, 15.0 / 1e6


def _meter(
    name: str,
    tokens_in: int,
    tokens_out: int,
    turns: int,
    tokens_per_minute: float,
    elapsed: float,
    *,
    budget: dict[str, Any] | None = None,
    running: bool = True,
    paused: bool = False,
    cpu: float = 2.0,
    rss: int = 41_000_000,
    processes: int = 1,
) -> dict[str, Any]:
    """A meter dict as ``meter_dict`` makes it, computed from a few recorded numbers."""
    caps = {**_BUDGET, **(budget or {})}
    cost = tokens_in * _PRICE_IN + tokens_out * _PRICE_OUT
    total = tokens_in + tokens_out
    values = {
        "max_tokens": float(total),
        "max_cost_usd": cost,
        "max_turns": float(turns),
        "max_wall_seconds": elapsed,
    }
    limits: list[dict[str, Any]] = []
    for limit, value in values.items():
        cap = caps.get(limit)
        if cap:
            fraction = value / float(cap)
            left = None if limit == "max_wall_seconds" or not running else 60.0 * (1 - fraction)
            limits.append(
                {
                    "limit": limit,
                    "value": value,
                    "cap": float(cap),
                    "fraction": fraction,
                    "seconds_left": left,
                }
            )
    limits.sort(key=lambda item: -float(item["fraction"]))
    return {
        "agent": name,
        "at": 3600.0,
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_creation_1h_input_tokens": 0,
        "total_tokens": total,
        "cost_usd": cost,
        "reported_cost_usd": None,
        "cost_disagreement": False,
        "turns": turns,
        "metered_at": "wire",
        "self_reported_tokens": total,
        "self_reported_cost_usd": cost,
        "meter_disagreement": False,
        "tokens_per_minute": tokens_per_minute,
        "cost_per_minute": tokens_per_minute * _PRICE_IN,
        "turns_per_minute": turns / max(elapsed / 60, 1e-9),
        "elapsed_seconds": elapsed,
        "running": running,
        "paused": paused,
        "tightest_limit": limits[0]["limit"] if limits else None,
        "seconds_to_limit": limits[0]["seconds_left"] if limits else None,
        "cpu_percent": cpu,
        "rss_bytes": rss,
        "processes": processes,
        "budget": caps,
        "limits": limits,
    }


HANDOFF = {
    "changed": "Designed the retry policy for BillingClient (docs/design/billing-retry.md): "
    "retry 429/502/503/504 and resets, exponential backoff capped at 8 s, at most 5 attempts.",
    "next_needs": "Implement RetryPolicy in src/billing/retry.py; one idempotency key per "
    "charge() call, not per attempt. Use the fake clock in tests/conftest.py.",
    "risks": "A retried POST without the key could double-charge a customer. Retry-After may "
    "be an HTTP date.",
}
SCRAPER_HANDOFF = {
    "changed": "Collected 1,204 invoices from the staging ledger into data/invoices.jsonl.",
    "next_needs": "Deduplicate by invoice id before the sync.",
    "risks": "Two invoices had no currency; they are listed in data/skipped.txt.",
}


def _agent(
    name: str,
    state: str,
    *,
    reason: str = "",
    pid: int | None = None,
    attempt: int = 1,
    after: list[str] | None = None,
    breaker_open: bool = False,
    handoff: dict[str, str] | None = None,
    meter: dict[str, Any] | None = None,
    changes: tuple[int, int, int] | None = None,
) -> dict[str, Any]:
    files, added, removed = changes or (0, 0, 0)
    return {
        "name": name,
        "state": state,
        "reason": reason,
        "format": "native",
        "after": after or [],
        "pid": pid,
        "attempt": attempt,
        "breaker_open": breaker_open,
        "handoff": handoff,
        "meter": meter,
        "containment": {
            "mode": "cgroup",
            "cgroup": f"/sys/fs/cgroup/controlroom-20261125-020249-3f9a/agent-{name}",
            "limits": {},
            "unenforced": [],
            "sandbox": "off",
            "allow_hosts": [],
        },
        "changes": {
            "tracked": changes is not None,
            "files": files,
            "added": added,
            "removed": removed,
        },
    }


def _agents(burn: float) -> list[dict[str, Any]]:
    """Every agent of the recording; ``burn`` scales the running agents' tokens/min."""
    return [
        _agent(
            "architect",
            "gated",
            reason="handoff architect → implementer",
            handoff=HANDOFF,
            meter=_meter("architect", 37_400, 8_830, 5, 0.0, 48.2, running=False, cpu=0.0),
            changes=(2, 12, 1),
        ),
        _agent(
            "deploy-bot",
            "gated",
            reason="deploy to staging?",
            pid=41017,
            meter=_meter(
                "deploy-bot", 9_100, 1_240, 2, 900 * burn, 51.0, budget={"max_cost_usd": 0.25}
            ),
        ),
        _agent(
            "docs-writer",
            "running",
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
            "breaker_open",
            reason="3 failures within 300 s",
            attempt=3,
            breaker_open=True,
            meter=_meter("flaky", 1_200, 90, 3, 0.0, 4.0, running=False, cpu=0.0),
        ),
        _agent("implementer", "pending", after=["architect"]),
        _agent(
            "janitor",
            "killed",
            reason="killed by operator",
            meter=_meter("janitor", 5_000, 700, 2, 0.0, 30.0, running=False, cpu=0.0),
        ),
        _agent(
            "migrator",
            "failed",
            reason="exit code 3",
            meter=_meter("migrator", 12_000, 2_100, 4, 0.0, 12.5, running=False, cpu=0.0),
        ),
        _agent("reviewer", "pending", after=["implementer"]),
        _agent(
            "runaway",
            "budget_stopped",
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
            "done",
            handoff=SCRAPER_HANDOFF,
            meter=_meter("scraper", 21_000, 3_300, 6, 0.0, 40.0, running=False, cpu=0.0),
        ),
        _agent(
            "test-writer",
            "paused",
            reason="paused by operator",
            pid=41013,
            meter=_meter(
                "test-writer", 64_000, 7_700, 14, 0.0, 80.0, paused=True, cpu=0.0, processes=3
            ),
            changes=(1, 88, 0),
        ),
    ]


ARCHITECT_RADAR: dict[str, Any] = {
    "changed_files": [
        {"path": "docs/design/billing-retry.md", "status": "added", "added": 9, "removed": 0},
        {"path": "src/billing/client.py", "status": "modified", "added": 3, "removed": 1},
    ],
    "file_count": 2,
    "conflicts": [{"other": "docs-writer", "files": ["src/billing/client.py"]}],
    "discrepancies": [
        {
            "kind": "unmentioned",
            "path": "src/billing/client.py",
            "text": "changed src/billing/client.py (+3 -1) but never mentions it",
        }
    ],
    "verdict": "merges cleanly with test-writer; conflicts with docs-writer in "
    "src/billing/client.py",
    "merge_order": 1,
}
"""The radar's keys of the architect's handoff gate (``control.radarviews.gate_radar``)."""

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

ARCHITECT_DIFF: dict[str, Any] = {
    "agent": "architect",
    "tracked": True,
    "why": "",
    "branch": f"controlroom/{RUN}/architect",
    "base": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    "files": ARCHITECT_RADAR["changed_files"],
    "added": 12,
    "removed": 1,
    "verdict": ARCHITECT_RADAR["verdict"],
    "discrepancies": ARCHITECT_RADAR["discrepancies"],
    "diff": ARCHITECT_DIFF_TEXT,
    "truncated": False,
}
"""The control API's ``diff`` of the architect (``control.radarviews.agent_diff``)."""

RADAR: dict[str, Any] = {
    "enabled": True,
    "collisions": [
        {
            "kind": "file",
            "path": "src/billing/client.py",
            "agents": ["architect", "docs-writer"],
            "dependency": "",
            "detail": "architect and docs-writer both changed src/billing/client.py",
            "since": NOW - 95.0,
        },
        {
            "kind": "conflict",
            "path": "src/billing/client.py",
            "agents": ["architect", "docs-writer"],
            "dependency": "",
            "detail": "merging architect and docs-writer conflicts in src/billing/client.py",
            "since": NOW - 61.0,
        },
        {
            "kind": "manifest",
            "path": "pyproject.toml",
            "agents": ["docs-writer", "test-writer"],
            "dependency": "requests",
            "detail": "requests pinned two ways: ==2.31.0 (docs-writer), >=2.32 (test-writer)",
            "since": NOW - 12.0,
        },
    ],
    "merge_order": ["architect"],
    "changes": {},
}
"""The control API's ``radar`` answer (``control.radarviews.radar_view``)."""

GATES = [
    {
        "id": "g-946c6f6f",
        "agent": "architect",
        "kind": "handoff",
        "state": "pending",
        "title": "handoff architect → implementer",
        "detail": "",
        "stage": "implementer",
        "created": NOW - 125.0,
        "age_seconds": 125.0,
        "timeout_seconds": 3600.0,
        "handoff": HANDOFF,
        "tool": None,
        **ARCHITECT_RADAR,
    },
    {
        "id": "g-383ee97f",
        "agent": "deploy-bot",
        "kind": "agent",
        "state": "pending",
        "title": "deploy to staging?",
        "detail": "billing-api:3f9a2c1 to staging: 3 replicas, rolling update; smoke tests passed",
        "stage": "",
        "created": NOW - 47.0,
        "age_seconds": 47.0,
        "timeout_seconds": 3600.0,
        "handoff": None,
        "tool": None,
        "changed_files": [],
        "file_count": 0,
        "conflicts": [],
        "discrepancies": [],
        "verdict": "",
        "merge_order": None,
    },
]

HANDOFFS = [
    {
        "from": "scraper",
        "to": ["janitor"],
        "handoff": SCRAPER_HANDOFF,
        "attempt": 1,
        "ts": NOW - 150.0,
        "gate": "g-11aa22bb",
        "state": "approved",
        "by": "operator",
        "reason": "",
    },
    {
        "from": "architect",
        "to": ["implementer"],
        "handoff": HANDOFF,
        "attempt": 1,
        "ts": NOW - 125.0,
        "gate": "g-946c6f6f",
        "state": "pending",
        "by": "",
        "reason": "",
    },
]


def _frame(ts: float, burn: float) -> dict[str, Any]:
    agents = _agents(burn)
    meters = [a["meter"] for a in agents if a["meter"]]

    def total(key: str) -> Any:
        return sum(m[key] for m in meters)

    return {
        "swarm": "billing-retry",
        "run": RUN,
        "mode": "tui",
        "ts": ts,
        "totals": {
            "agents": len(agents),
            "running": sum(a["state"] in ("running", "gated", "paused") and a["pid"] is not None
                           for a in agents),
            "input_tokens": total("input_tokens"),
            "output_tokens": total("output_tokens"),
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
            "total_tokens": total("total_tokens"),
            "cost_usd": total("cost_usd"),
            "charged_usd": total("cost_usd"),
            "tokens_per_minute": total("tokens_per_minute"),
            "cost_per_hour": total("cost_per_minute") * 60,
            "max_cost_usd": 5.0,
            "pending_gates": len(GATES),
            "collisions": 2,
        },
        "agents": agents,
        "audit": {"ok": True, "stopped_for": None},
        "gates": copy.deepcopy(GATES),
        "handoffs": copy.deepcopy(HANDOFFS),
        "proxy": {
            "url": "http://127.0.0.1:41877",
            "socket": "/home/operator/billing/.controlroom/proxy.sock",
            "upstream": "https://api.anthropic.com",
            "credentials": "swap",
        },
    }  # fmt: skip


BURNS = [0.2, 0.5, 0.9, 0.7, 1.0, 0.6, 0.8, 1.0]
FRAMES = [_frame(NOW - 5.0 * (len(BURNS) - 1 - i), burn) for i, burn in enumerate(BURNS)]
"""Snapshots 5 s apart (one burn-rate sample each); the last one is "now"."""


def _events() -> list[dict[str, Any]]:
    raw: list[tuple[float, str | None, str, dict[str, Any]]] = [
        (-160, None, "run_started", {"swarm": "billing-retry", "pid": 40999, "mode": "tui"}),
        (-158, "architect", "agent_spawned",
         {"pid": 41001, "create_time": NOW - 158, "argv": ["architect.py"], "workspace": "."}),
        (-157, "architect", "status", {"text": "reading src/billing/client.py"}),
        (-156, "architect", "tool_call",
         {"name": "Read", "input": {"path": "src/billing/client.py"}}),
        (-150, "architect", "agent_output", {"text": "BillingClient._send has no retry at all"}),
        (-149, "architect", "usage", {"input_tokens": 12_000, "output_tokens": 2_100,
                                      "model": "claude-sonnet-4-5", "cost_usd": 0.0675}),
        (-140, "architect", "tool_call", {"name": "Grep", "input": {"pattern": "Retry-After"}}),
        (-131, "architect", "status", {"text": "writing docs/design/billing-retry.md"}),
        (-130, "architect", "tool_call",
         {"name": "Write", "input": {"path": "docs/design/billing-retry.md"}}),
        (-126, "architect", "handoff", {"handoff": HANDOFF}),
        (-120, "docs-writer", "status", {"text": "drafting docs/billing/retries.md"}),
        (-90, "docs-writer", "tool_call", {"name": "Edit", "input": {"path": "docs/index.md"}}),
        (-60, "test-writer", "status", {"text": "writing tests/test_retry.py"}),
        (-40, "deploy-bot", "agent_output", {"text": "smoke tests passed (12/12)"}),
    ]  # fmt: skip
    events = []
    for seq, (offset, agent, kind, fields) in enumerate(raw, start=1):
        events.append({"run": RUN, "seq": seq, "ts": NOW + offset, "agent": agent, "kind": kind,
                       **fields})  # fmt: skip
    return events


EVENTS = _events()


class RecordedPort:
    """A ``ControlPort`` replaying a recording: fixed snapshots and fixed events, nothing else."""

    read_only = False
    description = f"recorded run {RUN}"

    def __init__(self) -> None:
        self.snapshots_served = 0

    async def snapshot(self) -> dict[str, Any]:
        frame = FRAMES[min(self.snapshots_served, len(FRAMES) - 1)]
        self.snapshots_served += 1
        return copy.deepcopy(frame)

    async def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        args = args or {}
        if op == "events":
            since, limit = int(args.get("since", 0)), int(args.get("limit", 1000))
            after = [copy.deepcopy(e) for e in EVENTS if e["seq"] > since]
            return after[-limit:] if args.get("newest") else after[:limit]
        if op == "ping":
            return {"swarm": "billing-retry", "run": RUN, "read_only": False}
        if op == "diff" and args.get("agent") == "architect":
            return copy.deepcopy(ARCHITECT_DIFF)
        if op == "radar":
            return copy.deepcopy(RADAR)
        raise ControlError(f"a recording cannot {op}")

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        for event in EVENTS:
            yield copy.deepcopy(event)
        await asyncio.Event().wait()  # a live stream: nothing more, but never closed

    async def close(self) -> None:
        return None


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
            and app.tail.last_seq == EVENTS[-1]["seq"]
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


def _shape(value: object) -> object:
    """Keys of every object, recursively (lists by their first item)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return "leaf"


async def test_the_recording_has_the_live_shape(tmp_path: Path) -> None:
    """The recording's snapshot and events have the keys a real supervisor produces today."""
    busy = AgentSpec(
        name="a",
        command=agent_cmd("runaway", "20"),
        budget=Budget(max_tokens=10**7, max_cost_usd=100.0, max_wall_seconds=60, max_turns=10**4),
    )
    up = AgentSpec(name="up", command=agent_cmd("well_behaved", "up", "0.01"))
    down = AgentSpec(name="down", command=agent_cmd("well_behaved"), after=["up"], gate="human")
    async with swarm(tmp_path, [busy, up, down], max_cost_usd=5.0) as s:
        await s.state("a", {"running"})
        await s.state("up", {"gated"})
        await s.log.until(lambda e: getattr(e, "kind", "") == "usage" and e.agent == "a", 10)
        live = ControlAPI(s.sup).snapshot().model_dump(mode="json")
    live_agent = next(a for a in live["agents"] if a["name"] == "a")
    ours = FRAMES[-1]
    # the radar's lists are empty outside a git repository: their items are checked by model
    for gate in ours["gates"]:
        GateRadar.model_validate({key: gate[key] for key in GateRadar.model_fields})

    def without_radar_items(snapshot: dict[str, Any]) -> dict[str, Any]:
        gates = [{k: [] if k in GateRadar.model_fields and isinstance(v, list) else v
                  for k, v in g.items()} for g in snapshot["gates"]]  # fmt: skip
        return {**{k: v for k, v in snapshot.items() if k != "agents"}, "gates": gates}

    assert _shape(without_radar_items(ours)) == _shape(without_radar_items(live))
    docs_writer = next(a for a in ours["agents"] if a["name"] == "docs-writer")
    assert _shape(docs_writer) == _shape(live_agent)
    for event in EVENTS:  # every recorded event is a valid event of today's union
        EVENT_ADAPTER.validate_python(event)
