"""A slice of an agent's output goes through the pipeline as one batch, with every guarantee kept.

Real supervisor, real agents, real audit file. An agent writes its usage
lines in ONE ``write`` (a pipe write under 4 KiB is atomic, so the reader
takes them in one slice): the crossing line in the middle of the slice must
still be where the stop happens — the lines before it metered before the
decision, its warning logged right after its own line, the lines after it
recorded as arrived after the decision — and the log keeps every agent's
lines in the order written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from swarmkit import audit_rows, inline_cmd, swarm

from controlroom._errors import AuditError
from controlroom.models import (
    AgentSpec,
    AgentState,
    Budget,
    StatusEvent,
    Usage,
    new_run_id,
)
from controlroom.store.writer import AuditStore
from controlroom.swarm.bus import EventBus

pytestmark = pytest.mark.timeout(60)

LINES = 10


def one_write(lines: int, *, then: str = "time.sleep(60)") -> list[str]:
    """An agent printing ``lines`` usage lines in one write: line i has 1,000 + i input tokens."""
    body = "".join(
        json.dumps({"type": "usage", "input_tokens": 1_000 + i, "output_tokens": 0}) + "\n"
        for i in range(1, lines + 1)
    )
    return inline_cmd(f"import os, time; os.write(1, {body.encode()!r}); {then}")


async def test_a_crossing_line_mid_slice_stops_there_and_the_rest_arrived_after(
    tmp_path: Path,
) -> None:
    """Cap 5,000: line 4 warns (4,010 tokens), line 5 crosses (5,015); lines 6-10 came after."""
    capped = AgentSpec(name="capped", command=one_write(LINES), budget=Budget(max_tokens=5_000))
    other = AgentSpec(name="other", command=one_write(LINES, then="pass"))
    async with swarm(tmp_path, [capped, other]) as s:
        await s.state("capped", [AgentState.BUDGET_STOPPED])
        await s.wait(30)
        assert s.sup.runners["capped"].lines_read == LINES
        meter = s.sup.governor.meters.agent("capped")
        assert meter.total_tokens == sum(1_000 + i for i in range(1, LINES + 1))
    rows = audit_rows(s.db, s.run_id)
    capped_rows = [r for r in rows if r["agent"] == "capped" and r["kind"] != "agent_state"]
    kinds = [r["kind"] for r in capped_rows]
    first = kinds.index("usage")
    assert kinds[first : first + 12] == [
        *["usage"] * 4,
        "budget_warning",
        *["usage"] * 6,
        "budget_exceeded",
    ]
    usage = [r["input_tokens"] for r in capped_rows if r["kind"] == "usage"]
    assert usage == [1_000 + i for i in range(1, LINES + 1)]
    warning = next(r for r in capped_rows if r["kind"] == "budget_warning")
    assert (warning["value"], warning["cap"]) == (4_010, 5_000)
    exceeded = next(r for r in capped_rows if r["kind"] == "budget_exceeded")
    assert (exceeded["value"], exceeded["overshoot"]) == (5_015, 15)
    assert exceeded["after_decision_lines"] == LINES - 5
    assert exceeded["after_decision_tokens"] == sum(1_000 + i for i in range(6, LINES + 1))
    # the other agent's slice: every line, in the order written, and priced like the capped's
    others = [r for r in rows if r["agent"] == "other" and r["kind"] == "usage"]
    assert [r["input_tokens"] for r in others] == [1_000 + i for i in range(1, LINES + 1)]
    assert all(r["cost_usd"] > 0 for r in others)
    seqs = [r["seq"] for r in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_a_slice_published_at_once_reaches_each_subscriber_in_order_and_drops_the_oldest(
    tmp_path: Path,
) -> None:
    store = await AuditStore.open(tmp_path / "audit.db", new_run_id())
    try:
        bus = EventBus(store)
        small, large = bus.subscribe(maxsize=4), bus.subscribe(maxsize=100)
        slice_ = [StatusEvent(agent="a", text=f"line {i}") for i in range(6)]
        bus.publish_many(slice_)
        assert [e.seq for e in slice_] == [1, 2, 3, 4, 5, 6]
        assert [e.text for e in small.drain()] == ["line 2", "line 3", "line 4", "line 5"]
        assert small.dropped == 2
        assert large.drain() == slice_ and large.dropped == 0
        await bus.flush()
    finally:
        await store.close()
    rows = audit_rows(tmp_path / "audit.db", store.run_id)
    assert [r["text"] for r in rows] == [f"line {i}" for i in range(6)]


async def test_a_slice_with_a_refused_event_keeps_the_events_before_it(tmp_path: Path) -> None:
    store = await AuditStore.open(tmp_path / "audit.db", new_run_id())
    try:
        good = Usage(agent="a", input_tokens=1)
        bad = Usage(agent="a", input_tokens=2, ts=math.nan)
        with pytest.raises(ValueError, match="finite"):
            store.append_many([good, bad, Usage(agent="a", input_tokens=3)])
        assert (good.seq, store.last_seq, store.pending) == (1, 1, 1)
        await store.flush()
    finally:
        await store.close()
    with pytest.raises(AuditError, match="closed; cannot append 'usage', 'status'"):
        store.append_many([Usage(agent="a", input_tokens=1), StatusEvent(agent="a", text="x")])
