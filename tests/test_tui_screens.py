"""ENGINEER B's screens, driven by keys in a real Textual app, against a real swarm.

Each modal runs in a minimal host app that records what it dismisses with;
the gate, agent and audit screens talk to a real in-process supervisor over
real agent subprocesses through ``LocalPort``, exactly as the dashboard does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from swarmkit import Swarm, agent_cmd, sleeper, swarm
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Button, Input, Log, Static

from controlroom.control.api import ControlAPI
from controlroom.control.port import ControlPort, LocalPort
from controlroom.models import (
    AgentSpawned,
    AgentSpec,
    Budget,
    GateDecided,
    GateRequested,
    GateState,
    Limits,
)
from controlroom.models.kinds import EventKind
from controlroom.models.views import AgentView, GateView, MeterView
from controlroom.tui.actions import Operator
from controlroom.tui.keys import binding
from controlroom.tui.screens.agent import AgentScreen, describe_metering
from controlroom.tui.screens.audit import AuditScreen, event_stream, format_event, parse_filter
from controlroom.tui.screens.budget import BudgetModal
from controlroom.tui.screens.confirm import ConfirmModal
from controlroom.tui.screens.emergency import EmergencyStopModal
from controlroom.tui.screens.gate import GateScreen, describe_wait
from controlroom.tui.screens.help import HelpRow, HelpScreen
from controlroom.tui.screens.quit import QuitModal
from controlroom.tui.screens.reason import ReasonModal
from controlroom.tui.themes import (
    DEFAULT_THEME,
    builtin_theme_dir,
    css_variable_defaults,
    load_themes,
    register_themes,
)

pytestmark = pytest.mark.timeout(60)

SCREENS_TCSS = Path(__file__).parent.parent / "controlroom" / "tui" / "screens" / "screens.tcss"
THEMES, _ = load_themes([builtin_theme_dir()])


class Host(App[None]):
    """A bare app with the real theme and stylesheet; records results and notifications.

    Given a port, it carries an Operator over it, as the dashboard does: the
    agent and gate screens act through their app's Operator.
    """

    CSS_PATH = str(SCREENS_TCSS)

    def __init__(self, port: ControlPort | None = None) -> None:
        super().__init__()
        self.results: list[Any] = []
        self.notes: list[tuple[str, str]] = []
        if port is not None:
            self.operator = Operator(self, port)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return css_variable_defaults(THEMES)

    def on_mount(self) -> None:
        register_themes(self, THEMES)
        self.theme = DEFAULT_THEME

    def open(self, screen: Screen[Any]) -> None:
        self.push_screen(screen, self.results.append)

    def notify(self, message: str, **kwargs: Any) -> None:  # type: ignore[override]
        self.notes.append((kwargs.get("severity", "information"), message))
        super().notify(message, **kwargs)


async def until(pilot: Any, check: Callable[[], Any], timeout: float = 8.0) -> Any:
    """Let the app run until ``check()`` is truthy; its value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {check}")
        await pilot.pause(0.02)
    return value


async def type_text(pilot: Any, text: str) -> None:
    await pilot.press(*["space" if ch == " " else ch for ch in text])


async def answer(screen: Screen[Any], *keys: str) -> list[Any]:
    """Open ``screen`` in a host app, press ``keys``, return what it dismissed with."""
    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        app.open(screen)
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
        return app.results


# --------------------------------------------------------------------------- modals


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (("y",), [True]),
        (("enter",), [True]),
        (("n",), [False]),
        (("escape",), [False]),
        (("tab", "enter"), [False]),
    ],
)
async def test_confirm_modal_answers(keys: tuple[str, ...], expected: list[bool]) -> None:
    modal = ConfirmModal("Kill coder?", "coder (pid 42, 3 processes in its tree)")
    assert await answer(modal, *keys) == expected


async def test_confirm_modal_shows_what_it_touches() -> None:
    app = Host()
    async with app.run_test() as pilot:
        app.open(ConfirmModal("Kill coder?", "coder (pid 42, 3 processes in its tree)"))
        await pilot.pause()
        body = app.screen.query_one("#confirm-body", Static)
        assert "3 processes" in str(body.render())
        assert app.screen.query_one("#confirm", Button).label.plain == "Kill (y)"


