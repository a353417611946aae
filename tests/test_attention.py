"""Attention order: who needs the operator comes first, at 60 agents, on the first screen.

The ranking itself is pure (policy.attention); the Pilot test runs a real
swarm of 60 agents (56 cheap ``sleep`` processes, two gate askers, one tool
loop that opens its breaker, one agent that spends 85 % of its tokens) under
the real dashboard in a 200×50 terminal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from swarmkit import agent_cmd, inline_cmd
from tui_harness import dashboard

from controlroom.models import AgentSpec, AgentState, Breaker, Budget
from controlroom.models.attention import ATTENTION_ORDER, Attention
from controlroom.policy.attention import attention_key, attention_of, count_by_attention
from controlroom.tui.view_memory import ViewChoice, ViewMemory
from controlroom.tui.widgets.attention_bar import AttentionBar

# --------------------------------------------------------------------------- the ranking


@pytest.mark.parametrize(
    ("state", "group"),
    [
        (AgentState.GATED, Attention.GATE),
        (AgentState.BREAKER_OPEN, Attention.BREAKER),
        (AgentState.BUDGET_STOPPED, Attention.BUDGET),
        (AgentState.FAILED, Attention.FAILED),
        (AgentState.BLOCKED, Attention.FAILED),
        (AgentState.STARTING, Attention.RUNNING),
        (AgentState.RUNNING, Attention.RUNNING),
        (AgentState.STOPPING, Attention.RUNNING),
        (AgentState.PAUSED, Attention.IDLE),
        (AgentState.PENDING, Attention.IDLE),
        (AgentState.DONE, Attention.DONE),
        (AgentState.KILLED, Attention.DONE),
    ],
)
def test_every_state_has_its_group(state: AgentState, group: Attention) -> None:
    assert attention_of(state) is group


def test_a_live_agent_past_80_percent_of_its_budget_ranks_above_a_failure() -> None:
    assert attention_of("running", budget_fraction=0.79) is Attention.RUNNING
    assert attention_of("running", budget_fraction=0.80) is Attention.BUDGET
    assert attention_of("paused", budget_fraction=0.95) is Attention.BUDGET
    assert attention_of("done", budget_fraction=0.95) is Attention.DONE  # ended: how it ended
    assert attention_of("failed", budget_fraction=0.95) is Attention.FAILED
    assert Attention.BUDGET.rank < Attention.FAILED.rank


def test_gate_beats_breaker_and_an_unknown_state_is_a_failure() -> None:
    assert attention_of("gated", breaker_open=True) is Attention.GATE
    assert attention_of("running", breaker_open=True) is Attention.BREAKER
    assert attention_of("no-such-state") is Attention.FAILED


def test_order_inside_a_group_is_fuller_budget_then_name() -> None:
    agents = [("b", "running", 0.1), ("a", "running", 0.1), ("c", "running", 0.5), ("d", "done", 0)]
    ranked = sorted(agents, key=lambda a: attention_key(a[0], a[1], budget_fraction=a[2]))
    assert [a[0] for a in ranked] == ["c", "a", "b", "d"]


def test_counts_name_every_group() -> None:
    counts = count_by_attention([Attention.GATE, Attention.GATE, Attention.DONE])
    assert list(counts) == list(ATTENTION_ORDER)
    assert counts[Attention.GATE] == 2 and counts[Attention.DONE] == 1
    assert counts[Attention.RUNNING] == 0


# --------------------------------------------------------------------------- memory


def test_the_view_is_remembered_per_swarm(tmp_path: Path) -> None:
    path = tmp_path / "state" / "views.json"
    ViewMemory(path).remember("alpha", ViewChoice(sort="cost", group=Attention.GATE))
    ViewMemory(path).remember("beta", ViewChoice(sort="name"))
    assert ViewMemory(path).recall("alpha") == ViewChoice(sort="cost", group=Attention.GATE)
    assert ViewMemory(path).recall("beta") == ViewChoice(sort="name", group=None)
    assert ViewMemory(path).recall("gamma") == ViewChoice()


def test_an_unreadable_memory_is_reported_by_file_and_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "views.json"
    path.write_text("{not json", encoding="utf-8")
    memory = ViewMemory(path)
    assert memory.recall("alpha") == ViewChoice()
    assert memory.problem is not None and str(path) in memory.problem
    memory.remember("alpha", ViewChoice(group=Attention.FAILED))  # rewritten whole
    assert json.loads(path.read_text())["swarms"]["alpha"]["group"] == "failed"


# --------------------------------------------------------------------------- 60 agents


def _sixty() -> list[AgentSpec]:
    quiet = [
        AgentSpec(name=f"a{i:02d}", command=["sleep", "60"], format="plain") for i in range(56)
    ]
    spend = json.dumps({"type": "usage", "input_tokens": 800, "output_tokens": 50})
    return [
        *quiet,
        AgentSpec(name="z-gate-1", command=agent_cmd("gate_asker", "first?")),
        AgentSpec(name="z-gate-2", command=agent_cmd("gate_asker", "second?")),
        AgentSpec(
            name="z-loop",
            command=agent_cmd("repeats_tool", "0.01"),
            breaker=Breaker(restart="never", repeat_limit=2),
            budget=Budget(kill_grace_seconds=1),
        ),
        AgentSpec(
            name="z-spender",
            command=inline_cmd(f"import time; print({spend!r}, flush=True); time.sleep(60)"),
            budget=Budget(max_tokens=1000),
        ),
    ]


async def test_sixty_agents_the_four_that_need_the_operator_come_first(tmp_path: Path) -> None:
    needy = ["z-gate-1", "z-gate-2", "z-loop", "z-spender"]
    async with dashboard(tmp_path, _sixty(), size=(200, 50)) as d:
        await d.ready(*needy, timeout=60)
        await d.shows("z-loop", {"breaker_open"}, timeout=60)
        await d.until(lambda: d.table.rows[:4] == needy, timeout=60)
        assert d.table.sort_column == "attention" and len(d.table.rows) == 60
        # on the first screen: no scrolling, and the table shows more than those four rows
        assert round(d.table.scroll_y) == 0
        assert d.table.scrollable_content_region.height - 1 >= len(needy)
        bar = d.main.query_one("#attention", AttentionBar)
        await d.until(lambda: bar.label_text(Attention.GATE) == "1 ◆ 2 gate")
        assert bar.label_text(Attention.BREAKER) == "2 ⊘ 1 breaker"
        assert bar.label_text(Attention.BUDGET) == "3 $ 1 budget"
        assert d.table.cell_text("z-spender", "budget").endswith("85% tok")

        await d.pilot.press("1")  # only the gates
        await d.until(lambda: d.table.rows == ["z-gate-1", "z-gate-2"])
        assert "only: gate" in str(d.table.border_title)
        await d.pilot.press("1")  # the same key again: every agent
        await d.until(lambda: len(d.table.rows) == 60)
        await d.pilot.click("#att-breaker")  # a click on a count filters too
        await d.until(lambda: d.table.rows == ["z-loop"])
        assert d.app.view_memory.recall("tui") == ViewChoice(group=Attention.BREAKER)
        await d.pilot.press("escape")
        await d.until(lambda: len(d.table.rows) == 60)
        assert d.app.view_memory.recall("tui") == ViewChoice()


async def test_the_remembered_view_is_applied_when_the_swarm_opens(tmp_path: Path) -> None:
    ViewMemory().remember("tui", ViewChoice(sort="name", group=Attention.DONE))
    specs = [
        AgentSpec(name="quick", command=agent_cmd("well_behaved", "quick", "0.01")),
        AgentSpec(name="slow", command=agent_cmd("well_behaved", "slow", "30")),
    ]
    async with dashboard(tmp_path, specs) as d:
        await d.until(lambda: d.main.refreshes > 0 and d.table.sort_column == "name")
        await d.until(lambda: d.table.rows == ["quick"])
        assert d.table.group is Attention.DONE
