"""Claude Code stream-json: exact token totals per captured fixture, de-duplication, handoffs."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlroom.adapters import ClaudeCodeAdapter, MalformedLine, read_line_batches
from controlroom.models import (
    AgentOutput,
    AgentResult,
    ErrorEvent,
    Event,
    HandoffEvent,
    HandoffRejected,
    MalformedOutput,
    StatusEvent,
    ToolCall,
    Usage,
)


def _fixtures() -> Path:
    here = Path(__file__).parent / "fixtures" / "claude-code"
    return here if here.is_dir() else Path("/work/shared/fixtures/claude-code")


def lines_of(name: str) -> list[str]:
    return (_fixtures() / name).read_text().splitlines()


def run(lines: list[str], max_chars: int = 2000) -> list[Event]:
    adapter = ClaudeCodeAdapter("architect", max_chars)
    events: list[Event] = []
    for line in lines:
        events.extend(adapter.feed(line))
    events.extend(adapter.finish())
    for event in events:
        assert event.agent == "architect"
    return events


def usage_sum(events: list[Event]) -> tuple[int, int, int, int, int]:
    usage = [e for e in events if isinstance(e, Usage)]
    return (
        sum(e.input_tokens for e in usage),
        sum(e.output_tokens for e in usage),
        sum(e.cache_read_input_tokens for e in usage),
        sum(e.cache_creation_input_tokens for e in usage),
        sum(e.turns for e in usage),
    )


def of(events: list[Event], kind: type[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, kind)]


# Totals read by hand from each fixture's final `result` line:
#   (input, output, cache_read, cache_creation, num_turns)
EXPECTED = {
    "tool-allowed.stream.jsonl": (17144, 68, 0, 0, 2),
    "tool-denied-by-hook.stream.jsonl": (17150, 68, 0, 0, 2),
    "max-turns-error.stream.jsonl": (8534, 33, 0, 0, 2),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_totals_are_exactly_the_results(name: str) -> None:
    events = run(lines_of(name))
    assert usage_sum(events) == EXPECTED[name]
    assert not of(events, MalformedOutput)
    assert not of(events, ErrorEvent)
    for usage in of(events, Usage):
        assert isinstance(usage, Usage) and usage.model == "claude-sonnet-4-5"


def test_tool_allowed_event_by_event() -> None:
    events = run(lines_of("tool-allowed.stream.jsonl"))
    assert [type(e).__name__ for e in events] == [
        "StatusEvent",
        "Usage",
        "ToolCall",
        "AgentOutput",
        "Usage",
        "AgentOutput",
        "Usage",
        "AgentResult",
        "HandoffEvent",
    ]
    status, live1, tool, tool_out, live2, text, rec, result, handoff = events
    assert isinstance(status, StatusEvent)
    assert "7d7b8ab6-a7d6-4e9a-a4fa-909c5f598abe" in status.text
    assert "claude-sonnet-4-5" in status.text
    # the live figures are the stream's opening ones: output 1 per message
    assert isinstance(live1, Usage) and (live1.input_tokens, live1.output_tokens) == (8534, 1)
    assert isinstance(live2, Usage) and (live2.input_tokens, live2.output_tokens) == (8610, 1)
    assert (live1.turns, live1.source, live2.turns, live2.source) == (1, "agent", 1, "agent")
    assert isinstance(tool, ToolCall)
    assert (tool.name, tool.tool_use_id) == ("Bash", "toolu_1c2b7b688bdf48a58f56")
    assert tool.input == {"command": "echo hi", "description": "Say hi"}
    assert isinstance(tool_out, AgentOutput) and tool_out.text.endswith(": hi")
    assert "(error)" not in tool_out.text
    assert isinstance(text, AgentOutput) and text.text.startswith("Done.\n```json\n")
    # reconcile: 17144 - (8534 + 8610) = 0 input, 68 - 2 = 66 output, 2 - 2 = 0 turns
    assert isinstance(rec, Usage) and rec.source == "reconcile"
    assert (rec.input_tokens, rec.output_tokens, rec.turns) == (0, 66, 0)
    assert rec.extra["reported_cost_usd"] == 0.052452
    assert isinstance(result, AgentResult)
    assert (result.is_error, result.subtype, result.num_turns) == (False, "success", 2)
    assert result.reported_cost_usd == 0.052452
    assert result.extra["terminal_reason"] == "completed"
    assert result.extra["permission_denials"] == []
    assert result.extra["modelUsage"]["claude-sonnet-4-5"]["outputTokens"] == 68
    assert isinstance(handoff, HandoffEvent)
    assert (handoff.handoff.changed, handoff.handoff.next_needs, handoff.handoff.risks) == (
        "nothing yet",
        "the plan",
        "none known",
    )


def test_denied_by_hook_keeps_the_reason_and_the_denial() -> None:
    events = run(lines_of("tool-denied-by-hook.stream.jsonl"))
    outputs = [e.text for e in of(events, AgentOutput) if isinstance(e, AgentOutput)]
    assert any(
        "tool result (error)" in text and "denied by operator: not now" in text for text in outputs
    )
    (result,) = of(events, AgentResult)
    assert isinstance(result, AgentResult) and result.is_error is False
    (denial,) = result.extra["permission_denials"]
    assert (denial["tool_name"], denial["tool_use_id"]) == ("Bash", "toolu_69c65336f8bf4abea8ae")
    assert len(of(events, HandoffEvent)) == 1


def test_max_turns_error() -> None:
    events = run(lines_of("max-turns-error.stream.jsonl"))
    (rec,) = [e for e in of(events, Usage) if isinstance(e, Usage) and e.source == "reconcile"]
    # one assistant message seen, num_turns 2: the reconcile carries the other turn
    assert isinstance(rec, Usage) and (rec.input_tokens, rec.output_tokens, rec.turns) == (0, 32, 1)
    (result,) = of(events, AgentResult)
    assert isinstance(result, AgentResult)
    assert (result.is_error, result.subtype, result.num_turns) == (True, "error_max_turns", 2)
    assert result.text == "Reached maximum number of turns (1)"
    assert result.extra["terminal_reason"] == "max_turns"
    assert not of(events, HandoffEvent) and not of(events, HandoffRejected)


def _split_message(line: str) -> list[str]:
    """One assistant message as Claude Code streams it: one event per content block."""
    data = json.loads(line)
    message = data["message"]
    first = {**data, "message": {**message, "content": [{"type": "thinking", "thinking": "hmm"}]}}
    second = {**data, "message": {**message, "content": [{"type": "text", "text": "ok"}]}}
    return [json.dumps(first), json.dumps(second), line]


def test_usage_is_counted_once_per_message_id() -> None:
    lines = lines_of("tool-allowed.stream.jsonl")
    split = [lines[0], *_split_message(lines[1]), *lines[2:]]
    events = run(split)
    live = [e for e in of(events, Usage) if isinstance(e, Usage) and e.source == "agent"]
    assert [(e.input_tokens, e.output_tokens) for e in live] == [(8534, 1), (8610, 1)]
    assert usage_sum(events) == EXPECTED["tool-allowed.stream.jsonl"]
    texts = [e.text for e in of(events, AgentOutput) if isinstance(e, AgentOutput)]
    assert "thinking: hmm" in texts and "ok" in texts
    assert len(of(events, ToolCall)) == 1


def test_stream_cut_before_the_result() -> None:
    lines = lines_of("tool-allowed.stream.jsonl")[:-1]
    events = run(lines)
    assert usage_sum(events) == (17144, 2, 0, 0, 2)  # live figures only: output under-counted
    assert not of(events, AgentResult) and not of(events, HandoffEvent)
    (error,) = of(events, ErrorEvent)
    assert isinstance(error, ErrorEvent) and "ended without a result" in error.message


def test_half_written_and_foreign_lines() -> None:
    lines = lines_of("tool-allowed.stream.jsonl")
    lines.insert(2, lines[2][:57])  # half of the user event
    lines.insert(1, "npm WARN something")
    lines.insert(1, json.dumps({"type": "system", "subtype": "api_retry", "attempt": 1}))
    lines.insert(1, json.dumps({"type": "rate_limit_event", "x": 1}))
    events = run(lines)
    assert usage_sum(events) == EXPECTED["tool-allowed.stream.jsonl"]
    (bad,) = of(events, MalformedOutput)
    assert isinstance(bad, MalformedOutput) and bad.reason.startswith("half-written JSON")
    texts = [e.text for e in of(events, AgentOutput) if isinstance(e, AgentOutput)]
    assert "npm WARN something" in texts
    assert any('"api_retry"' in t for t in texts) and any("rate_limit_event" in t for t in texts)


def test_bad_usage_field_keeps_the_content() -> None:
    lines = lines_of("tool-allowed.stream.jsonl")
    data = json.loads(lines[1])
    data["message"]["usage"]["input_tokens"] = "8534"
    lines[1] = json.dumps(data)
    events = run(lines)
    (bad,) = of(events, MalformedOutput)
    assert isinstance(bad, MalformedOutput) and "message.usage.input_tokens" in bad.reason
    assert len(of(events, ToolCall)) == 1
    # the reconcile still lands exactly on the result's totals, turns included
    assert usage_sum(events) == EXPECTED["tool-allowed.stream.jsonl"]


def _result_with(lines: list[str], **changes: object) -> list[str]:
    data = json.loads(lines[-1])
    data.update(changes)
    return [*lines[:-1], json.dumps(data)]


def test_invalid_handoff_in_the_result_is_rejected_naming_the_field() -> None:
    lines = lines_of("tool-allowed.stream.jsonl")
    events = run(lines, max_chars=5)  # "nothing yet" is 11 characters
    (rejected,) = of(events, HandoffRejected)
    assert isinstance(rejected, HandoffRejected)
    assert (rejected.field, rejected.reason) == ("changed", "changed: 11 characters, limit 5")
    assert not of(events, HandoffEvent)

    text = 'Done.\n```json\n{"changed": "a", "next_needs": "b", "risks": "c", "mood": "good"}\n```'
    (extra,) = of(run(_result_with(lines, result=text)), HandoffRejected)
    assert isinstance(extra, HandoffRejected) and extra.field == "mood"


def test_no_handoff_in_the_result_is_nothing() -> None:
    lines = _result_with(lines_of("tool-allowed.stream.jsonl"), result="All done.")
    events = run(lines)
    assert not of(events, HandoffEvent) and not of(events, HandoffRejected)
    assert len(of(events, AgentResult)) == 1


def test_failed_run_hands_nothing_off() -> None:
    lines = _result_with(lines_of("tool-allowed.stream.jsonl"), is_error=True)
    events = run(lines)
    assert not of(events, HandoffEvent)


def test_model_usage_across_two_models_reconciles_per_model() -> None:
    lines = lines_of("tool-allowed.stream.jsonl")
    model_usage = {
        "claude-sonnet-4-5": {
            "inputTokens": 17144,
            "outputTokens": 68,
            "cacheReadInputTokens": 100,
            "cacheCreationInputTokens": 0,
            "costUSD": 0.05,
        },
        "claude-haiku-4-5": {
            "inputTokens": 300,
            "outputTokens": 20,
            "cacheReadInputTokens": 0,
            "cacheCreationInputTokens": 0,
            "costUSD": 0.0004,
        },
    }
    events = run(_result_with(lines, modelUsage=model_usage))
    assert usage_sum(events) == (17444, 88, 100, 0, 2)
    rec = [e for e in of(events, Usage) if isinstance(e, Usage) and e.source == "reconcile"]
    by_model = {e.model: (e.input_tokens, e.output_tokens, e.cache_read_input_tokens) for e in rec}
    assert by_model == {"claude-sonnet-4-5": (0, 66, 100), "claude-haiku-4-5": (300, 20, 0)}


def test_a_model_variant_in_model_usage_is_the_streams_model_not_another() -> None:
    """Claude Code 2.1's default model streams as ``claude-opus-4-8`` and totals as
    ``claude-opus-4-8[1m]`` (its 1M context window): one model, counted once, not twice."""
    lines = lines_of("tool-allowed.stream.jsonl")
    totals = json.loads(lines[-1])["modelUsage"]["claude-sonnet-4-5"]
    variant = {"claude-sonnet-4-5[1m]": {**totals, "costUSD": 0.04}}
    events = run(_result_with(lines, modelUsage=variant))
    assert usage_sum(events) == EXPECTED["tool-allowed.stream.jsonl"]
    rec = [e for e in of(events, Usage) if isinstance(e, Usage) and e.source == "reconcile"]
    assert [(e.model, "discrepancy" in e.extra) for e in rec] == [("claude-sonnet-4-5", False)]
    assert rec[0].extra["reported_cost_usd"] == 0.04


def test_usage_only_result_and_an_exact_stream_still_mark_the_reconcile() -> None:
    lines = lines_of("tool-allowed.stream.jsonl")
    data = json.loads(lines[-1])
    del data["modelUsage"]
    data["usage"]["output_tokens"] = 2  # what the live events already said
    events = run([*lines[:-1], json.dumps(data)])
    assert usage_sum(events) == (17144, 2, 0, 0, 2)
    (rec,) = [e for e in of(events, Usage) if isinstance(e, Usage) and e.source == "reconcile"]
    assert isinstance(rec, Usage) and rec.total_tokens == 0 and rec.turns == 0


def test_result_without_usage_is_reported_and_the_result_kept() -> None:
    lines = lines_of("tool-allowed.stream.jsonl")
    data = json.loads(lines[-1])
    del data["modelUsage"], data["usage"]
    events = run([*lines[:-1], json.dumps(data)])
    (bad,) = of(events, MalformedOutput)
    assert isinstance(bad, MalformedOutput) and "usage missing" in bad.reason
    assert len(of(events, AgentResult)) == 1


async def test_fixture_through_a_real_pipe_in_odd_chunks() -> None:
    """Framing + adapter end to end: a child writes the fixture a few bytes at a time."""
    path = _fixtures() / "tool-allowed.stream.jsonl"
    script = (
        "import sys, time\n"
        f"data = open({str(path)!r}, 'rb').read()\n"
        "for i in range(0, len(data), 777):\n"
        "    sys.stdout.buffer.write(data[i:i + 777]); sys.stdout.flush(); time.sleep(0.001)\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    adapter = ClaudeCodeAdapter("architect")
    events: list[Event] = []
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            async for batch in read_line_batches(proc.stdout):
                for item in batch:
                    assert not isinstance(item, MalformedLine)
                    events.extend(adapter.feed(item))
            events.extend(adapter.finish())
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert usage_sum(events) == EXPECTED["tool-allowed.stream.jsonl"]
    assert len(of(events, HandoffEvent)) == 1


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**6)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_counts = st.dictionaries(
    st.sampled_from(
        ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"]
    ),
    st.integers(0, 10**6) | _json,
    max_size=4,
)
_block = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "tool_use", "thinking", "tool_result", "image"])},
    optional={
        "text": _json,
        "name": st.sampled_from(["Bash", ""]) | _json,
        "input": _json,
        "id": st.text(max_size=4),
        "content": _json,
        "is_error": _json,
        "thinking": _json,
    },
)
_message = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["m1", "m2", "m3"]) | _json,
        "model": st.sampled_from(["claude-sonnet-4-5", "claude-haiku-4-5"]) | _json,
        "usage": _counts | _json,
        "content": st.lists(_block | _json, max_size=3) | _json,
    },
)
_model_usage = st.dictionaries(
    st.sampled_from(["claude-sonnet-4-5", "claude-haiku-4-5"]),
    st.dictionaries(
        st.sampled_from(["inputTokens", "outputTokens", "cacheReadInputTokens", "costUSD"]),
        st.integers(0, 10**6) | _json,
    )
    | _json,
    max_size=2,
)
_event = st.fixed_dictionaries(
    {"type": st.sampled_from(["system", "assistant", "user", "result", "stream_event"])},
    optional={
        "subtype": st.sampled_from(["init", "success", "api_retry"]) | _json,
        "message": _message | _json,
        "usage": _counts | _json,
        "modelUsage": _model_usage | _json,
        "num_turns": st.integers(-2, 10) | _json,
        "is_error": _json,
        "result": st.sampled_from(['```json\n{"changed": "a"}\n```', "done"]) | _json,
        "total_cost_usd": _json,
        "model": _json,
        "session_id": _json,
    },
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_event, max_size=8))
def test_any_stream_of_claude_shaped_events_never_hits_the_guard(
    events: list[dict[str, object]],
) -> None:
    adapter = ClaudeCodeAdapter("fuzz", 30)
    out: list[Event] = []
    for event in events[:-1]:
        out.extend(adapter.feed(json.dumps(event)))
    before = usage_sum(out)
    for event in events[-1:]:
        out.extend(adapter.feed(json.dumps(event)))
    out.extend(adapter.finish())
    for item in out:
        assert item.agent == "fuzz"
        if isinstance(item, MalformedOutput):
            assert not item.reason.startswith("adapter error"), item.reason
    types = [e["type"] for e in events]
    if types[-1:] == ["result"] and types.count("result") == 1 and "system" not in types:
        if of(out, MalformedOutput):
            return
        # One session, its one result, totals readable: the Usage events sum to the
        # result's totals, or to what the stream already showed if that was more
        # (meters only go up).
        last = events[-1]
        model_usage = last.get("modelUsage")
        usage = last.get("usage")
        if not model_usage and isinstance(usage, dict):
            expected = tuple(
                max(shown, usage.get(k) or 0)
                for shown, k in zip(
                    before[:3],
                    ("input_tokens", "output_tokens", "cache_read_input_tokens"),
                    strict=True,
                )
            )
            assert usage_sum(out)[:3] == expected
        if isinstance(last.get("num_turns"), int) and not isinstance(last["num_turns"], bool):
            assert usage_sum(out)[4] == max(before[4], last["num_turns"])
