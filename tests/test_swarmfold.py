"""The replay's fold equals the live dashboard: same events, same code, same picture.

A real swarm (a handoff through a human gate, an agent-asked gate that is
rejected, a runaway stopped by its token cap, a fast agent) runs to its end;
then its audit file alone is folded (policy/swarmfold.py) and compared with
the supervisor's own snapshot at that moment: states, reasons, attempts,
breakers, handoffs, meters, totals, the gate queue, the handoff timeline.
Midway, the fold stopped at a gate's request shows that gate pending.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from swarmkit import agent_cmd, swarm

from controlroom.models import AgentSpec, AgentState, Budget, GateState
from controlroom.policy.swarmfold import SwarmFold
from controlroom.store.async_queries import events_since

_METER_KEYS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "turns",
    "cost_usd",
    "budget",
)


def _agents() -> list[AgentSpec]:
    return [
        AgentSpec(name="up", command=agent_cmd("well_behaved", "design", "0.01")),
        AgentSpec(
            name="down",
            command=agent_cmd("well_behaved", "{handoff}", "0.01"),
            after=["up"],
            gate="human",
        ),
        AgentSpec(name="asker", command=agent_cmd("gate_asker", "deploy?")),
        AgentSpec(
            name="spender",
            command=agent_cmd("runaway", "200"),
            budget=Budget(max_tokens=5_000, kill_grace_seconds=1),
        ),
    ]


def _comparable(snapshot: dict[str, Any]) -> dict[str, Any]:
    agents = {
        a["name"]: {
            **{
                k: a[k]
                for k in ("state", "reason", "format", "after", "attempt", "handoff", "changes")
            },
            "held": (a["containment"]["mode"], a["containment"]["sandbox"]),
            "breaker_open": a["breaker_open"],
            "alive": a["pid"] is not None,
            "meter": {k: a["meter"][k] for k in _METER_KEYS},
            "limits": [(lim["limit"], lim["value"], lim["cap"]) for lim in a["meter"]["limits"]],
        }
        for a in snapshot["agents"]
    }
    totals = {k: v for k, v in snapshot["totals"].items() if k not in ("tokens_per_minute",)}
    totals.pop("cost_per_hour")
    totals.pop("collisions", None)  # the radar's count: the control API fills it in, not the fold
    handoffs = [{k: v for k, v in h.items() if k != "ts"} for h in snapshot["handoffs"]]
    return {"agents": agents, "totals": totals, "handoffs": handoffs, "gates": snapshot["gates"]}


async def test_the_replayed_run_end_equals_the_live_snapshot(tmp_path: Path) -> None:
    async with swarm(tmp_path, _agents()) as s:
        await s.state("asker", {"gated"})
        await s.state("spender", {"budget_stopped"})
        await s.state("up", {"gated"})
        gates = {g.agent: g for g in s.sup.gates.pending()}
        await s.sup.decide_gate(gates["up"].id, True, "tester", "looks right")
        await s.sup.decide_gate(gates["asker"].id, False, "tester", "not today")
        await s.wait(30)  # False: not every agent succeeded, by design
        await s.sup.bus.flush()
        live = s.sup.view().model_dump(mode="json")
        events = await events_since(s.db, s.run_id, 0, limit=100_000)

    fold = SwarmFold()
    requested_at: int | None = None
    for index, event in enumerate(events):
        fold.apply(event)
        if event.kind == "gate_requested" and event.agent == "up":
            requested_at = index
    replayed = fold.view().model_dump(mode="json")  # the same typed view the live API serves
    assert replayed["swarm"] == live["swarm"] and replayed["run"] == live["run"]
    assert [a["name"] for a in replayed["agents"]] == [a["name"] for a in live["agents"]]
    assert _comparable(replayed) == _comparable(live)
    states = {a["name"]: a["state"] for a in replayed["agents"]}
    assert states == {"up": "done", "down": "done", "asker": "failed", "spender": "budget_stopped"}
    assert [h["state"] for h in replayed["handoffs"]] == ["approved"]

    # Stopped at the gate's request, the fold shows it pending and the agent gated.
    assert requested_at is not None
    midway = SwarmFold()
    for event in events[: requested_at + 1]:
        midway.apply(event)
    picture = midway.view()
    assert [g.agent for g in picture.gates if g.kind == "handoff"] == ["up"]
    assert picture.totals.pending_gates == len(picture.gates) >= 1
    up = picture.agent("up")
    assert up is not None and up.state is AgentState.GATED
    assert picture.handoffs[0].state == GateState.PENDING


def test_a_fold_of_nothing_is_an_empty_swarm() -> None:
    picture = SwarmFold().view()
    assert picture.agents == [] and picture.gates == []
    assert picture.totals.total_tokens == 0
