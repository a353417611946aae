"""The words of an action's result: what `controlroom kill` & co print and the toasts show.

Both surfaces call ``controlroom.text.operator`` (the CLI: ``cli.control``; the
dashboard: ``tui.actions.Operator``), so pinning the sentences here pins both;
``test_cli_control`` checks the CLI prints them against a real control room.
"""

from __future__ import annotations

import pytest

from controlroom.models.state import AgentState, GateKind, GateState
from controlroom.models.views import (
    AgentStateView,
    GateDecisionView,
    GateView,
    KillView,
    ProcessesView,
    StopAllView,
)
from controlroom.text import counted, refusals
from controlroom.text import operator as words


@pytest.mark.parametrize(
    ("processes", "survivors", "text"),
    [
        (1, 0, "killed a: 1 process in 12 ms, 0 survivors"),
        (3, 1, "killed a: 3 processes in 12 ms, 1 survivor"),
        (0, 2, "killed a: 0 processes in 12 ms, 2 survivors"),
    ],
)
def test_a_kill_says_its_processes_and_survivors_in_proper_plurals(
    processes: int, survivors: int, text: str
) -> None:
    view = KillView(agent="a", processes=processes, survivors=survivors, duration_ms=12.345)
    assert words.killed(view) == text


def test_stop_all_pause_resume_restart() -> None:
    one = StopAllView(stopped=1, survivors=0, duration_ms=40.6)
    assert words.stop_all_summary(one) == "1 agent stopped in 41 ms, 0 survivors"
    three = StopAllView(stopped=3, survivors=1, duration_ms=5001.0)
    assert words.stop_all_summary(three) == "3 agents stopped in 5001 ms, 1 survivor"
    assert words.paused(ProcessesView(agent="a", processes=1)) == "paused a (1 process stopped)"
    resumed = words.resumed(ProcessesView(agent="a", processes=4))
    assert resumed == "resumed a (4 processes continued)"
    back = AgentStateView(agent="a", state=AgentState.RUNNING)
    assert words.restarted(back) == "restarted a (now running)"


def test_a_breaker_reset_says_how_to_restart_where_it_is_read() -> None:
    failed = AgentStateView(agent="a", state=AgentState.FAILED)
    assert words.breaker_reset(failed) == "breaker of a reset, now failed (R restarts it)"
    cli = words.breaker_reset(failed, restart="'controlroom restart a'")
    assert cli == "breaker of a reset, now failed ('controlroom restart a' restarts it)"
    running = AgentStateView(agent="a", state=AgentState.RUNNING)
    assert words.breaker_reset(running, restart="x") == "breaker of a reset, now running"


def test_a_decision_names_the_gate_its_agent_and_why_and_quotes_nothing_raw() -> None:
    decision = GateDecisionView(approved=False, by="uid 0", reason="not\x1b[2J now", at=1.0)
    gate = GateView(
        id="g-1",
        agent="up",
        kind=GateKind.HANDOFF,
        state=GateState.REJECTED,
        title="handoff up → down",
        created=0.0,
        decision=decision,
    )
    assert words.approved(gate) == "approved g-1 (up: handoff up → down)"
    rejected = words.rejected(gate)
    assert rejected.startswith("rejected g-1 (up: handoff up → down): not")
    assert "\x1b" not in rejected and rejected.endswith("now")


def test_a_refusal_has_one_wording_whoever_raises_it() -> None:
    """The swarm, the radar's diff and a screen that can tell first all raise these words."""
    assert refusals.unknown_agent("x", ["a", "b"]) == "unknown agent 'x' (agents: a, b)"
    assert refusals.unknown_agent("x", []) == "unknown agent 'x' (agents: none)"
    assert refusals.unknown_gate("g-0", []) == "no gate 'g-0' (pending: none)"
    assert refusals.gate_decided("g-1", GateState.APPROVED) == "gate g-1 is already approved"
    paused = refusals.not_in_state("a", AgentState.PAUSED, "running")
    assert paused == "agent 'a' is paused, not running"
    assert refusals.read_only("stop_all") == "read-only: stop all is not allowed"


@pytest.mark.parametrize(
    ("count", "noun", "plural", "text"),
    [
        (1, "orphan", "", "1 orphan"),
        (0, "orphan", "", "0 orphans"),
        (2, "leftover cgroup", "", "2 leftover cgroups"),
        (1, "discrepancy", "discrepancies", "1 discrepancy"),
        (3, "discrepancy", "discrepancies", "3 discrepancies"),
    ],
)
def test_one_way_to_say_how_many(count: int, noun: str, plural: str, text: str) -> None:
    assert counted(count, noun, plural) == text
