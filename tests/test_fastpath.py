"""The native adapter's fast path turns a line into exactly the event the reference way makes.

The fast path (``adapters/fastpath.py``) may refuse any line (the reference
way then takes it), but a line it takes must come out the same, field by
field, down to the audit log's canonical JSON; and the lines agents really
print must take it, or it is dead code.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlroom.adapters.fastpath import FastNative, Trusted
from controlroom.adapters.lines import MalformedLine
from controlroom.adapters.native import NativeAdapter
from controlroom.models import EventBase, StatusEvent, ToolCall, Usage
from controlroom.store.rows import canonical_json, event_payload

AGENT = "worker"

TAKEN = [
    {"type": "usage", "input_tokens": 1200, "output_tokens": 340, "model": "claude-sonnet-4-5"},
    {"type": "usage", "output_tokens": 0},
    {
        "type": "usage",
        "input_tokens": 1,
        "output_tokens": 2,
        "cache_read_input_tokens": 3,
        "cache_creation_input_tokens": 4,
        "cache_creation_1h_input_tokens": 9,  # more than all writes: clipped to 4
        "turns": 0,
        "model": "m",
    },
    {"type": "usage", "input_tokens": 10**30},
    {
        "type": "usage",
        "input_tokens": 5,
        "cache_creation_input_tokens": 8,
        "cache_creation_1h_input_tokens": 3,
    },
    {"type": "status", "text": "running the tests"},
    {"type": "status", "text": ""},
    {"type": "status", "text": "naïve ✓ \u0000 \u001b[31m"},
    {"type": "tool", "name": "Bash", "input": {"command": "pytest -q"}},
    {"type": "tool", "name": "Read"},
    {"type": "tool", "name": "Edit", "input": {"a": [1, 2.5, None, {"b": True}], "c": -0.0}},
    {"type": "tool", "name": "X", "input": {"big": 12345678901234567890123, "f": 1e-300}},
]

REFUSED = [
    '{"type": "usage", "input_tokens": 12.0}',
    '{"type": "usage", "input_tokens": true}',
    '{"type": "usage", "input_tokens": "12"}',
    '{"type": "usage", "input_tokens": -1}',
    '{"type": "usage", "input_tokens": null, "output_tokens": 1}',
    '{"type": "usage", "input_tokens": NaN}',
    '{"type": "usage", "model": "m"}',
    '{"type": "usage", "input_tokens": 1, "note": "kept in extra"}',
    '{"type": "usage", "input_tokens": 1, "model": "\\ud800"}',
    '{"type": "usage", "input_tokens": 1, "cache_creation": {"ephemeral_1h_input_tokens": 1}}',
    '{"type": "status", "text": null}',
    '{"type": "status", "text": 3}',
    '{"type": "status", "text": "x", "extra": 1}',
    '{"type": "tool", "name": "   "}',
    '{"type": "tool", "name": "Bash", "input": null}',
    '{"type": "tool", "name": "Bash", "input": [1]}',
    '{"type": "handoff", "changed": "a", "next_needs": "b", "risks": "c"}',
    '{"type": "gate", "title": "deploy?"}',
    '{"type": "error", "message": "rate limited"}',
    '{"type": "usage", "input_tokens": 1',
    '{"type": "usage", "input_tokens": 1} trailing',
    '{"input_tokens": 1}',
    "[1, 2]",
]


def reference(line: str) -> EventBase:
    (event,) = NativeAdapter(AGENT, fast=False).feed(line)
    return event


def same(fast: EventBase, slow: EventBase) -> None:
    assert type(fast) is type(slow)
    assert fast.model_dump(exclude={"ts"}) == slow.model_dump(exclude={"ts"})
    assert fast.model_fields_set == slow.model_fields_set
    fast.ts = slow.ts
    assert fast == slow
    assert canonical_json(fast) == canonical_json(slow)
    assert event_payload(fast)[1] == event_payload(slow)[1]
    assert list(fast.__dict__) == list(slow.__dict__)  # field order, for the row templates


@pytest.mark.parametrize("obj", TAKEN, ids=lambda o: json.dumps(o)[:60])
def test_lines_agents_print_take_the_fast_path_to_the_same_event(obj: dict[str, Any]) -> None:
    line = json.dumps(obj, ensure_ascii=False)
    fast = FastNative(AGENT).event(line)
    assert fast is not None, "this line should have taken the fast path"
    same(fast, reference(line))
    (through_adapter,) = NativeAdapter(AGENT).feed(line)
    same(through_adapter, reference(line))


def test_the_cache_split_is_clipped_as_the_reference_way_clips_it() -> None:
    fast = FastNative(AGENT).event(json.dumps(TAKEN[2]))
    assert isinstance(fast, Usage)
    assert (fast.cache_creation_input_tokens, fast.cache_creation_1h_input_tokens) == (4, 4)
    assert fast.turns == 0 and fast.source == "agent" and fast.extra == {}


@pytest.mark.parametrize("line", REFUSED)
def test_other_lines_go_the_reference_way(line: str) -> None:
    assert FastNative(AGENT).event(line) is None
    (event,) = NativeAdapter(AGENT).feed(line)
    slow = reference(line)
    assert type(event) is type(slow)
    assert event.model_dump(exclude={"ts", "gate_id"}) == slow.model_dump(exclude={"ts", "gate_id"})


def test_trusted_instances_are_validated_instances() -> None:
    fields = {"agent": "a", "name": "Bash", "input": {"x": [1]}}
    made = Trusted(ToolCall)(fields)
    checked = ToolCall(**fields)
    assert made.model_fields_set == checked.model_fields_set == set(fields)
    made.ts = checked.ts
    assert made == checked
    assert made.extra == {} and made.extra is not Trusted(ToolCall)({"name": "y"}).extra
    assert made.model_dump_json() == checked.model_dump_json()
    status = Trusted(StatusEvent)({"text": "t"})
    assert status.kind == "status" and status.agent is None and status.ts > 0


_values = st.one_of(
    st.integers(min_value=-5, max_value=2**70),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.text(max_size=8),
    st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4), max_size=3),
    st.lists(st.integers(), max_size=3),
)
_keys = st.sampled_from(
    [
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "cache_creation_1h_input_tokens",
        "turns",
        "model",
        "text",
        "name",
        "input",
        "other",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["usage", "status", "tool", "gate"]),
    fields=st.dictionaries(_keys, _values, max_size=6),
    ascii_only=st.booleans(),
)
def test_any_line_the_fast_path_takes_comes_out_as_the_reference_way_has_it(
    kind: str, fields: dict[str, Any], ascii_only: bool
) -> None:
    line = json.dumps({"type": kind, **fields}, ensure_ascii=ascii_only)
    fast = FastNative(AGENT).event(line)
    if fast is not None:
        same(fast, reference(line))


def test_a_slice_comes_out_as_its_lines_fed_one_by_one() -> None:
    """``feed_slice`` (one loop for a flood's slice) makes each line's events, in order, numbered.

    Lines the fast path takes, lines it refuses, prose, JSON with whitespace
    around it (JSON's and other), and a line the framing refused.
    """
    texts = [json.dumps(obj) for obj in TAKEN] + REFUSED
    texts += ["plain prose", "", '  {"type": "status", "text": "indented"}']
    texts += ['{"type": "status", "text": "spaced"} \t', '{"type": "status", "text": "nbsp"}\xa0']
    items: list[str | MalformedLine] = [*texts, MalformedLine("not UTF-8", "\\xff", 3)]
    events, lines = NativeAdapter(AGENT).feed_slice(items, 100)
    one_by_one = NativeAdapter(AGENT)
    expected: list[tuple[EventBase, int]] = []
    for number, item in enumerate(items, start=101):
        made = one_by_one.feed(item) if isinstance(item, str) else [item.to_event(AGENT, "stdout")]
        expected += [(event, number) for event in made]
    assert lines == [number for _, number in expected]
    assert len(events) == len(expected)
    for event, (want, _) in zip(events, expected, strict=True):
        assert type(event) is type(want)
        skip = {"ts", "gate_id"}
        assert event.model_dump(exclude=skip) == want.model_dump(exclude=skip)
        assert list(event.__dict__) == list(want.__dict__)