async def test_emergency_stop_enter_stops_all_without_moving_focus() -> None:
    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        app.open(EmergencyStopModal(running=3, total=5))
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, EmergencyStopModal)
        assert modal.focused is not None and modal.focused.id == "stop-all"
        count = modal.query_one("#emergency-count", Static)
        assert str(count.render()) == "Kill every agent: 3 running of 5"
        what = str(modal.query_one("#emergency-what", Static).render())
        assert "SIGTERM" in what and "SIGKILL" in what
        band = modal.query_one("#emergency-band")
        assert band.size.width == app.size.width  # a full-width band
        assert band.styles.text_style.bold
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [True]


@pytest.mark.parametrize(("key", "expected"), [("escape", False), ("n", False), ("y", True)])
async def test_emergency_stop_other_keys(key: str, expected: bool) -> None:
    assert await answer(EmergencyStopModal(running=1, total=1), key) == [expected]


async def test_reason_modal_refuses_empty_when_required() -> None:
    app = Host()
    async with app.run_test() as pilot:
        app.open(ReasonModal("Reject g-1", "Why?", required=True))
        await pilot.pause()
        await pilot.press("space", "enter")
        await pilot.pause()
        assert app.results == [] and isinstance(app.screen, ReasonModal)
        error = app.screen.query_one("#reason-error", Static)
        assert error.display and "required" in str(error.render())
        await type_text(pilot, "not yet")
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == ["not yet"]


async def test_reason_modal_optional_and_cancel() -> None:
    assert await answer(ReasonModal("Approve", "Note?", required=False), "enter") == [""]
    assert await answer(ReasonModal("Reject", "Why?"), "x", "escape") == [None]


BUDGET = Budget(max_tokens=200_000, max_cost_usd=5.0, max_turns=50, kill_grace_seconds=5.0)


async def test_budget_modal_prefills_validates_and_returns_set_keys() -> None:
    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        app.open(BudgetModal("coder", BUDGET))
        await pilot.pause()
        modal = app.screen
        tokens = modal.query_one("#budget-max_tokens", Input)
        assert tokens.value == "200000"
        assert modal.query_one("#budget-max_cost_usd", Input).value == "5"
        assert modal.query_one("#budget-max_wall_seconds", Input).value == ""

        tokens.value = "0"
        await pilot.press("enter")
        await pilot.pause()
        error = modal.query_one("#budget-error", Static)
        assert app.results == [] and error.display
        assert "max tokens" in str(error.render()) and "more than zero" in str(error.render())

        tokens.value = "-3"
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == []

        tokens.value = "400000"
        modal.query_one("#budget-max_cost_usd", Input).value = ""
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [{"max_tokens": 400_000, "max_turns": 50, "kill_grace_seconds": 5.0}]


async def test_budget_modal_rejects_non_numbers_and_cancels() -> None:
    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        app.open(BudgetModal("coder", BUDGET))
        await pilot.pause()
        app.screen.query_one("#budget-max_cost_usd", Input).value = "lots"
        await pilot.press("enter")
        await pilot.pause()
        assert "not a number" in str(app.screen.query_one("#budget-error", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [(("s",), "stop"), (("d",), "detach"), (("escape",), None), (("enter",), None)],
)
async def test_quit_modal(keys: tuple[str, ...], expected: str | None) -> None:
    assert await answer(QuitModal(running=2), *keys) == [expected]


# --------------------------------------------------------------------------- help


class Keyed(Screen[None]):
    BINDINGS = [
        binding("kill-agent"),
        binding("approve-gate"),
        binding("stop-all"),
        Binding("z", "zap", "Zap", id="zap-thing", tooltip="Something of our own"),
    ]


async def test_help_groups_by_section_and_flags_destructive() -> None:
    app = Host()
    async with app.run_test(size=(120, 50)) as pilot:
        await app.push_screen(Keyed())
        await app.push_screen(HelpScreen())
        await pilot.pause()
        rows = {row.entry.binding_id: row for row in app.screen.query(HelpRow)}
        sections = {bid: row.parent.id for bid, row in rows.items() if row.parent is not None}
        assert sections["kill-agent"] == "help-section-agents"
        assert sections["approve-gate"] == "help-section-gates"
        assert sections["stop-all"] == "help-section-emergency"
        assert sections["zap-thing"] == "help-section-other"

        def text(bid: str) -> list[str]:
            return [str(s.render()) for s in rows[bid].query(Static)]

        flag, key, what = text("kill-agent")
        assert (flag, key) == ("!", "x")
        assert "Kill" in what and "(confirm)" in what
        flag, key, what = text("approve-gate")
        assert flag.strip() == "" and key == "a" and "(confirm)" not in what
        assert text("stop-all")[0] == "!"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, Keyed)


