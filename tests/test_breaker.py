"""Circuit breaker: failure window, backoff, loop detection, operator reset."""

from __future__ import annotations

import pytest

from controlroom.models import (
    AgentOutput,
    Breaker,
    BreakerOpened,
    ErrorEvent,
    FilesChanged,
    StatusEvent,
    ToolCall,
    Usage,
)
from controlroom.policy.breaker import CircuitBreaker, backoff_delay, tool_call_key

ON_FAILURE = Breaker(
    restart="on-failure",
    max_failures=3,
    window_seconds=300,
    repeat_limit=3,
    backoff_seconds=1.0,
    backoff_max_seconds=30.0,
)


def bash(command: str, agent: str = "a") -> ToolCall:
    return ToolCall(agent=agent, name="Bash", input={"command": command})


# --------------------------------------------------------------------------- failures


def test_exactly_max_failures_open_the_breaker() -> None:
    breaker = CircuitBreaker("a", ON_FAILURE)
    first = breaker.record_exit(False, 0.0)
    assert (first.restart, first.delay_seconds, first.failures, first.opened) == (
        True,
        1.0,
        1,
        None,
    )
    second = breaker.record_exit(False, 10.0)
    assert (second.restart, second.delay_seconds, second.failures) == (True, 2.0, 2)
    assert second.opened is None and not breaker.is_open
    third = breaker.record_exit(False, 20.0)
    assert third.restart is False
    assert isinstance(third.opened, BreakerOpened)
    assert (third.opened.agent, third.opened.failures) == ("a", 3)
    assert third.opened.reason == "3 failures within 300 s" == third.reason
    assert breaker.is_open and breaker.open_reason == third.reason
    fourth = breaker.record_exit(False, 30.0)  # open: no restart, no second event
    assert (fourth.restart, fourth.opened) == (False, None)
    assert "operator reset" in fourth.reason
    assert breaker.record_exit(True, 40.0).restart is False


def test_old_failures_expire_from_the_window() -> None:
    breaker = CircuitBreaker("a", ON_FAILURE)
    breaker.record_exit(False, 0.0)
    breaker.record_exit(False, 100.0)
    assert breaker.failures(299.9) == 2
    assert breaker.failures(300.0) == 1  # exactly window_seconds old: expired
    verdict = breaker.record_exit(False, 300.0)
    assert (verdict.restart, verdict.failures, verdict.delay_seconds) == (True, 2, 2.0)
    opened = breaker.record_exit(False, 350.0)  # 100, 300, 350 are inside the window
    assert opened.opened is not None and opened.failures == 3
    assert breaker.failures(10_000.0) == 0


