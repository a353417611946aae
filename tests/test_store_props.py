"""Property: any sequence of events, with any text, is stored, read back and verifies."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlroom.models import (
    EVENT_ADAPTER,
    AgentOutput,
    ErrorEvent,
    EventBase,
    GateDecided,
    Handoff,
    HandoffEvent,
    StatusEvent,
    ToolCall,
    Usage,
)
from controlroom.store import AuditStore, verify_chain
from controlroom.store.rows import canonical_json

text = st.text(max_size=60)  # any unicode except lone surrogates
some_text = st.text(min_size=1, max_size=60)
agent = st.none() | st.text(max_size=12)
ts = st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False)
count = st.integers(min_value=0, max_value=2**53)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)

events = st.one_of(
    st.builds(StatusEvent, agent=agent, ts=ts, text=text),
    st.builds(
        AgentOutput, agent=agent, ts=ts, text=text, stream=st.sampled_from(["stdout", "stderr"])
    ),
    st.builds(
        ToolCall, agent=agent, ts=ts, name=text, input=st.dictionaries(text, json_value, max_size=4)
    ),
    st.builds(
        Usage,
        agent=agent,
        ts=ts,
        input_tokens=count,
        output_tokens=count,
        model=st.none() | text,
        cost_usd=st.floats(0, 1e6, allow_nan=False),
    ),
    st.builds(
        GateDecided, agent=agent, ts=ts, gate_id=text, approved=st.booleans(), by=text, reason=text
    ),
    st.builds(ErrorEvent, agent=agent, ts=ts, message=text, where=text),
    st.builds(
        HandoffEvent,
        agent=agent,
        ts=ts,
        handoff=st.builds(Handoff, changed=some_text, next_needs=some_text, risks=some_text),
    ),
)


async def _store_all(path: Path, batch: list[EventBase]) -> None:
    async with await AuditStore.open(path, "prop-run") as store:
        for event in batch:
            store.append(event)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events, min_size=1, max_size=25))
def test_any_events_round_trip_and_verify(batch: list[EventBase]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.db"
        asyncio.run(_store_all(path, batch))
        conn = sqlite3.connect(path)
        try:
            stored = conn.execute("SELECT seq, payload FROM events ORDER BY id").fetchall()
        finally:
            conn.close()
        assert [seq for seq, _ in stored] == list(range(1, len(batch) + 1))
        for (_, payload), event in zip(stored, batch, strict=True):
            assert payload == canonical_json(event)
            assert EVENT_ADAPTER.validate_json(payload) == event
        result = verify_chain(path)
        assert (result.ok, result.events) == (True, len(batch)), result.reason
