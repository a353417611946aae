"""The one wording: every surface says an event the same way, and the public words do not move.

``fixtures/event_words.jsonl`` holds stored payloads (a real demo run's, and
one or more of every kind with edge values: defaults, None, multi-line and
over-long text) next to the words ``audit timeline --format jsonl`` carried
for them in its ``step`` field before the wording moved into
``controlroom.text``. That field is public interface, so the words must match
to the character.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlroom.models import (
    BUDGET_WARNING_PERCENT,
    EVENT_KINDS,
    AgentCrashed,
    AgentState,
    AgentStateChanged,
    KillCompleted,
    StatusEvent,
)
from controlroom.text import (
    LIMITS,
    describe,
    describe_payload,
    duration,
    format_line,
    limit_label,
    limit_value,
    money,
    tokens,
    tokens_short,
    worth_a_line,
)
from controlroom.tui.alerts import alert_for
from controlroom.tui.cells import meter_level
from controlroom.tui.screens.audit import format_event
from controlroom.tui.tail import EventTail

GOLDEN = Path(__file__).parent / "fixtures" / "event_words.jsonl"


def golden() -> list[dict[str, object]]:
    return [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines()]


def test_stored_payloads_read_exactly_as_the_timeline_always_said() -> None:
    records = golden()
    assert {r["payload"]["kind"] for r in records} == set(EVENT_KINDS)  # type: ignore[index]
    wrong = [
        (r["words"], describe_payload(r["payload"]))  # type: ignore[arg-type]
        for r in records
        if describe_payload(r["payload"]) != r["words"]  # type: ignore[arg-type]
    ]
    assert wrong == []


def test_a_payload_that_is_no_current_event_is_shown_as_its_fields() -> None:
    stored = {"run": "r", "seq": 1, "ts": 1.0, "agent": "a", "kind": "teleported", "to": "mars"}
    assert describe_payload(stored) == '{"to": "mars"}'


def test_every_surface_says_a_kill_in_the_same_words() -> None:
    event = KillCompleted(
        run="r", seq=7, ts=1_700_000_000.0, agent="w", duration_ms=12.3, survivors=0, processes=3
    )
    words = "kill completed: 3 processes in 12 ms, 0 survivors"
    assert describe(event) == words
    assert format_line(event).endswith(f"#7      w              {words}")  # headless/detached log
    assert format_event(event).endswith(words)  # the audit screen
    tail = EventTail()
    tail.feed(event)
    assert tail.lines("w")[0].endswith(f"─ {words}")  # the agent's log tail
    crashed = AgentCrashed(run="r", seq=8, ts=event.ts, agent="w", reason="no such program")
    alert = alert_for(crashed)
    assert alert is not None and alert.message == "w: crashed: no such program"


def test_the_logs_print_actions_and_lifecycle_not_chatter() -> None:
    assert worth_a_line(KillCompleted(duration_ms=1, survivors=0))
    assert not worth_a_line(StatusEvent(text="thinking"))
    assert not worth_a_line(AgentStateChanged(state=AgentState.RUNNING))
    assert worth_a_line(AgentStateChanged(state=AgentState.BLOCKED, reason="upstream failed"))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (-3, "0s"),
        (0.4, "0s"),
        (42.9, "42s"),
        (187, "3m07s"),
        (3723, "1h02m"),
        (2 * 86_400 + 3 * 3600 + 59, "2d03h"),
    ],
)
def test_one_duration_format(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_tokens_money_and_limits() -> None:
    assert (tokens(1_234_567), tokens_short(1_234_567), tokens_short(950)) == (
        "1,234,567",
        "1.23M",
        "950",
    )
    assert (money(0.01234), money(12.345), money(None)) == ("$0.0123", "$12.35", "-")
    assert [limit_label(k) for k in LIMITS][:4] == ["tokens", "cost", "wall time", "turns"]
    assert limit_label("max_tokens", short=True) == "tok"
    assert limit_value("max_tokens", 5000) == "5,000"
    assert limit_value("max_tokens", 5000, short=True) == "5.0k"
    assert limit_value("max_cost_usd", 0.5) == "$0.5000"
    assert limit_value("max_wall_seconds", 90) == "1m30s"
    assert limit_value("not_a_limit", 3) == "3"
    assert limit_value("memory_max", 64 << 20) == "64M"
    assert limit_value("pids_max", 64) == "64"
    assert limit_value("cpu_max", 1.5) == "1.5 cores"


def test_the_warning_colour_starts_where_the_governor_warns() -> None:
    at = BUDGET_WARNING_PERCENT / 100
    assert meter_level(at - 0.001) == "ok"
    assert meter_level(at) == "warn"
    assert meter_level(1.0) == "over"
