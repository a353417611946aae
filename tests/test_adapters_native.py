"""The native JSON-lines protocol adapter, down to each field rule, and via a real pipe."""

from __future__ import annotations

import asyncio
import json
import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlroom._errors import AgentError
from controlroom.adapters import (
    ClaudeCodeAdapter,
    MalformedLine,
    NativeAdapter,
    PlainAdapter,
    make_adapter,
    read_lines,
)
from controlroom.models import (
    AgentOutput,
    ErrorEvent,
    Event,
    GateRequested,
    Handoff,
    HandoffEvent,
    HandoffRejected,
    MalformedOutput,
    StatusEvent,
    ToolCall,
    Usage,
)


def one(adapter: NativeAdapter, obj: object) -> Event:
    line = obj if isinstance(obj, str) else json.dumps(obj)
    events = adapter.feed(line)
    assert len(events) == 1, events
    assert events[0].agent == adapter.agent
    assert (events[0].run, events[0].seq) == ("", 0)
    return events[0]


@pytest.fixture
def native() -> NativeAdapter:
    return NativeAdapter("worker", handoff_max_chars=50)


def test_usage_all_fields(native: NativeAdapter) -> None:
    event = one(
        native,
        {
            "type": "usage",
            "input_tokens": 1200,
            "output_tokens": 340,
            "cache_read_input_tokens": 7,
            "cache_creation_input_tokens": 9,
            "model": "claude-sonnet-4-5",
        },
    )
    assert isinstance(event, Usage)
    assert (event.input_tokens, event.output_tokens) == (1200, 340)
    assert (event.cache_read_input_tokens, event.cache_creation_input_tokens) == (7, 9)
    assert (event.model, event.turns, event.source, event.extra) == (
        "claude-sonnet-4-5",
        1,
        "agent",
        {},
    )


def test_usage_one_count_is_enough_and_extras_are_kept(native: NativeAdapter) -> None:
    # An Anthropic SDK usage object forwarded as-is: nulls and nested extras.
    event = one(
        native,
        {
            "type": "usage",
            "output_tokens": 5,
            "cache_creation_input_tokens": None,
            "service_tier": "standard",
            "server_tool_use": {"web_search_requests": 0},
        },
    )
    assert isinstance(event, Usage)
    assert (event.input_tokens, event.output_tokens, event.cache_creation_input_tokens) == (0, 5, 0)
    assert event.model is None
    assert event.extra == {
        "service_tier": "standard",
        "server_tool_use": {"web_search_requests": 0},
    }


def test_usage_turns_and_the_one_hour_cache_split(native: NativeAdapter) -> None:
    # a streamed answer: the input side opens the turn, the output delta adds to it
    opening = one(
        native,
        {
            "type": "usage",
            "input_tokens": 10,
            "cache_creation_input_tokens": 900,
            "cache_creation": {"ephemeral_5m_input_tokens": 300, "ephemeral_1h_input_tokens": 600},
        },
    )
    closing = one(native, {"type": "usage", "output_tokens": 40, "turns": 0})
    assert isinstance(opening, Usage) and isinstance(closing, Usage)
    assert (opening.turns, opening.cache_creation_1h_input_tokens) == (1, 600)
    assert (closing.turns, closing.output_tokens) == (0, 40)
    flat = one(
        native,
        {"type": "usage", "cache_creation_input_tokens": 5, "cache_creation_1h_input_tokens": 9},
    )
    assert isinstance(flat, Usage) and flat.cache_creation_1h_input_tokens == 5  # never above
    bad = native.feed(json.dumps({"type": "usage", "output_tokens": 1, "turns": -1}))
    assert isinstance(bad[0], MalformedOutput) and "turns" in bad[0].reason


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"input_tokens": "12"}, "input_tokens"),
        ({"input_tokens": 12.5}, "input_tokens"),
        ({"output_tokens": 12.0}, "output_tokens"),
        ({"output_tokens": True}, "output_tokens"),
        ({"cache_read_input_tokens": -3}, "cache_read_input_tokens"),
        ({"input_tokens": 1, "cache_creation_input_tokens": [1]}, "cache_creation_input_tokens"),
        ({"input_tokens": 1, "model": 4}, "model"),
        ({"model": "m"}, "input_tokens/output_tokens"),
        ({}, "input_tokens/output_tokens"),
    ],
)
def test_usage_with_wrong_field_is_malformed_naming_it(
    native: NativeAdapter, fields: dict[str, object], named: str
) -> None:
    line = json.dumps({"type": "usage", **fields})
    event = one(native, line)
    assert isinstance(event, MalformedOutput)
    assert named in event.reason
    assert event.reason.startswith("native 'usage' line: ")
    assert (event.preview, event.length) == (line, len(line))


