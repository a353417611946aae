"""Every key path of the dashboard, pressed under Pilot, with real agent processes underneath.

Each test builds the dashboard the way ``controlroom tui`` does (a real
``LocalSession``: audit store, supervisor, control socket; ``ControlRoomApp``
over its ``LocalPort``; see ``tui_harness.dashboard``), presses keys, and
checks what an operator relies on: the processes (psutil), the audit log on
disk, the supervisor's state, and what the screen shows.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import psutil
import pytest
from swarmkit import agent_cmd, frozen, sleeper
from textual.widgets import Input, Log
from tui_harness import (
    STOP_ALL_SUMMARY,
    Dash,
    banner_text,
    dashboard,
    fast,
    isolated_config,  # noqa: F401 - a fixture
    tree_alive,
)

from controlroom.models import AgentSpec, Breaker, Budget
from controlroom.tui.screens.agent import AgentScreen
from controlroom.tui.screens.audit import AuditScreen
from controlroom.tui.screens.budget import BudgetModal
from controlroom.tui.screens.confirm import ConfirmModal
from controlroom.tui.screens.emergency import EmergencyStopModal
from controlroom.tui.screens.gate import GateScreen
from controlroom.tui.screens.help import HelpRow, HelpScreen
from controlroom.tui.screens.main import MainScreen
from controlroom.tui.screens.reason import ReasonModal
from controlroom.tui.themes import builtin_theme_dir
from controlroom.tui.widgets.gate_queue import GateQueue
from controlroom.tui.widgets.header import SwarmHeader

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("isolated_config")]


def tree(name: str) -> AgentSpec:
    """A 4-process tree that waits for signals (reports its pids in a "ready" status)."""
    return AgentSpec(name=name, command=agent_cmd("tree4"), budget=Budget(kill_grace_seconds=2))


async def tree_pids(d: Dash, agent: str) -> list[int]:
    """The four pids tree4 reported, from its "ready" status in the audit log."""

    def ready() -> list[int] | None:
        for row in d.audit("status"):
            if row["agent"] == agent and row["text"] == "ready":
                return [int(p) for p in row["extra"]["pids"]]
        return None

    pids = await d.until(ready)
    assert len(pids) == 4
    return pids


def statuses(pids: list[int]) -> list[str]:
    return [psutil.Process(pid).status() for pid in pids]


async def type_text(d: Dash, text: str) -> None:
    await d.pilot.press(*["space" if ch == " " else ch for ch in text])


def gates_label(d: Dash) -> str:
    return str(d.main.query_one("#header", SwarmHeader).query_one("#hdr-gates").render())


# --------------------------------------------------------------------------- gates


async def test_a_approves_the_waiting_handoff_and_the_downstream_starts(tmp_path: Path) -> None:
    async with dashboard(tmp_path, [fast("up"), fast("down", after=["up"], gate="human")]) as d:
        await d.ready("up", "down")
        await d.shows("up", {"gated"})
        await d.until(lambda: "1 GATE WAITING" in gates_label(d))
        assert [r for r in d.audit("agent_spawned") if r["agent"] == "down"] == []

        await d.pilot.press("a")
        await d.until(lambda: any(r["agent"] == "down" for r in d.audit("agent_spawned")))
        decided = d.audit("gate_decided")
        assert [(r["agent"], r["approved"]) for r in decided] == [("up", True)]
        await d.shows("down", {"running", "done"})
        await d.until(lambda: gates_label(d) == "no gates waiting")
        assert any(n.message.startswith("approved g-") for n in d.notes)


async def test_r_with_a_reason_reruns_the_upstream_on_retry(tmp_path: Path) -> None:
    agents = [fast("up"), fast("down", after=["up"], gate="human", on_reject="retry")]
    async with dashboard(tmp_path, agents) as d:
        await d.ready("up", "down")
        await d.shows("up", {"gated"})
        await d.pilot.press("r")
        await d.until(lambda: isinstance(d.app.screen, ReasonModal))
        await d.pilot.press("enter")  # a reason is required: refused, still asking
        await d.pilot.pause()
        assert isinstance(d.app.screen, ReasonModal) and d.audit("gate_decided") == []
        await type_text(d, "add the missing tests")
        await d.pilot.press("enter")

        def second_spawn() -> dict[str, Any] | None:
            ups = [r for r in d.audit("agent_spawned") if r["agent"] == "up"]
            return ups[1] if len(ups) > 1 else None

        spawn = await d.until(second_spawn)
        assert spawn["attempt"] == 2
        assert any("add the missing tests" in arg for arg in spawn["argv"]), spawn["argv"]
        decided = d.audit("gate_decided")
        assert [(r["approved"], r["reason"]) for r in decided] == [(False, "add the missing tests")]
        assert [r for r in d.audit("agent_spawned") if r["agent"] == "down"] == []
        await d.shows("up", {"gated"})  # its second handoff waits again


async def test_r_with_a_reason_stops_the_branch_on_stop(tmp_path: Path) -> None:
    agents = [fast("up"), fast("down", after=["up"], gate="human", on_reject="stop")]
    async with dashboard(tmp_path, agents) as d:
        await d.ready("up", "down")
        await d.shows("up", {"gated"})
        await d.pilot.press("r")
        await d.until(lambda: isinstance(d.app.screen, ReasonModal))
        await type_text(d, "wrong approach")
        await d.pilot.press("enter")
        await d.shows("up", {"failed"})
        await d.shows("down", {"blocked"})
        assert (d.state("up"), d.state("down")) == ("failed", "blocked")
        assert len([r for r in d.audit("agent_spawned") if r["agent"] == "up"]) == 1
        assert [r for r in d.audit("agent_spawned") if r["agent"] == "down"] == []


async def test_g_focuses_the_gate_queue_and_enter_opens_the_gate(tmp_path: Path) -> None:
    async with dashboard(tmp_path, [fast("up"), fast("down", after=["up"], gate="human")]) as d:
        await d.ready("up", "down")
        await d.shows("up", {"gated"})
        queue = d.main.query_one("#gates", GateQueue)
        await d.until(lambda: queue.row_count == 1)
        assert d.app.focused is not queue
        await d.pilot.press("g")
        await d.until(lambda: d.app.focused is queue)
        await d.pilot.press("enter")
        screen = await d.on_screen(GateScreen)
        assert screen.gate.agent == "up" and screen.gate.kind == "handoff"
        await d.pilot.press("escape")
        await d.until(lambda: isinstance(d.app.screen, MainScreen))


# --------------------------------------------------------------------------- kill, stop all


async def test_x_and_confirm_leaves_no_process_of_the_agent(tmp_path: Path) -> None:
    async with dashboard(tmp_path, [tree("tree"), sleeper("bystander")]) as d:
        await d.ready("tree", "bystander")
        pids = await tree_pids(d, "tree")
        await d.shows("tree", {"running"})
        await d.select("tree")
        await d.pilot.press("x")
        modal = await d.on_screen(ConfirmModal)
        assert "tree" in modal.question
        assert tree_alive(pids) == pids  # asking kills nothing
        await d.pilot.press("y")
        await d.until(lambda: tree_alive(pids) == [], timeout=10)
        await d.shows("tree", {"killed"})
        assert d.state("bystander") == "running"
        completed = d.audit("kill_completed")
        assert [(r["agent"], r["survivors"]) for r in completed] == [("tree", 0)]


@pytest.mark.parametrize("key", ["ctrl+x", "X"])
async def test_emergency_stop_stops_every_agent_and_says_so(tmp_path: Path, key: str) -> None:
    agents = [tree("t1"), sleeper("s1"), sleeper("s2")]
    async with dashboard(tmp_path, agents) as d:
        await d.ready("t1", "s1", "s2")
        pids = await tree_pids(d, "t1")
        for name in ("s1", "s2", "t1"):
            await d.shows(name, {"running"})
        spawned = [int(r["pid"]) for r in d.audit("agent_spawned")]
        await d.pilot.press(key)
        modal = await d.on_screen(EmergencyStopModal)
        assert "3 running of 3" in str(modal.query_one("#emergency-count").render())
        assert d.session.supervisor is not None
        assert all(r.state == "running" for r in d.session.supervisor.runners.values())
        await d.pilot.press("enter")
        match = await d.until(lambda: STOP_ALL_SUMMARY.search(banner_text(d.app)))
        assert int(match.group(1)) == 3 and int(match.group(3)) == 0, banner_text(d.app)
        assert match.group(0) in " ".join(d.texts())  # the toast says it too
        assert tree_alive(pids + spawned) == []
        assert {d.state(n) for n in ("t1", "s1", "s2")} == {"killed"}


async def test_a_held_x_acts_once(tmp_path: Path) -> None:
    async with dashboard(tmp_path, [sleeper("s"), sleeper("other")]) as d:
        await d.ready("s", "other")
        await d.shows("s", {"running"})
        await d.select("s")
        await d.pilot.press("x", "x", "x")  # a key held down: repeats within the debounce
        await d.until(lambda: isinstance(d.app.screen, ConfirmModal))
        await d.pilot.pause(0.1)
        assert sum(isinstance(s, ConfirmModal) for s in d.app.screen_stack) == 1
        await d.pilot.press("y")
        await d.until(lambda: d.audit("kill_completed"))
        await d.until(lambda: isinstance(d.app.screen, MainScreen))
        assert [r["agent"] for r in d.audit("kill_requested")] == ["s"]
        assert d.state("other") == "running"


# --------------------------------------------------------------------------- pause, restart, reset


async def test_p_pauses_the_whole_tree_and_p_again_resumes(tmp_path: Path) -> None:
    async with dashboard(tmp_path, [tree("tree")]) as d:
        await d.ready("tree")
        pids = await tree_pids(d, "tree")
        await d.shows("tree", {"running"})
        await d.select("tree")
        pressed = asyncio.get_running_loop().time()
        await d.pilot.press("p")
        await d.until(lambda: all(frozen(psutil.Process(pid)) for pid in pids))
        await d.shows("tree", {"paused"})
        # p again once the screen says paused and the debounce (0.3 s) is over
        await d.until(lambda: asyncio.get_running_loop().time() - pressed > 0.35)
        await d.pilot.press("p")
        await d.until(lambda: not any(frozen(psutil.Process(pid)) for pid in pids))
        await d.shows("tree", {"running"})
        assert [r["kind"] for r in d.audit() if r["kind"] in ("agent_paused", "agent_resumed")] == [
            "agent_paused",
            "agent_resumed",
        ]


async def test_shift_r_on_a_budget_stopped_agent_asks_a_new_budget_and_restarts(
    tmp_path: Path,
) -> None:
    runaway = AgentSpec(
        name="runaway",
        command=agent_cmd("runaway", "50"),
        budget=Budget(max_tokens=5000, kill_grace_seconds=1),
    )
    async with dashboard(tmp_path, [runaway]) as d:
        await d.ready("runaway")
        await d.shows("runaway", {"budget_stopped"}, timeout=15)
        await d.select("runaway")
        await d.pilot.press("R")
        modal = await d.on_screen(BudgetModal)
        tokens = modal.query_one("#budget-max_tokens", Input)
        assert tokens.value == "5000"
        tokens.focus()
        await d.pilot.press("end", "0", "0", "0", "0")  # 5000 → 50,000,000
        await d.pilot.press("enter")

        def restarted() -> list[dict[str, Any]]:
            return [r for r in d.audit("operator_action") if r["action"] == "restart"]

        actions = await d.until(restarted)
        assert actions[0]["agent"] == "runaway"
        assert actions[0]["detail"]["new_budget"]["max_tokens"] == 50_000_000
        await d.until(lambda: len(d.audit("agent_spawned")) == 2)
        await d.shows("runaway", {"running"})
        assert d.session.supervisor is not None
        meter = d.session.supervisor.view().agents[0].meter
        assert meter is not None and meter.budget.max_tokens == 50_000_000


async def test_b_resets_an_open_breaker(tmp_path: Path) -> None:
    looping = AgentSpec(
        name="loop",
        command=agent_cmd("repeats_tool", "0.01"),
        breaker=Breaker(restart="never", repeat_limit=2),
        budget=Budget(kill_grace_seconds=1),
    )
    async with dashboard(tmp_path, [looping]) as d:
        await d.ready("loop")
        await d.shows("loop", {"breaker_open"}, timeout=15)
        await d.until(lambda: d.table.cell_text("loop", "breaker") == "OPEN")
        await d.select("loop")
        await d.pilot.press("b")
        resets = await d.until(lambda: d.audit("breaker_reset"))
        assert [r["agent"] for r in resets] == ["loop"]
        await d.until(lambda: d.table.cell_text("loop", "breaker") == "ok")
        assert any(n.message.startswith("breaker of loop reset") for n in d.notes)


# --------------------------------------------------------------------------- view keys


async def test_slash_filter_narrows_the_rows_and_escape_clears(tmp_path: Path) -> None:
    async with dashboard(tmp_path, [sleeper("alpha"), sleeper("beta"), sleeper("gamma")]) as d:
        await d.ready("alpha", "beta", "gamma")
        assert d.table.rows == ["alpha", "beta", "gamma"]
        await d.pilot.press("slash")
        await d.until(lambda: isinstance(d.app.focused, Input))
        await type_text(d, "al")
        await d.until(lambda: d.table.rows == ["alpha"])
        assert "filter: 'al'" in str(d.table.border_title)
        await d.pilot.press("escape")
        await d.until(lambda: d.table.rows == ["alpha", "beta", "gamma"])


async def test_s_cycles_the_sort_and_reorders(tmp_path: Path) -> None:
    async with dashboard(tmp_path, [fast("alpha"), sleeper("zulu")]) as d:
        await d.ready("alpha", "zulu")
        await d.shows("alpha", {"done"})
        await d.shows("zulu", {"running"})
        assert d.table.sort_column == "attention"
        assert d.table.rows == ["zulu", "alpha"]  # running needs the operator before done
        await d.pilot.press("s")
        await d.until(lambda: d.table.sort_column == "name")
        assert d.table.rows == ["alpha", "zulu"]
        assert "sort: name" in str(d.table.border_title)


async def test_t_cycles_through_the_shipped_themes(tmp_path: Path) -> None:
    shipped = {p.stem for p in builtin_theme_dir().glob("*.toml")}
    assert len(shipped) == 3
    async with dashboard(tmp_path, [sleeper("s")]) as d:
        await d.ready("s")
        seen = [d.app.theme]
        assert seen == ["control-room"]
        for _ in range(3):
            await d.pilot.press("t")
            await d.until(lambda: d.app.theme != seen[-1])
            seen.append(d.app.theme)
        assert set(seen) == shipped and seen[3] == seen[0], seen
        assert d.app.theme_variables["status-running"]  # the theme's own variables are live


async def test_question_mark_opens_help_with_the_bindings(tmp_path: Path) -> None:
    async with dashboard(tmp_path, [sleeper("s")]) as d:
        await d.ready("s")
        await d.pilot.press("question_mark")
        help_screen = await d.on_screen(HelpScreen)
        rows = {row.entry.binding_id: row.entry for row in help_screen.query(HelpRow)}
        wanted = {
            "approve-gate", "reject-gate", "kill-agent", "pause-agent", "restart-agent",
            "stop-all", "focus-gates", "filter", "sort", "audit-log", "help",
        }  # fmt: skip
        assert wanted <= rows.keys(), wanted - rows.keys()
        assert rows["kill-agent"].key == "x" and rows["kill-agent"].destructive
        assert rows["approve-gate"].section == "Gates" and not rows["approve-gate"].destructive
        await d.pilot.press("escape")
        await d.until(lambda: isinstance(d.app.screen, MainScreen))


async def test_help_lists_q_to_quit_under_view(tmp_path: Path) -> None:
    async with dashboard(tmp_path, [sleeper("s")]) as d:
        await d.ready("s")
        await d.pilot.press("question_mark")
        help_screen = await d.on_screen(HelpScreen)
        rows = {row.entry.binding_id: row.entry for row in help_screen.query(HelpRow)}
        assert rows["quit"].key == "q/^q" and rows["quit"].section == "View"  # ctrl+q asks too


async def test_l_opens_the_audit_log(tmp_path: Path) -> None:
    async with dashboard(tmp_path, [fast("worker")]) as d:
        await d.ready("worker")
        await d.shows("worker", {"done"})
        await d.pilot.press("l")
        screen = await d.on_screen(AuditScreen)
        log = screen.query_one("#audit-log", Log)
        await d.until(lambda: any("run_started" in line for line in log.lines))
        assert any("worker" in line and "agent_spawned" in line for line in log.lines)
        await d.pilot.press("escape")
        await d.until(lambda: isinstance(d.app.screen, MainScreen))


async def test_enter_opens_the_selected_agent(tmp_path: Path) -> None:
    async with dashboard(tmp_path, [sleeper("alpha"), sleeper("beta")]) as d:
        await d.ready("alpha", "beta")
        await d.select("beta")
        await d.pilot.press("enter")
        screen = await d.on_screen(AgentScreen)
        assert screen.agent_name == "beta"
        await d.pilot.press("escape")
        await d.until(lambda: isinstance(d.app.screen, MainScreen))


# --------------------------------------------------------------------------- read-only

READ_ONLY_KEYS = ["x", "X", "ctrl+x", "a", "r", "p", "R", "b"]

_READ_ONLY_AGENTS = [tree("tree"), fast("up"), fast("down", after=["up"], gate="human")]
_CHANGES = {
    "kill_requested",
    "gate_decided",
    "agent_paused",
    "agent_resumed",
    "operator_action",
    "breaker_reset",
}


async def test_read_only_refuses_every_mutating_key(tmp_path: Path) -> None:
    async with dashboard(tmp_path, _READ_ONLY_AGENTS, read_only=True) as d:
        await d.ready("tree", "up", "down")
        pids = await tree_pids(d, "tree")
        await d.shows("up", {"gated"})
        await d.shows("tree", {"running"})
        await d.select("tree")
        header = d.main.query_one("#header", SwarmHeader).query_one("#hdr-readonly")
        assert not header.has_class("-hidden")  # READ-ONLY is on screen
        for key in READ_ONLY_KEYS:
            await d.pilot.press(key)
            await d.pilot.pause(0.3)  # an absence: give a wrong reaction time to show
            assert isinstance(d.app.screen, MainScreen), (key, d.app.screen)
            assert tree_alive(pids) == pids, key
            assert not any(frozen(psutil.Process(pid)) for pid in pids), key
            states = (d.state("tree"), d.state("up"), d.state("down"))
            assert states == ("running", "gated", "pending"), (key, states)
            assert [r["kind"] for r in d.audit() if r["kind"] in _CHANGES] == [], key


async def test_read_only_says_why_a_key_did_nothing(tmp_path: Path) -> None:
    async with dashboard(tmp_path, [sleeper("s")], read_only=True) as d:
        await d.ready("s")
        await d.shows("s", {"running"})
        await d.pilot.press("x")
        note = await d.until(
            lambda: next((n for n in d.notes if "read-only" in n.message), None), timeout=1
        )
        assert (note.message, note.severity) == ("read-only: kill is not allowed", "warning")
        assert isinstance(d.app.screen, MainScreen)  # nothing else happened: no confirm
        assert d.state("s") == "running"
        shown = {b.binding.action for b in d.main.active_bindings.values()}
        assert not shown & {"kill_agent", "stop_all", "approve_gate", "reject_gate"}, shown


async def test_a_modal_pauses_the_refresh_and_closing_it_refreshes_at_once(
    tmp_path: Path,
) -> None:
    async with dashboard(tmp_path, [sleeper("s")]) as d:
        await d.ready("s")
        await d.shows("s", {"running"})
        await d.select("s")
        # The refresh at its quickest, 4 Hz, whatever a refresh costs on this machine: this
        # test is of the modal's pause, not the pace (test_tui_pace), and a loaded machine's
        # dearer refreshes had slowed it to 1 Hz (one tick in the second below, CI seed
        # unknown).
        d.main.pace.budget = math.inf
        await d.pilot.press("x")
        await d.on_screen(ConfirmModal)
        await d.pilot.pause(0.1)
        covered = d.main.refreshes
        await d.pilot.pause(0.8)  # three ticks' worth: none may come
        assert d.main.refreshes == covered
        await d.pilot.press("n")
        await d.until(lambda: isinstance(d.app.screen, MainScreen))
        await d.until(lambda: d.main.refreshes > covered, timeout=1)
        back = d.main.refreshes
        await d.pilot.pause(1.0)
        assert 2 <= d.main.refreshes - back <= 5  # one 4 Hz tick again, not two
        assert d.state("s") == "running"


def test_keys_module_agrees_with_the_tests() -> None:
    """The keys pressed above are the ones keys.py binds (a rename must update the tests)."""
    from controlroom.tui.keys import KEYS

    bound = {k for spec in KEYS.values() for k in spec.key.split(",")}
    assert {"a", "r", "x", "X", "ctrl+x", "p", "R", "b", "slash", "s", "t"} <= bound
    assert {"question_mark", "l", "enter", "g"} <= bound


def test_every_key_that_changes_the_swarm_names_the_command_it_sends() -> None:
    """Read-only hides and refuses exactly the keys that send a command, in the API's words."""
    from controlroom.control.calls import COMMANDS
    from controlroom.tui.actions import refusal
    from controlroom.tui.keys import DESTRUCTIVE, KEYS, MUTATING, READ_ONLY_REFUSALS

    assert DESTRUCTIVE <= MUTATING
    assert set(READ_ONLY_REFUSALS.values()) == COMMANDS - {"resume"}  # p resumes, by pause
    assert {KEYS[i].action for i in MUTATING} == set(READ_ONLY_REFUSALS)
    assert refusal(READ_ONLY_REFUSALS["stop_all"]) == "read-only: stop all is not allowed"