def test_backoff_doubles_and_is_capped() -> None:
    policy = ON_FAILURE.model_copy(update={"max_failures": 10})
    breaker = CircuitBreaker("a", policy)
    delays = [breaker.record_exit(False, float(t)).delay_seconds for t in range(9)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
    assert backoff_delay(policy, 0) == 0.0
    assert backoff_delay(policy, 10_000) == 30.0  # no float overflow
    half = policy.model_copy(update={"backoff_seconds": 0.5, "backoff_max_seconds": 100.0})
    assert [backoff_delay(half, n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]


def test_restart_never_still_counts_failures() -> None:
    breaker = CircuitBreaker("a", ON_FAILURE.model_copy(update={"restart": "never"}))
    first = breaker.record_exit(False, 0.0)
    assert (first.restart, first.failures, first.opened) == (False, 1, None)
    assert "never" in first.reason
    breaker.record_exit(False, 1.0)
    assert breaker.record_exit(False, 2.0).opened is not None


def test_success_is_neither_restarted_nor_counted() -> None:
    breaker = CircuitBreaker("a", ON_FAILURE)
    breaker.record_exit(False, 0.0)
    verdict = breaker.record_exit(True, 1.0)
    assert (verdict.restart, verdict.failures, verdict.opened) == (False, 1, None)
    assert breaker.record_exit(False, 2.0).failures == 2


def test_reset_closes_the_circuit_and_starts_counting_afresh() -> None:
    breaker = CircuitBreaker("a", ON_FAILURE)
    for t in range(3):
        breaker.record_exit(False, float(t))
    assert breaker.is_open
    event = breaker.reset("alice")
    assert (event.agent, event.by, event.kind) == ("a", "alice", "breaker_reset")
    assert not breaker.is_open and breaker.open_reason is None
    verdict = breaker.record_exit(False, 4.0)
    assert (verdict.restart, verdict.failures, verdict.delay_seconds) == (True, 1, 1.0)


# --------------------------------------------------------------------------- loops


def test_same_tool_call_repeat_limit_times_in_a_row_opens() -> None:
    breaker = CircuitBreaker("a", ON_FAILURE.model_copy(update={"repeat_limit": 5}))
    for _ in range(4):
        assert breaker.observe(bash("pytest -q")) is None
    assert breaker.streak == 4
    opened = breaker.observe(bash("pytest -q"))
    assert opened is not None
    assert opened.agent == "a" and opened.failures == 5
    assert opened.reason == 'same tool call Bash {"command":"pytest -q"} 5 times in a row'
    assert breaker.is_open
    assert breaker.observe(bash("pytest -q")) is None  # reported once
    assert breaker.record_exit(False, 0.0).restart is False


def test_tool_input_is_compared_canonically() -> None:
    breaker = CircuitBreaker("a", ON_FAILURE)
    assert tool_call_key("Edit", {"a": 1, "b": [1, 2]}) == tool_call_key(
        "Edit", {"b": [1, 2], "a": 1}
    )
    breaker.observe(ToolCall(agent="a", name="Edit", input={"a": 1, "b": 2}))
    breaker.observe(ToolCall(agent="a", name="Edit", input={"b": 2, "a": 1}))
    assert breaker.observe(ToolCall(agent="a", name="Edit", input={"b": 2, "a": 1})) is not None


def test_a_different_call_or_error_resets_the_streak() -> None:
    breaker = CircuitBreaker("a", ON_FAILURE)
    breaker.observe(bash("ls"))
    breaker.observe(bash("ls"))
    breaker.observe(bash("ls -l"))  # different input
    assert breaker.streak == 1
    breaker.observe(bash("ls -l"))
    breaker.observe(ToolCall(agent="a", name="Read", input={"command": "ls -l"}))  # other tool
    breaker.observe(bash("ls -l"))
    breaker.observe(ErrorEvent(agent="a", message="boom"))  # an error between calls
    breaker.observe(bash("ls -l"))
    assert breaker.observe(bash("ls -l")) is None
    assert breaker.streak == 2 and not breaker.is_open


def test_status_usage_and_output_do_not_break_a_streak() -> None:
    breaker = CircuitBreaker("a", ON_FAILURE)
    quiet = [
        StatusEvent(agent="a", text="trying again"),
        Usage(agent="a", input_tokens=10),
        AgentOutput(agent="a", text="log line"),
    ]
    assert breaker.observe(bash("make")) is None
    for event in quiet:
        assert breaker.observe(event) is None
    assert breaker.observe(bash("make")) is None
    for event in quiet:
        breaker.observe(event)
    assert breaker.observe(bash("make")) is not None


def test_same_error_repeat_limit_times_opens() -> None:
    breaker = CircuitBreaker("a", ON_FAILURE)
    assert breaker.observe(ErrorEvent(agent="a", message="rate limited")) is None
    assert breaker.observe(ErrorEvent(agent="a", message="rate limited", where="x")) is None
    opened = breaker.observe(ErrorEvent(agent="a", message="rate limited"))
    assert opened is not None
    assert opened.reason == "same error 'rate limited' 3 times in a row"


def test_error_and_tool_call_with_the_same_text_are_different() -> None:
    breaker = CircuitBreaker("a", ON_FAILURE)
    breaker.observe(ErrorEvent(agent="a", message='Bash {"command":"x"}'))
    breaker.observe(bash("x"))
    breaker.observe(bash("x"))
    assert breaker.streak == 2 and not breaker.is_open


def test_other_agents_events_are_ignored() -> None:
    breaker = CircuitBreaker("a", ON_FAILURE)
    breaker.observe(bash("x"))
    breaker.observe(bash("x", agent="b"))
    assert breaker.observe(bash("x")) is None
    assert breaker.observe(bash("x")) is not None


def test_reset_clears_the_streak_and_long_calls_are_shortened_in_the_reason() -> None:
    breaker = CircuitBreaker("a", ON_FAILURE)
    long = bash("x" * 5000)
    breaker.observe(long)
    breaker.observe(long)
    opened = breaker.observe(long)
    assert opened is not None
    assert len(opened.reason) < 250 and opened.reason.endswith("3 times in a row")
    breaker.reset("bob")
    assert breaker.streak == 0
    assert breaker.observe(long) is None
    assert breaker.observe(long) is None
    assert breaker.observe(long) is not None


@pytest.mark.parametrize("limit", [2, 3, 7])
def test_loop_opens_exactly_at_the_repeat_limit(limit: int) -> None:
    breaker = CircuitBreaker("a", Breaker(repeat_limit=limit))
    results = [breaker.observe(bash("same")) for _ in range(limit)]
    assert results[:-1] == [None] * (limit - 1)
    assert results[-1] is not None


# --------------------------------------------------------------------------- stalls


def files_changed(agent: str = "a") -> FilesChanged:
    return FilesChanged(agent=agent)


def test_a_diff_that_does_not_move_for_stall_turns_opens_the_breaker() -> None:
    breaker = CircuitBreaker("a", Breaker(stall_turns=3))
    assert breaker.counts_turns
    for _ in range(5):  # turns before the radar tracks the agent do not count
        assert breaker.observe(Usage(agent="a")) is None
    assert breaker.observe(files_changed()) is None
    assert breaker.observe(Usage(agent="a", turns=2)) is None
    assert breaker.observe(files_changed()) is None  # the diff moved: counting starts over
    assert breaker.observe(Usage(agent="a", turns=2)) is None
    opened = breaker.observe(Usage(agent="a"))
    assert isinstance(opened, BreakerOpened)
    assert (opened.reason, opened.failures) == ("stalled: its diff has not moved for 3 turns", 3)
    assert breaker.is_open
    breaker.reset("op")
    assert breaker.observe(Usage(agent="a", turns=2)) is None  # counting anew after a reset


def test_stall_detection_is_off_by_default() -> None:
    breaker = CircuitBreaker("a", Breaker())
    assert not breaker.counts_turns
    breaker.observe(files_changed())
    assert all(breaker.observe(Usage(agent="a", turns=100)) is None for _ in range(10))