def test_status_tool_error(native: NativeAdapter) -> None:
    status = one(native, {"type": "status", "text": "running the tests"})
    assert isinstance(status, StatusEvent) and status.text == "running the tests"
    tool = one(native, {"type": "tool", "name": "Bash", "input": {"command": "pytest -q"}})
    assert isinstance(tool, ToolCall)
    assert (tool.name, tool.input, tool.tool_use_id) == ("Bash", {"command": "pytest -q"}, None)
    bare_tool = one(native, {"type": "tool", "name": "Read"})
    assert isinstance(bare_tool, ToolCall) and bare_tool.input == {}
    error = one(native, {"type": "error", "message": "rate limited"})
    assert isinstance(error, ErrorEvent) and error.message == "rate limited"


@pytest.mark.parametrize(
    ("obj", "named"),
    [
        ({"type": "status"}, "text missing"),
        ({"type": "status", "text": 3}, "text must be a string, got number"),
        ({"type": "tool", "input": {}}, "name missing"),
        ({"type": "tool", "name": ""}, "name empty"),
        ({"type": "tool", "name": "Bash", "input": "ls"}, "input must be an object, got string"),
        ({"type": "gate", "detail": "x"}, "title missing"),
        ({"type": "gate", "title": "ok", "detail": 5}, "detail must be a string"),
        ({"type": "error", "message": None}, "message missing"),
        ({"type": "error", "message": ["x"]}, "message must be a string, got array"),
    ],
)
def test_known_type_with_bad_field(
    native: NativeAdapter, obj: dict[str, object], named: str
) -> None:
    event = one(native, obj)
    assert isinstance(event, MalformedOutput)
    assert named in event.reason, event.reason


def test_gate_gets_fresh_short_ids(native: NativeAdapter) -> None:
    ids = set()
    for _ in range(50):
        gate = one(native, {"type": "gate", "title": "deploy to staging?", "detail": "v2"})
        assert isinstance(gate, GateRequested)
        assert (gate.gate_kind, gate.title, gate.detail) == ("agent", "deploy to staging?", "v2")
        assert re.fullmatch(r"g-[0-9a-f]{8}", gate.gate_id)
        ids.add(gate.gate_id)
    assert len(ids) == 50


def test_handoff_valid_and_rejected_with_the_swarm_limit(native: NativeAdapter) -> None:
    good = {"type": "handoff", "changed": "a", "next_needs": "b", "risks": "c"}
    event = one(native, good)
    assert isinstance(event, HandoffEvent)
    assert event.handoff == Handoff(changed="a", next_needs="b", risks="c")

    too_long = one(native, {**good, "risks": "r" * 51})  # this swarm's limit is 50
    assert isinstance(too_long, HandoffRejected)
    assert (too_long.field, too_long.reason) == ("risks", "risks: 51 characters, limit 50")

    extra = one(native, {**good, "notes": "x"})
    assert isinstance(extra, HandoffRejected) and extra.field == "notes"
    missing = one(native, {"type": "handoff", "changed": "a", "risks": "c"})
    assert isinstance(missing, HandoffRejected) and missing.field == "next_needs"


@pytest.mark.parametrize(
    "data",
    [
        {"type": "status", "text": "hi", "step": 3},
        {"type": "tool", "name": "Bash", "input": {}, "step": 3},
        {"type": "gate", "title": "ship?", "step": 3},
        {"type": "error", "message": "boom", "step": 3},
    ],
)
def test_extra_keys_on_other_types_are_kept_in_extra(
    native: NativeAdapter, data: dict[str, object]
) -> None:
    events = native.feed(json.dumps(data))
    assert len(events) == 1
    assert events[0].extra == {"step": 3}


@pytest.mark.parametrize(
    "line",
    [
        "plain log line",
        "",
        "   ",
        "[1, 2, 3]",
        "42",
        '"a string"',
        '{"no_type": 1}',
        '{"type": "telemetry", "x": 1}',
        '{"type": 5}',
        '{"type": "gate_decision", "approved": true}',  # an agent cannot decide its own gate
    ],
)
def test_everything_else_is_log_output(native: NativeAdapter, line: str) -> None:
    event = one(native, line)
    assert isinstance(event, AgentOutput)
    assert (event.text, event.stream) == (line, "stdout")


