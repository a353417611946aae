"""Pipeline, handoffs and gates end to end, through the control API, with real agents.

architect → (human gate) → implementer and tester in parallel (fan-out)
→ (gates) → reviewer (fan-in). A rejection with ``retry`` re-runs the
architect with the reason in its task; the reviewer receives both handoffs
(file and stdin); the whole story is in the audit log, in order, and verifies.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from swarmkit import Swarm, agent_cmd, audit_rows, inline_cmd, sleeper, swarm

from controlroom._errors import ControlError
from controlroom.control.api import ControlAPI
from controlroom.models import AgentSpec, AgentState, Breaker, GateRequested, StatusEvent
from controlroom.models.views import ToolGateView
from controlroom.store.verify import verify_chain

pytestmark = pytest.mark.timeout(60)

REVIEWER = r"""
import json, os, sys
from_file = json.load(open(os.environ["CONTROLROOM_HANDOFF_FILE"]))
from_stdin = json.loads(sys.stdin.readline())
print(json.dumps({"type": "status", "text": "inputs",
                  "file": from_file, "stdin": from_stdin}), flush=True)
print(json.dumps({"type": "handoff", "changed": "reviewed", "next_needs": "ship",
                  "risks": "none"}), flush=True)
"""


def worker(name: str, **kwargs: Any) -> AgentSpec:
    return AgentSpec(
        name=name,
        command=agent_cmd("well_behaved", "{task}", "0.01"),
        task=f"{name} task",
        **kwargs,
    )


async def next_gate(s: Swarm, agent: str, seen: set[str]) -> GateRequested:
    event = await s.log.until(
        lambda e: isinstance(e, GateRequested) and e.agent == agent and e.gate_id not in seen
    )
    assert isinstance(event, GateRequested)
    seen.add(event.gate_id)
    return event


async def test_three_stage_pipeline_with_gates_retry_fan_out_and_fan_in(tmp_path: Path) -> None:
    gated = {"gate": "human", "on_reject": "retry", "max_attempts": 3}
    agents = [
        worker("architect"),
        worker("implementer", after=["architect"], **gated),
        worker("tester", after=["architect"], **gated),
        AgentSpec(
            name="reviewer",
            command=inline_cmd(REVIEWER),
            after=["implementer", "tester"],
            gate="human",
        ),
    ]
    async with swarm(tmp_path, agents) as s:
        api = ControlAPI(s.sup)
        seen: set[str] = set()

        first = await next_gate(s, "architect", seen)
        assert first.gate_kind == "handoff" and first.handoff is not None
        assert first.handoff.changed == "did: architect task"
        assert s.sup.runners["architect"].state == AgentState.GATED
        assert [g.id for g in api.gates()] == [first.gate_id]
        assert s.log.of("agent_spawned", "implementer") == []  # nothing passes a pending gate

        await api.reject(first.gate_id, "add a retry budget", by="alice")
        second = await next_gate(s, "architect", seen)
        spawns = s.spawned("architect")
        assert len(spawns) == 2
        assert "add a retry budget" in spawns[1].argv[2]  # the reason is in the re-run's task
        assert second.handoff is not None and "add a retry budget" in second.handoff.changed

        await api.approve(second.gate_id, "looks right", by="alice")
        impl_gate = await next_gate(s, "implementer", seen)
        test_gate = await next_gate(s, "tester", seen)
        assert {g.agent for g in api.gates()} == {"implementer", "tester"}
        assert s.log.of("agent_spawned", "reviewer") == []  # fan-in waits for both

        await api.approve(impl_gate.gate_id, by="bob")
        await asyncio.sleep(0.2)
        assert s.log.of("agent_spawned", "reviewer") == []
        await api.approve(test_gate.gate_id, by="bob")

        status = await s.log.until(
            lambda e: isinstance(e, StatusEvent) and e.agent == "reviewer" and e.text == "inputs"
        )
        assert await s.wait(10) is True
        received = status.extra
        assert [h["agent"] for h in received["file"]] == ["implementer", "tester"]
        assert received["stdin"] == received["file"]
        assert received["file"][0]["changed"] == "did: implementer task"

        log = api.handoffs()
        entries = [(h.from_, h.to, h.state, h.by) for h in log]
        assert entries[:2] == [
            ("architect", ["implementer", "tester"], "rejected", "alice"),
            ("architect", ["implementer", "tester"], "approved", "alice"),
        ]
        assert sorted(entries[2:]) == [  # the two parallel stages finish in either order
            ("implementer", ["reviewer"], "approved", "bob"),
            ("tester", ["reviewer"], "approved", "bob"),
        ]

    rows = audit_rows(s.db, s.run_id)
    seq_of = {(r["kind"], r.get("gate_id"), r["agent"]): r["seq"] for r in rows}
    decided = [r for r in rows if r["kind"] == "gate_decided"]
    assert [(d["agent"], d["approved"], d["by"]) for d in decided] == [
        ("architect", False, "alice"),
        ("architect", True, "alice"),
        ("implementer", True, "bob"),
        ("tester", True, "bob"),
    ]
    reviewer_spawn = next(
        r["seq"] for r in rows if r["kind"] == "agent_spawned" and r["agent"] == "reviewer"
    )
    assert all(d["seq"] < reviewer_spawn for d in decided)  # committed before the next stage
    assert seq_of[("gate_requested", first.gate_id, "architect")] < decided[0]["seq"]
    result = verify_chain(s.db)
    assert result.ok and result.events == len(rows)


async def test_expired_gate_rejects_and_blocks_the_branch(tmp_path: Path) -> None:
    agents = [
        worker("a"),
        worker("b", after=["a"], gate="human", gate_timeout_seconds=0.3, on_reject="stop"),
        worker("independent"),
    ]
    async with swarm(tmp_path, agents) as s:
        assert await s.wait(10) is False
        states = s.sup.states()
        assert states == {"a": "failed", "b": "blocked", "independent": "done"}
        assert "gate expired" in s.sup.runners["a"].state_reason
        (expired,) = s.log.of("gate_expired", "a")
        assert expired.waited_seconds >= 0.3
        assert "upstream a failed" in s.sup.runners["b"].state_reason
        assert s.log.of("agent_spawned", "b") == []


async def test_reject_with_stop_fails_and_retry_is_bounded(tmp_path: Path) -> None:
    agents = [
        worker("stopper"),
        worker("after_stopper", after=["stopper"], gate="human", on_reject="stop"),
        worker("retrier"),
        worker("after_retrier", after=["retrier"], gate="human", on_reject="retry", max_attempts=2),
    ]
    async with swarm(tmp_path, agents) as s:
        api = ControlAPI(s.sup)
        seen: set[str] = set()
        gate = await next_gate(s, "stopper", seen)
        await api.reject(gate.gate_id, "wrong approach")
        for _ in range(2):
            gate = await next_gate(s, "retrier", seen)
            await api.reject(gate.gate_id, "still wrong")
        assert await s.wait(10) is False
        assert s.sup.states() == {
            "stopper": "failed",
            "after_stopper": "blocked",
            "retrier": "failed",
            "after_retrier": "blocked",
        }
        assert len(s.spawned("stopper")) == 1
        assert len(s.spawned("retrier")) == 2
        assert "handoff rejected by" in s.sup.runners["retrier"].state_reason


async def test_agent_asks_for_a_gate_and_reads_the_decision(tmp_path: Path) -> None:
    never = Breaker(restart="never")
    agents = [
        AgentSpec(name="yes", command=agent_cmd("gate_asker", "ship?"), breaker=never),
        AgentSpec(name="no", command=agent_cmd("gate_asker", "ship?"), breaker=never),
    ]
    async with swarm(tmp_path, agents) as s:
        api = ControlAPI(s.sup)
        yes = await next_gate(s, "yes", set())
        no = await next_gate(s, "no", set())
        assert yes.gate_kind == "agent" and yes.title == "ship?"
        await s.state("yes", [AgentState.GATED])
        await api.approve(yes.gate_id, "go")
        await api.reject(no.gate_id, "not today")
        assert await s.wait(10) is False
        assert s.sup.states() == {"yes": "done", "no": "failed"}
        assert s.log.of("status", "yes")[-1].text == "approved: go"
        assert s.log.of("status", "no")[-1].text == "rejected: not today"


async def test_invalid_handoff_fails_the_stage_and_names_the_field(tmp_path: Path) -> None:
    bad = (
        "import json; print(json.dumps({'type': 'handoff', 'changed': 'x', "
        "'next_needs': 'y', 'risks': 'z', 'notes': 'extra'}))"
    )
    agents = [AgentSpec(name="bad", command=inline_cmd(bad)), worker("next", after=["bad"])]
    async with swarm(tmp_path, agents) as s:
        assert await s.wait(10) is False
        (rejected,) = s.log.of("handoff_rejected", "bad")
        assert rejected.field == "notes"
        assert s.sup.states() == {"bad": "failed", "next": "blocked"}
        assert "notes" in s.sup.runners["bad"].state_reason


async def test_tool_gate_blocks_until_the_operator_decides(tmp_path: Path) -> None:
    agents = [sleeper("coder", gate_tools=["Bash"], gate_timeout_seconds=5)]
    async with swarm(tmp_path, agents) as s:
        api = ControlAPI(s.sup)
        await s.state("coder", [AgentState.RUNNING])
        free = await api.call("tool_gate", {"agent": "coder", "tool": "Read", "input": {}})
        assert isinstance(free, ToolGateView) and free.approved is True

        ask = asyncio.ensure_future(
            api.call(
                "tool_gate",
                {"agent": "coder", "tool": "Bash", "input": {"command": "rm -rf build"}},
            )
        )
        gate = await next_gate(s, "coder", set())
        assert gate.gate_kind == "tool" and gate.tool is not None
        assert gate.tool["input"] == {"command": "rm -rf build"}
        assert not ask.done()
        assert s.sup.runners["coder"].state == AgentState.GATED
        await api.reject(gate.gate_id, "not on main", by="carol")
        answer = await asyncio.wait_for(ask, 5)
        denied = "denied by operator carol: not on main"
        assert answer == ToolGateView(approved=False, reason=denied)
        assert s.sup.runners["coder"].state == AgentState.RUNNING


async def test_gate_decisions_are_refused_when_they_should_be(tmp_path: Path) -> None:
    agents = [worker("a"), worker("b", after=["a"], gate="human")]
    async with swarm(tmp_path, agents) as s:
        api = ControlAPI(s.sup)
        viewer = ControlAPI(s.sup, read_only=True)
        gate = await next_gate(s, "a", set())
        with pytest.raises(ControlError, match="read-only"):
            await viewer.approve(gate.gate_id)
        with pytest.raises(ControlError, match="needs a reason"):
            await api.reject(gate.gate_id, "  ")
        with pytest.raises(ControlError, match=f"no gate 'g-nope' \\(pending: {gate.gate_id}\\)"):
            await api.approve("g-nope")
        bad = await api.dispatch({"id": 3, "op": "approve", "args": {"gate": "g-nope"}}, "x")
        assert bad["ok"] is False and bad["id"] == 3 and "no gate" in bad["error"]
        garbage = await api.dispatch(["not", "an", "object"], "x")
        assert garbage["ok"] is False
        await api.approve(gate.gate_id)
        with pytest.raises(ControlError, match="already approved"):
            await api.approve(gate.gate_id)
        assert await s.wait(10) is True
        every = await api.call("events", {"since": 0, "limit": 10_000})
        last3 = await api.call("events", {"since": 0, "limit": 3, "newest": True})
        first3 = await api.call("events", {"since": 0, "limit": 3})
        assert [e.seq for e in first3] == [1, 2, 3]
        assert [e.seq for e in last3] == [e.seq for e in every[-3:]]
        snapshot = json.loads(api.snapshot().model_dump_json())  # JSON-able all the way down
        assert [a["state"] for a in snapshot["agents"]] == ["done", "done"]
        assert snapshot["totals"]["pending_gates"] == 0