# --------------------------------------------------------------------------- real swarm


def worker(name: str, **kwargs: Any) -> AgentSpec:
    return AgentSpec(
        name=name,
        command=agent_cmd("well_behaved", "{task}", "0.01"),
        task=f"{name} task",
        **kwargs,
    )


async def open_gate(s: Swarm) -> tuple[LocalPort, ControlAPI, GateView, AgentView]:
    event = await s.log.until(lambda e: isinstance(e, GateRequested) and e.agent == "a", 10)
    api = ControlAPI(s.sup)
    snapshot = api.snapshot()
    gate = next(g for g in snapshot.gates if g.id == event.gate_id)
    agent = snapshot.agent("a")
    assert agent is not None
    return LocalPort(api), api, gate, agent


async def test_gate_screen_shows_the_handoff_and_approves(tmp_path: Path) -> None:
    async with swarm(tmp_path, [worker("a"), worker("b", after=["a"], gate="human")]) as s:
        port, _, gate, agent = await open_gate(s)
        app = Host(port)
        async with app.run_test(size=(120, 45)) as pilot:
            app.open(GateScreen(port, gate, agent))
            await pilot.pause()
            screen = app.screen
            header = str(screen.query_one("#gate-header", Static).render())
            assert gate.id in header and "handoff from a" in header and "to b" in header
            boxes = {str(b.border_title): str(b.render()) for b in screen.query(".gate-handoff")}
            assert boxes == {
                "changed — what was done": "did: a task",
                "next needs — what the next agent must know": "run the tests",
                "risks — what may still go wrong": "none known",
            }
            spend = str(screen.query_one("#gate-spend", Static).render())
            assert "in 300" in spend and "out 60" in spend  # 3 usage lines of 100/20
            assert "expires in" in str(screen.query_one("#gate-wait", Static).render())
            assert s.spawned("b") == []

            await pilot.press("a")
            await until(pilot, lambda: app.results)
            assert app.results == ["approved"]
            await s.log.until(lambda e: isinstance(e, AgentSpawned) and e.agent == "b", 10)
            decided = s.log.of("gate_decided")
            assert [(d.gate_id, d.approved) for d in decided] == [(gate.id, True)]


async def test_gate_screen_rejects_with_a_required_reason(tmp_path: Path) -> None:
    async with swarm(tmp_path, [worker("a"), worker("b", after=["a"], gate="human")]) as s:
        port, _, gate, agent = await open_gate(s)
        app = Host(port)
        async with app.run_test(size=(120, 45)) as pilot:
            app.open(GateScreen(port, gate, agent))
            await pilot.pause()
            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, ReasonModal))
            await pilot.press("enter")  # empty: refused on the spot
            await pilot.pause()
            assert isinstance(app.screen, ReasonModal) and s.log.of("gate_decided") == []
            await type_text(pilot, "tests missing")
            await pilot.press("enter")
            await until(pilot, lambda: app.results)
            assert app.results == ["rejected"]
            event = await s.log.until(lambda e: isinstance(e, GateDecided), 5)
            assert isinstance(event, GateDecided)
            assert (event.approved, event.reason) == (False, "tests missing")
        assert s.spawned("b") == []


async def test_gate_screen_decided_elsewhere_notifies_and_closes(tmp_path: Path) -> None:
    async with swarm(tmp_path, [worker("a"), worker("b", after=["a"], gate="human")]) as s:
        port, api, gate, agent = await open_gate(s)
        app = Host(port)
        async with app.run_test(size=(120, 45)) as pilot:
            app.open(GateScreen(port, gate, agent))
            await pilot.pause()
            await api.approve(gate.id, by="someone-else")
            await until(  # the live refresh notices
                pilot,
                lambda: "no longer pending" in str(app.screen.query_one("#gate-wait").render()),
            )
            await pilot.press("a")
            await until(pilot, lambda: app.results)
            assert app.results == [None]
            assert app.notes[-1] == ("error", f"gate {gate.id} is already approved")


async def test_gate_screen_ages_the_gate_by_the_clock_it_is_given(tmp_path: Path) -> None:
    async with swarm(tmp_path, [worker("a"), worker("b", after=["a"], gate="human")]) as s:
        port, _, gate, agent = await open_gate(s)
        app = Host(port)
        async with app.run_test(size=(120, 45)) as pilot:
            clock = gate.created + 3725.0
            app.open(GateScreen(port, gate, agent, clock=lambda: clock))
            await pilot.pause()
            wait = str(app.screen.query_one("#gate-wait", Static).render())
            assert wait.startswith("waiting 1h02m"), wait
            await pilot.press("escape")