@pytest.mark.parametrize(
    "line", ['{"type": "usage", "input_tokens": 12', "{", '  {"type": "status"', "{nope}"]
)
def test_half_written_json_is_malformed(native: NativeAdapter, line: str) -> None:
    event = one(native, line)
    assert isinstance(event, MalformedOutput)
    assert event.reason.startswith("half-written JSON (")
    assert event.length == len(line)


def test_preview_is_bounded_and_escaped(native: NativeAdapter) -> None:
    line = '{"type": "usage", "input_tokens": "' + "\x1b[31m" * 100 + "x" * 500
    event = one(native, line)
    assert isinstance(event, MalformedOutput)
    assert len(event.preview) <= 200
    assert "\x1b" not in event.preview and "\\x1b" in event.preview
    assert event.length == len(line)


def test_deep_nesting_does_not_raise(native: NativeAdapter) -> None:
    event = one(native, "{" + '"a":' * 1 + "[" * 100_000 + "]" * 100_000 + "}")
    assert isinstance(event, MalformedOutput)
    assert not event.reason.startswith("adapter error")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "text",
        "name",
        "input",
        "title",
        "detail",
        "message",
        "changed",
        "next_needs",
        "risks",
        "model",
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    ]
)
_protocol_objects = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    st.sampled_from(["usage", "status", "tool", "handoff", "gate", "error", "other"]),
    st.dictionaries(_keys, _json, max_size=6),
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), _protocol_objects.map(json.dumps)))
def test_never_raises_never_hits_the_guard(line: str) -> None:
    for adapter in (NativeAdapter("fuzz", 40), ClaudeCodeAdapter("fuzz", 40), PlainAdapter("fuzz")):
        events = adapter.feed(line) + adapter.finish()
        for event in events:
            assert event.agent == "fuzz"
            if isinstance(event, MalformedOutput):
                assert not event.reason.startswith("adapter error"), event.reason
                assert len(event.preview) <= 200


def test_make_adapter() -> None:
    assert isinstance(make_adapter("native", "a", 10), NativeAdapter)
    assert isinstance(make_adapter("claude-code", "a"), ClaudeCodeAdapter)
    plain = make_adapter("plain", "a", stream="stderr")
    assert isinstance(plain, PlainAdapter)
    out = plain.feed('{"type": "status", "text": "x"}')
    assert isinstance(out[0], AgentOutput) and out[0].stream == "stderr"
    with pytest.raises(AgentError, match=r"agent 'a': unknown output format 'jsonl'"):
        make_adapter("jsonl", "a")


AGENT_SCRIPT = r"""
import json, sys
out = sys.stdout
out.write("starting up\n")
out.write(json.dumps({"type": "status", "text": "working"}) + "\n")
for i in range(200):
    out.write(json.dumps({"type": "usage", "input_tokens": 10, "output_tokens": i}) + "\n")
out.write('{"type": "usage", "input_tokens": "12"}\n')
out.write('{"type": "tool", "name": "Bash", "input": {"comm')
out.flush()
out.write('\n')
out.write(json.dumps({"type": "handoff", "changed": "c", "next_needs": "n", "risks": "r"}))
"""


async def test_native_agent_over_a_real_pipe() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", AGENT_SCRIPT, stdout=asyncio.subprocess.PIPE
    )
    adapter = make_adapter("native", "worker", 2000)
    events: list[Event] = []
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            async for item in read_lines(proc.stdout):
                if isinstance(item, MalformedLine):
                    events.append(item.to_event("worker"))
                else:
                    events.extend(adapter.feed(item))
            events.extend(adapter.finish())
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    usage = [e for e in events if isinstance(e, Usage)]
    assert len(usage) == 200
    assert sum(e.input_tokens for e in usage) == 2000
    assert sum(e.output_tokens for e in usage) == sum(range(200))
    kinds = [type(e).__name__ for e in events if not isinstance(e, Usage)]
    assert kinds == [
        "AgentOutput",
        "StatusEvent",
        "MalformedOutput",
        "MalformedOutput",
        "HandoffEvent",  # the last line had no newline: still delivered at EOF
    ]
    bad_usage, half_tool = (e for e in events if isinstance(e, MalformedOutput))
    assert "input_tokens" in bad_usage.reason
    assert half_tool.reason.startswith("half-written JSON")
