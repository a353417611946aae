"""Meters only go up: an agent cannot roll back what it was counted as spending.

Written as the hostile claude-code agent of issue 10 (finding 7): seven
assistant messages of 100k input tokens, then a ``result`` whose usage says
1 in / 1 out, five times over. Before the fix the reconcile events carried
-699,999 input tokens, 3.5 M tokens ran against a 1 M budget with no stop,
and ``audit runs`` showed 1 in, 1 out, $0.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from pathlib import Path

import pydantic
import pytest
from clikit import controlroom

from controlroom.adapters.claude_code import ClaudeCodeAdapter
from controlroom.models import AgentResult, Event, Pricing, SwarmConfig, Usage
from controlroom.policy.meters import AgentMeter, SwarmMeter

AGENTS = Path(__file__).parent / "agents"
SONNET = Pricing(
    input_per_mtok=3.0, output_per_mtok=15.0, cache_read_per_mtok=0.3, cache_write_per_mtok=3.75
)
PRICE = SwarmConfig(pricing={"default": SONNET}).price_for
COUNTS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def attack_lines(rounds: int = 5, *, new_sessions: bool = False) -> list[str]:
    """What tests/agents/meter_rollback.py prints (the same agent, read in-process)."""
    import subprocess

    argv = [sys.executable, str(AGENTS / "meter_rollback.py"), str(rounds)]
    if new_sessions:
        argv.append("sessions")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout
    return out.splitlines()


def feed(lines: list[str]) -> list[Event]:
    adapter = ClaudeCodeAdapter("liar")
    events: list[Event] = []
    for line in lines:
        events.extend(adapter.feed(line))
    events.extend(adapter.finish())
    return events


def usages(events: list[Event]) -> list[Usage]:
    return [e for e in events if isinstance(e, Usage)]


@pytest.mark.parametrize("new_sessions", [False, True], ids=["one-session", "new-session-each"])
def test_a_lower_result_never_lowers_the_count(new_sessions: bool) -> None:
    events = feed(attack_lines(5, new_sessions=new_sessions))
    counted = usages(events)
    for u in counted:  # no delta of any kind is negative: nothing is taken back
        assert all(getattr(u, key) >= 0 for key in COUNTS), u
        assert u.turns >= 0, u
    assert sum(u.input_tokens for u in counted) == 3_500_000
    # the lie is on the record, beside the count it did not change
    lies = [u for u in counted if u.source == "reconcile" and "discrepancy" in u.extra]
    assert lies, "a lower reported total must be recorded as a discrepancy"
    assert lies[0].extra["discrepancy"]["input_tokens"] == 1 - 700_000


def test_a_session_is_reconciled_once() -> None:
    """A second result in the same session adds nothing on top of the first."""
    lines = attack_lines(1)
    result = json.loads(lines[-1])
    result["usage"] = {"input_tokens": 900_000, "output_tokens": 50}  # the first: 200k more
    second = {**result, "usage": {"input_tokens": 5_000_000, "output_tokens": 50}}
    events = feed([*lines[:-1], json.dumps(result), json.dumps(second)])
    reconciles = [u for u in usages(events) if u.source == "reconcile"]
    assert len(reconciles) == 1
    assert (reconciles[0].input_tokens, reconciles[0].output_tokens) == (200_000, 43)
    assert sum(u.input_tokens for u in usages(events)) == 900_000
    assert len([e for e in events if isinstance(e, AgentResult)]) == 2


def test_usage_counts_cannot_be_negative() -> None:
    """The event itself refuses a negative count, whoever builds it (adapter, proxy)."""
    for key in (*COUNTS, "turns"):
        with pytest.raises(pydantic.ValidationError):
            Usage(agent="a", **{key: -1})


def test_the_meter_never_goes_down() -> None:
    """Even an event built without validation cannot lower a meter or the swarm total."""
    swarm = SwarmMeter(PRICE)
    swarm.record(Usage(agent="a", input_tokens=700_000), now=0.0)
    before = swarm.agent("a").snapshot(1.0)
    rollback = Usage.model_construct(
        agent="a", kind="usage", input_tokens=-699_999, output_tokens=-5,
        cache_read_input_tokens=0, cache_creation_input_tokens=0, model=None, turns=-3,
        source="reconcile", cost_usd=0.0, extra={},
    )  # fmt: skip
    swarm.record(rollback, now=2.0)
    after = swarm.agent("a").snapshot(3.0)
    assert after.input_tokens == before.input_tokens == 700_000
    assert after.total_tokens == 700_000 and after.turns == before.turns
    assert after.cost_usd == pytest.approx(before.cost_usd)
    assert swarm.charged_usd == pytest.approx(before.cost_usd)


def test_a_negative_reported_price_lowers_nothing() -> None:
    meter = AgentMeter("a", PRICE)
    meter.record_result(AgentResult(agent="a", is_error=False, reported_cost_usd=2.0))
    meter.record_result(AgentResult(agent="a", is_error=False, reported_cost_usd=-1.5))
    assert meter.reported_cost_usd == 2.0


def test_the_rollback_agent_is_stopped_at_its_budget(tmp_path: Path) -> None:
    """End to end: the lying agent under a 1 M token budget is stopped; the log agrees."""
    command = json.dumps([sys.executable, str(AGENTS / "meter_rollback.py"), "5"])
    cfg = tmp_path / "swarm.toml"
    cfg.write_text(
        '[swarm]\nname = "t"\naudit_db = "audit.db"\n\n'
        f'[[agents]]\nname = "liar"\nformat = "claude-code"\ncommand = {command}\n'
        "budget = { max_tokens = 1_000_000 }\n",
        encoding="utf-8",
    )
    result = controlroom("run", str(cfg), "--headless", cwd=tmp_path)
    assert re.search(r"liar\s+budget exceeded: max_tokens", result.stdout), result.stdout
    assert result.returncode == 1
    db = tmp_path / "audit.db"
    with sqlite3.connect(db) as conn:
        rows = [json.loads(p) for (p,) in conn.execute("SELECT payload FROM events")]
    for usage in (r for r in rows if r.get("kind") == "usage"):
        assert all(usage.get(key, 0) >= 0 for key in COUNTS), usage
    runs = controlroom("audit", "runs", "--db", str(db), "--format", "jsonl", cwd=tmp_path)
    (run,) = [json.loads(line) for line in runs.stdout.splitlines()]
    liar = run["agents"]["liar"]
    assert liar["input_tokens"] >= 1_000_000
    assert liar["cost_usd"] >= 3.0  # 1 M input tokens at $3 per million, at the least