def test_the_detail_says_where_spend_was_metered_and_flags_a_disagreement() -> None:
    own = MeterView(agent="a", at=0.0, metered_at="agent")
    assert describe_metering(own) == "\nmetered from the agent's own reports"
    agreeing = MeterView(agent="a", at=0.0, metered_at="wire", self_reported_tokens=100)
    assert describe_metering(agreeing) == "\nmetered at the wire (the proxy)"
    lying = agreeing.model_copy(
        update={"meter_disagreement": True, "self_reported_cost_usd": 0.0049}
    )
    assert describe_metering(lying).splitlines()[2] == (
        "⚠ METER DISAGREEMENT: the agent reported 100 tokens, $0.0049; the budget uses the wire"
    )


def test_the_gate_queue_shows_age_and_timeout_whole() -> None:
    from controlroom.tui.widgets.gate_queue import _COLUMNS, gate_cells

    width = dict((key, w) for key, _, w in _COLUMNS)["age"]
    def gate(age: float, timeout: float) -> GateView:
        return GateView(
            id="g-1", agent="a", kind="tool", state=GateState.PENDING, created=0.0,
            age_seconds=age, timeout_seconds=timeout,
        )  # fmt: skip

    for age, timeout in ((125.0, 3600.0), (3725.0, 7200.0)):
        cell = gate_cells(gate(age, timeout))[0]
        assert len(cell) <= width, (cell, width)
    assert gate_cells(gate(125.0, 3600.0))[0] == "2m05s/1h"


def test_describe_wait_counts_down() -> None:
    gate = GateView(
        id="g-1", agent="a", kind="agent", state="pending", created=1000.0, timeout_seconds=3600.0
    )
    text, left = describe_wait(gate, now=1065.0)
    assert text.startswith("waiting 1m05s · expires in 58m55s") and left == 3535.0
    forever = gate.model_copy(update={"timeout_seconds": None})
    assert describe_wait(forever, now=1001.0)[1] is None


async def test_audit_screen_history_live_and_filter(tmp_path: Path) -> None:
    slow = [
        AgentSpec(name="a", command=agent_cmd("well_behaved", "alpha", "0.15")),
        AgentSpec(name="b", command=agent_cmd("well_behaved", "beta", "0.15")),
    ]
    async with swarm(tmp_path, slow) as s:
        await s.log.status("a", "starting: alpha")
        app = Host()
        async with app.run_test(size=(160, 45)) as pilot:
            app.open(AuditScreen(LocalPort(ControlAPI(s.sup))))
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, AuditScreen)
            log = screen.query_one("#audit-log", Log)
            await s.wait(10)  # the rest arrives live
            await until(
                pilot,
                lambda: (
                    any("status" in ln and "done" in ln for ln in log.lines)
                    and sum("done" in ln for ln in log.lines) >= 2
                ),
            )
            await until(pilot, lambda: screen.received == len(s.log.collect()))
            seqs = [int(line.split()[1]) for line in log.lines]
            assert seqs == sorted(set(seqs)) == list(range(1, len(seqs) + 1))  # no hole, no twin
            assert any(" a " in ln and "starting: alpha" in ln for ln in log.lines)
            assert any(" b " in ln and "starting: beta" in ln for ln in log.lines)

            await pilot.press("slash")
            await type_text(pilot, "agent:a kind:status")
            await pilot.pause()
            shown = list(log.lines)
            assert shown and all(ln.split()[2] == "a" and ln.split()[3] == "status" for ln in shown)
            words = [ln.split(None, 4)[4] for ln in shown]
            assert words == ["status: starting: alpha", "status: done"]

            await pilot.press("escape")  # clears the filter
            await pilot.pause()

            def shown_seqs() -> list[int]:
                return [int(line.split()[1]) for line in log.lines]

            await until(pilot, lambda: shown_seqs() == list(range(1, screen.received + 1)))
            assert shown_seqs()[: len(seqs)] == seqs
            await pilot.press("escape")  # goes back, and stops following
            await pilot.pause()
            assert app.results == [None]
            assert not [w for w in app.workers if w.group == "audit-events" and w.is_running]


