"""One Operator: an action is asked, sent and reported the same way from every screen.

The dashboard is built as ``controlroom tui`` builds it (``tui_harness``) over
real agents; the keys are pressed under Pilot on the main screen, the agent
screen and the gate screen, and the palette's path is the app's Operator
itself (a palette command is a call to it). What is compared is what the
operator sees (the confirm's words, the toasts) and what the swarm did (the
audit log on disk).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from swarmkit import sleeper
from textual.command import CommandList, CommandPalette
from textual.widgets import Static
from tui_harness import (
    Dash,
    dashboard,
    fast,
    isolated_config,  # noqa: F401 - a fixture
)

from controlroom.control.api import ControlAPI
from controlroom.tui.commands import swarm_commands
from controlroom.tui.screens.agent import AgentScreen
from controlroom.tui.screens.confirm import ConfirmModal
from controlroom.tui.screens.gate import GateScreen
from controlroom.tui.screens.main import MainScreen
from controlroom.tui.screens.reason import ReasonModal
from controlroom.tui.widgets.gate_queue import GateQueue

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("isolated_config")]


GATED = [fast("up"), fast("down", after=["up"], gate="human")]
"""up hands off to down through a human gate: one gate waits."""


async def waiting_gate(d: Dash) -> str:
    """The id of the one gate waiting, once the queue shows it."""
    await d.ready("up", "down")
    await d.shows("up", {"gated"})
    queue = d.main.query_one("#gates", GateQueue)
    await d.until(lambda: queue.row_count == 1)
    return queue.gates[0].id


async def open_gate_screen(d: Dash) -> GateScreen:
    await d.pilot.press("g")
    await d.until(lambda: d.app.focused is d.main.query_one("#gates", GateQueue))
    await d.pilot.press("enter")
    return await d.on_screen(GateScreen)


def notes_about(d: Dash, text: str) -> list[tuple[str, str, str]]:
    """(severity, title, message) of every toast whose message holds ``text``."""
    return [(n.severity, n.title, n.message) for n in d.notes if text in n.message]


async def second_note(d: Dash, text: str) -> list[tuple[str, str, str]]:
    """Until two toasts hold ``text``; both (and any more)."""
    return await d.until(lambda: len(found := notes_about(d, text)) >= 2 and found)


async def test_the_kill_confirm_reads_the_same_on_the_main_and_the_agent_screen(
    tmp_path: Path,
) -> None:
    async with dashboard(tmp_path, [sleeper("s")]) as d:
        await d.ready("s")
        await d.shows("s", {"running"})
        sup = d.session.supervisor
        assert sup is not None
        await d.until(lambda: (m := sup.view().agents[0].meter) and m.processes is not None)
        await d.select("s")
        await d.pilot.press("x")
        main_modal = await d.on_screen(ConfirmModal)
        main_words = (main_modal.question, main_modal.body)
        await d.pilot.press("n")
        await d.on_screen(MainScreen)

        await d.pilot.press("enter")
        await d.on_screen(AgentScreen)
        await d.pilot.press("x")
        agent_modal = await d.on_screen(ConfirmModal)
        assert (agent_modal.question, agent_modal.body) == main_words
        assert main_words[0] == "Kill agent s?" and "SIGKILL after" in main_words[1]
        await d.pilot.press("y")
        await d.until(lambda: d.audit("kill_completed"))
        note = await d.until(lambda: notes_about(d, "killed s:"))
        assert note[0][0] == "information" and note[0][2].endswith(", 0 survivors")
        assert [r["agent"] for r in d.audit("kill_requested")] == ["s"]


@pytest.mark.parametrize("where", ["main", "gate"])
async def test_a_double_a_sends_one_decision(tmp_path: Path, where: str) -> None:
    async with dashboard(tmp_path, GATED) as d:
        gate = await waiting_gate(d)
        if where == "gate":
            await open_gate_screen(d)
        await d.pilot.press("a", "a")
        await d.on_screen(MainScreen)  # the gate screen closed on its decision
        await d.until(lambda: notes_about(d, f"approved {gate}"))
        await d.pilot.pause(0.3)  # a second decision would have had time to be refused
        assert [(r["gate_id"], r["approved"]) for r in d.audit("gate_decided")] == [(gate, True)]
        assert notes_about(d, "already") == []


async def test_a_decision_under_way_from_one_path_is_not_sent_again_from_another(
    tmp_path: Path,
) -> None:
    async with dashboard(tmp_path, GATED) as d:
        gate = await waiting_gate(d)
        await d.pilot.press("r")  # the main screen's reject asks for its reason
        await d.on_screen(ReasonModal)
        d.app.operator.approve(gate)  # what the palette's "Approve gate …" runs
        d.app.operator.reject(gate)
        await d.pilot.pause(0.2)
        assert sum(isinstance(s, ReasonModal) for s in d.app.screen_stack) == 1
        await d.pilot.press(*"late")
        await d.pilot.press("enter")
        await d.until(lambda: d.audit("gate_decided"))
        await d.until(lambda: notes_about(d, f"rejected {gate}"))
        await d.pilot.pause(0.3)
        decided = d.audit("gate_decided")
        assert [(r["gate_id"], r["approved"], r["reason"]) for r in decided] == [
            (gate, False, "late")
        ]
        assert notes_about(d, "already") == []


async def test_a_gate_decided_elsewhere_is_reported_alike_from_the_gate_screen_and_the_palette(
    tmp_path: Path,
) -> None:
    async with dashboard(tmp_path, GATED) as d:
        gate = await waiting_gate(d)
        screen = await open_gate_screen(d)
        assert d.session.supervisor is not None
        await ControlAPI(d.session.supervisor).approve(gate, by="someone-else")
        await d.until(lambda: "no longer pending" in str(screen.query_one("#gate-wait").render()))
        await d.pilot.press("a")
        await d.on_screen(MainScreen)  # closed: nothing left to decide
        from_screen = await d.until(lambda: notes_about(d, "already approved"))

        await d.pilot.pause(0.35)  # past the debounce: a press this soon would be the same one
        d.app.operator.approve(gate)  # the palette's path, on the same decided gate
        both = await second_note(d, "already approved")
        assert both[0] == both[1] == from_screen[0]
        assert both[0] == ("error", f"approve {gate}", f"gate {gate} is already approved")

        await d.pilot.pause(0.35)
        d.app.operator.reject(gate)  # a reject asks nothing of a gate already decided
        rejected = await d.until(lambda: notes_about(d, "already approved")[2:])
        assert rejected == [("error", f"reject {gate}", f"gate {gate} is already approved")]
        assert not any(isinstance(s, ReasonModal) for s in d.app.screen_stack)
        assert [r["by"] for r in d.audit("gate_decided")] == ["someone-else"]


async def test_read_only_refuses_alike_on_every_screen(tmp_path: Path) -> None:
    agents = [*GATED, sleeper("s")]
    async with dashboard(tmp_path, agents, read_only=True) as d:
        gate = await waiting_gate(d)
        await d.ready("s")
        await d.select("s")
        refusals: dict[str, list[str]] = {}

        async def press(where: str, key: str) -> None:
            before = len(d.notes)
            await d.pilot.press(key)
            await d.until(lambda: len(d.notes) > before, timeout=2)
            refusals.setdefault(where, []).append(d.notes[-1].message)
            assert d.notes[-1].severity == "warning"

        await press("main", "x")
        await press("main", "a")
        await d.pilot.press("enter")
        await d.on_screen(AgentScreen)
        await press("agent", "x")
        await d.pilot.press("escape")
        await d.on_screen(MainScreen)
        await open_gate_screen(d)
        await press("gate", "a")
        await press("gate", "r")
        d.app.operator.kill("s")  # the palette's path (it lists no such command read-only)
        await d.until(lambda: len(d.notes) and d.notes[-1].message.endswith("kill is not allowed"))

        assert refusals == {
            "main": ["read-only: kill is not allowed", "read-only: approve is not allowed"],
            "agent": ["read-only: kill is not allowed"],
            "gate": ["read-only: approve is not allowed", "read-only: reject is not allowed"],
        }
        assert d.notes[-1].message == "read-only: kill is not allowed"
        assert isinstance(d.app.screen, GateScreen)  # no modal opened anywhere
        assert d.audit("gate_decided") == [] and d.audit("kill_requested") == []
        assert d.state("s") == "running" and gate


async def test_the_agent_screen_reports_a_refused_pause_as_the_main_screen_does(
    tmp_path: Path,
) -> None:
    async with dashboard(tmp_path, [fast("done-early"), sleeper("other")]) as d:
        await d.ready("done-early", "other")
        await d.shows("done-early", {"done"})
        await d.select("done-early")
        await d.pilot.press("p")
        on_main = await d.until(lambda: notes_about(d, "not running"))
        await d.pilot.press("enter")
        screen = await d.on_screen(AgentScreen)
        await d.until(lambda: "done" in str(screen.query_one("#agent-header", Static).render()))
        await d.pilot.pause(0.35)  # past the debounce: a second p within 0.3 s is a doubled press
        await d.pilot.press("p")
        both = await second_note(d, "not running")
        assert both[0] == both[1] == on_main[0]
        assert on_main[0][:2] == ("error", "pause done-early")


async def test_the_palette_asks_and_reports_as_the_key_does(tmp_path: Path) -> None:
    async with dashboard(tmp_path, GATED) as d:
        gate = await waiting_gate(d)
        await d.pilot.press("r")
        by_key = await d.on_screen(ReasonModal)
        asked = (by_key.question, by_key.prompt, by_key.required)
        await d.pilot.press("escape")
        await d.on_screen(MainScreen)
        await d.pilot.pause(0.35)  # past the debounce of the key's reject

        await d.pilot.press("ctrl+p")
        palette = await d.on_screen(CommandPalette)
        await d.pilot.press(*"Reject", "space", *"gate")
        hits = palette.query_one(CommandList)
        await d.until(lambda: hits.option_count > 0)
        await d.pilot.press("down", "enter")
        by_palette = await d.on_screen(ReasonModal)
        assert (by_palette.question, by_palette.prompt, by_palette.required) == asked
        assert asked[0] == f"Reject gate {gate}?"
        await d.pilot.press(*"no")
        await d.pilot.press("enter")
        await d.until(lambda: d.audit("gate_decided"))
        note = await d.until(lambda: notes_about(d, f"rejected {gate}"))
        assert note[0][2].startswith(f"rejected {gate} (up: ") and note[0][2].endswith("): no")
        assert [(r["approved"], r["reason"]) for r in d.audit("gate_decided")] == [(False, "no")]


@pytest.mark.parametrize("read_only", [False, True])
async def test_the_palette_offers_what_the_keys_would_do_now(
    tmp_path: Path, read_only: bool
) -> None:
    async with dashboard(tmp_path, [sleeper("s")], read_only=read_only) as d:
        await d.ready("s")
        await d.shows("s", {"running"})
        offered = {text for text, _, _ in swarm_commands(d.app)}
        acting = {"EMERGENCY STOP ALL agents", "Kill agent s", "Pause agent s", "Restart agent s"}
        assert "Open agent s" in offered and "Resume agent s" not in offered
        assert offered & acting == (set() if read_only else acting)
