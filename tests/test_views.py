"""The control API's typed views, taken from a real swarm: lossless on the wire, the wire's shape.

A view crosses the socket as JSON and is validated once on the other side;
``controlroom status --format jsonl`` prints what it validated. So the round
trip JSON -> view -> JSON must give back the same bytes, and fields the wire
leaves out (a pending gate's ``decision``, a healthy log's emergency figures)
must stay out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from swarmkit import agent_cmd, swarm

from controlroom.control.api import ControlAPI, to_json
from controlroom.models import AgentSpec, AgentState, Budget, GateKind, GateState
from controlroom.models.views import GateView, HandoffView, SwarmView

pytestmark = pytest.mark.timeout(60)


async def test_a_live_snapshot_round_trips_through_its_json(tmp_path: Path) -> None:
    busy = AgentSpec(
        name="a",
        command=agent_cmd("runaway", "20"),
        budget=Budget(max_tokens=10**7, max_cost_usd=100.0, max_wall_seconds=60, max_turns=10**4),
    )
    up = AgentSpec(name="up", command=agent_cmd("well_behaved", "up", "0.01"))
    down = AgentSpec(name="down", command=agent_cmd("well_behaved"), after=["up"], gate="human")
    async with swarm(tmp_path, [busy, up, down], max_cost_usd=5.0) as s:
        api = ControlAPI(s.sup)
        await s.state("a", {AgentState.RUNNING})
        await s.state("up", {AgentState.GATED})
        await s.log.until(lambda e: getattr(e, "kind", "") == "usage" and e.agent == "a", 10)
        view = api.snapshot()
        wire = json.dumps(to_json(view))
        assert json.dumps(SwarmView.model_validate_json(wire).model_dump(mode="json")) == wire

        data = json.loads(wire)
        assert data["audit"] == {"ok": True, "stopped_for": None}
        (gate,) = data["gates"]
        assert "decision" not in gate and gate["state"] == "pending" and gate["agent"] == "up"
        assert gate["kind"] == "handoff"  # the string on the wire, the enum once validated
        assert SwarmView.model_validate_json(wire).gates[0].kind is GateKind.HANDOFF
        busy_view = view.agent("a")
        assert busy_view is not None and busy_view.meter is not None
        assert busy_view.meter.total_tokens > 0 and busy_view.meter.budget.max_turns == 10**4
        assert [lim.limit for lim in busy_view.meter.limits] != []

        decided = await api.approve(gate["id"], "fine", by="alice")
        assert isinstance(decided, GateView) and decided.state is GateState.APPROVED
        every = to_json(await api.call("gates", {"all": True}))
        assert every[0]["decision"]["by"] == "alice" and every[0]["decision"]["reason"] == "fine"
        await s.log.until(lambda e: getattr(e, "kind", "") == "agent_spawned" and e.agent == "down")
        (handoff,) = api.handoffs()  # the stage went on, so its timeline entry is updated
        assert isinstance(handoff, HandoffView)
        assert to_json(handoff)["from"] == "up" and handoff.to == ["down"]
        assert (handoff.state, handoff.by) == (GateState.APPROVED, "alice")
        await api.kill("a")


def test_every_event_kind_is_named_once_in_the_enum() -> None:
    from controlroom.models.events import EVENT_KINDS
    from controlroom.models.kinds import EventKind

    assert [k.value for k in EventKind] == list(EVENT_KINDS)
    assert EventKind.TOOL_CALL == "tool_call"  # still the string the log and socket carry


def test_a_gates_keys_keep_their_wire_order_with_the_radars_last() -> None:
    """The radar's keys are declared once (GateRadarFields) and still follow the gate's own."""
    gate = GateView(id="g1", agent="a", kind=GateKind.HANDOFF, state=GateState.PENDING, created=1.0)
    assert list(json.loads(gate.model_dump_json())) == [
        "id", "agent", "kind", "state", "title", "detail", "stage", "created", "age_seconds",
        "timeout_seconds", "handoff", "tool",
        "changed_files", "file_count", "conflicts", "discrepancies", "verdict", "merge_order",
    ]  # fmt: skip


def test_the_redaction_scan_leaves_out_only_fields_that_cannot_hold_text() -> None:
    """``control.redaction`` scans a view's JSON without its numbers, booleans and nulls:
    a secret anywhere a string can be (names, reasons, handoffs, dict keys) is still seen."""
    from controlroom.control.redaction import redacted, text_fields_only
    from controlroom.models.handoff import Handoff
    from controlroom.models.views import AgentView, ContainmentView, LimitView, MeterView
    from controlroom.store.redact import Redactor

    secret = 'hunter2-"quoted"'
    redactor = Redactor([secret])
    meter = MeterView(
        agent="a",
        at=1.5,
        tightest_limit="tokens",
        limits=[LimitView(limit="tokens", value=1, cap=2, fraction=0.5)],
    )
    clean = SwarmView(
        swarm="s",
        run="r",
        ts=2.0,
        agents=[AgentView(name="a", state=AgentState.RUNNING, meter=meter, pid=12345)],
    )
    assert redacted(redactor, clean) is clean  # nothing to redact: the same object back
    scanned = json.loads(clean.model_dump_json(exclude=text_fields_only(SwarmView)))
    agent = scanned["agents"][0]
    assert "pid" not in agent and "at" not in agent["meter"] and "ts" not in scanned
    assert agent["meter"]["limits"] == [{"limit": "tokens"}] and agent["name"] == "a"

    places = [
        {"reason": f"failed: {secret}"},
        {"after": ["x", secret]},
        {"handoff": Handoff(changed="c", next_needs=secret, risks="r")},
        {"containment": ContainmentView(limits={secret: 1})},
        {"meter": meter.model_copy(update={"tightest_limit": secret})},
    ]
    for update in places:
        view = clean.model_copy(update={"agents": [clean.agents[0].model_copy(update=update)]})
        out = redacted(redactor, view)
        assert out is not view and secret not in out.model_dump_json(), update
        assert "[redacted]" in out.model_dump_json()