async def test_event_stream_pages_history_and_fills_the_gap_before_live(tmp_path: Path) -> None:
    async with swarm(tmp_path, [worker("a"), worker("b", after=["a"], gate="human")]) as s:
        port, api, gate, _ = await open_gate(s)
        stored = await api.call("events", {"since": 0, "limit": 10_000})
        stream = event_stream(port, page=4)  # several pages of history
        seen = [await anext(stream) for _ in stored]
        assert [e.seq for e in seen] == [e.seq for e in stored]
        # Published after the history was read and before the live subscription exists:
        await api.approve(gate.id, by="op")
        while not (seen[-1].agent == "b" and seen[-1].kind == EventKind.AGENT_EXITED):
            seen.append(await asyncio.wait_for(anext(stream), 10))
        await stream.aclose()
        seqs = [e.seq for e in seen]
        assert seqs == list(range(1, len(seqs) + 1))
        assert any(isinstance(e, GateDecided) for e in seen)


def test_filter_syntax() -> None:
    event = GateDecided(
        seq=7, ts=0.0, agent="Coder", gate_id="g-1", approved=False, by="op", reason="too risky"
    )
    line = format_event(event)
    assert "g-1 rejected by op: too risky" in line
    assert parse_filter("agent:coder kind:gate").matches(event, line)
    assert parse_filter("kind:gate_decided RISKY").matches(event, line)
    assert not parse_filter("agent:other").matches(event, line)
    assert not parse_filter("kind:usage").matches(event, line)
    assert not parse_filter("approved").matches(event, line)


async def test_agent_screen_live_detail_and_kill(tmp_path: Path) -> None:
    agents = [
        AgentSpec(
            name="s",
            command=agent_cmd("well_behaved", "sleepy", "30"),
            budget=Budget(max_tokens=1000, kill_grace_seconds=1),
            limits=Limits(memory_max=256 << 20),
        ),
        worker("other"),
    ]
    async with swarm(tmp_path, agents, sample_seconds=0.2) as s:
        await s.log.status("s", "starting: sleepy")
        port = LocalPort(ControlAPI(s.sup))
        app = Host(port)
        async with app.run_test(size=(160, 45)) as pilot:
            app.open(AgentScreen(port, "s"))
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, AgentScreen)
            log = screen.query_one("#agent-log", Log)
            await until(pilot, lambda: any("plain log output" in ln for ln in log.lines))
            assert any("starting: sleepy" in ln for ln in log.lines)
            assert not any("other" in ln for ln in log.lines)  # only this agent
            header = screen.query_one("#agent-header", Static)
            await until(pilot, lambda: "1 process in its tree" in str(header.render()))
            assert " · running · " in str(header.render()) and header.has_class("state-running")
            await until(pilot, lambda: screen.query(".limit-row"))
            assert "tokens 0 / 1,000" in str(screen.query_one(".limit-text", Static).render())
            contained = str(screen.query_one("#agent-containment", Static).render())
            mode = s.sup.confinement.containment.mode
            assert contained == (
                f"contained by cgroup {s.spawned('s')[0].cgroup} · limits memory 256M"
                if mode == "cgroup"
                else "contained by process-tree · limits memory 256M · NOT ENFORCED memory_max: "
                + s.sup.confinement.containment.reason
            ) + " · no sandbox"

            await pilot.press("x")
            await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
            body = str(app.screen.query_one("#confirm-body", Static).render())
            assert "pid" in body and "SIGKILL after 1 s" in body
            await pilot.press("y")
            await s.state("s", {"killed"}, timeout=10)
            await until(pilot, lambda: any(n[1].startswith("killed s:") for n in app.notes))
            await until(pilot, lambda: "killed" in str(header.render()))

            await pilot.press("p")  # refused: shown as a notification, no traceback
            await until(pilot, lambda: app.notes[-1][0] == "error")
            assert "not running" in app.notes[-1][1]

            await pilot.press("escape")
            await pilot.pause()
            assert app.results == [None]
            assert not [w for w in app.workers if w.group == "agent-events" and w.is_running]


async def test_agent_screen_read_only_refuses_mutations(tmp_path: Path) -> None:
    async with swarm(tmp_path, [sleeper("s")]) as s:
        await s.state("s", {"running"})
        port = LocalPort(ControlAPI(s.sup), read_only=True)
        app = Host(port)
        async with app.run_test(size=(160, 45)) as pilot:
            app.open(AgentScreen(port, "s"))
            await pilot.pause()
            await pilot.press("x")
            await pilot.pause(0.2)
            assert isinstance(app.screen, AgentScreen)
            assert s.sup.runners["s"].state == "running"
