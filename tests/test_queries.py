"""The read-side audit queries, run on real SQLite files built here.

The databases are written with plain ``sqlite3`` (schema migrations, the
canonical JSON of real ``Event`` models, a correct hash chain), so these
tests depend on the schema and the event model only, not on the writer.
``build_story`` is also used by tests/test_cli_audit.py.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from controlroom.models import (
    AgentExited,
    AgentOutput,
    AgentSpawned,
    AgentStateChanged,
    BreakerOpened,
    BudgetExceeded,
    ConfigLoaded,
    EventBase,
    GateDecided,
    GateRequested,
    Handoff,
    HandoffEvent,
    KillCompleted,
    MalformedOutput,
    RunEnded,
    RunStarted,
    StatusEvent,
    ToolCall,
    Usage,
)
from controlroom.store import queries
from controlroom.store.connection import open_readonly
from controlroom.store.rows import canonical_json
from controlroom.store.schema import GENESIS_HASH, MIGRATIONS, SCHEMA_VERSION
from controlroom.text import describe_payload

T0 = datetime(2026, 11, 25, 2, 0, 0, tzinfo=UTC).timestamp() + 0.123
"""First event's time: 2026-11-25T02:00:00.123Z; each next event is one second later."""


class AuditDB:
    """Writes events into a fresh audit database the way the store does: chained, canonical."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path)
        for script in MIGRATIONS:
            self.conn.executescript(script)
        self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self.prev = GENESIS_HASH
        self.seqs: dict[str, int] = {}
        self.hashes: list[str] = []

    def add(self, run: str, event: EventBase, ts: float | None = None) -> int:
        seq = self.seqs[run] = self.seqs.get(run, 0) + 1
        stamp = T0 + len(self.hashes) if ts is None else ts
        event = event.model_copy(update={"run": run, "seq": seq, "ts": stamp})
        payload = canonical_json(event)
        digest = hashlib.sha256((self.prev + payload).encode()).hexdigest()
        kind: str = event.kind  # type: ignore[attr-defined]
        cur = self.conn.execute(
            "INSERT INTO events (run, seq, ts, agent, kind, payload, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run, seq, stamp, event.agent, kind, payload, self.prev, digest),
        )
        event_id = int(cur.lastrowid or 0)
        self.conn.execute(
            "INSERT OR REPLACE INTO chain_head (one, last_id, hash) VALUES (1, ?, ?)",
            (event_id, digest),
        )
        self.prev = digest
        self.hashes.append(digest)
        return event_id

    def close(self) -> Path:
        self.conn.commit()
        self.conn.close()
        return self.path


def own_fields(event: EventBase) -> dict[str, Any]:
    """An event's own fields as stored (JSON values, defaults included), without the base ones."""
    return event.model_dump(mode="json", exclude=set(queries.BASE_KEYS))


TOOL = ToolCall(agent="architect", name="Bash", input={"command": "pytest -q"})
"""Event 7 of the story."""

HANDOFF = HandoffEvent(
    agent="architect",
    handoff=Handoff(changed="retry policy", next_needs="wire it in", risks="none known"),
)
"""Event 11 of the story."""


def build_story(path: Path) -> Path:
    """Two runs of a small swarm; every number below is asserted somewhere.

    run r1 (swarm demo, ends failed): architect spawns, calls a tool, spends
    1500/300/50/10 tokens for $0.015 over 2 turns, hands off through gate g1
    (decided by alice on a swarm-level event), exits 0, state done.
    implementer spends 2000/300 for $0.02 in 3 turns, blows its token budget,
    is killed (no agent_state: the outcome is derived). tester is blocked.
    run r2 (no run_ended): architect again, 100/10 tokens, $0.001.
    """
    db = AuditDB(path)
    a, i = "architect", "implementer"
    db.add("r1", RunStarted(swarm="demo", pid=100, mode="headless"))  # 1
    db.add("r1", ConfigLoaded(path="/cfg/config.toml", agents=[a, i, "tester"]))  # 2
    db.add("r1", AgentStateChanged(agent=a, state="starting", previous="pending"))  # 3
    db.add(
        "r1",
        AgentSpawned(agent=a, pid=4242, create_time=1.0, argv=["claude"], workspace="/w/a"),
    )  # 4
    db.add("r1", AgentStateChanged(agent=a, state="running", previous="starting"))  # 5
    db.add(
        "r1",
        Usage(
            agent=a,
            input_tokens=1000,
            output_tokens=200,
            cache_read_input_tokens=50,
            cache_creation_input_tokens=10,
            cost_usd=0.01,
            model="claude-sonnet-4-5",
        ),
    )  # 6
    db.add("r1", TOOL)  # 7
    db.add("r1", AgentOutput(agent=a, text="collected 12 items"))  # 8
    db.add("r1", Usage(agent=a, input_tokens=500, output_tokens=100, cost_usd=0.005))  # 9
    db.add("r1", MalformedOutput(agent=a, reason="not UTF-8", length=12))  # 10
    db.add("r1", HANDOFF)  # 11
    db.add(
        "r1",
        GateRequested(agent=a, gate_id="g1", gate_kind="handoff", title="architect handoff"),
    )  # 12
    db.add("r1", GateDecided(gate_id="g1", approved=True, by="alice", reason="looks right"))  # 13
    db.add(
        "r1", AgentSpawned(agent=i, pid=5000, create_time=2.0, argv=["x"], workspace="/w/i")
    )  # 14
    db.add("r1", Usage(agent=i, input_tokens=2000, output_tokens=300, cost_usd=0.02, turns=3))
    db.add(
        "r1", BudgetExceeded(agent=i, limit="max_tokens", value=2300, cap=2000, overshoot=300)
    )  # 16
    db.add("r1", KillCompleted(agent=i, duration_ms=12.5, survivors=0, processes=2))  # 17
    db.add("r1", AgentExited(agent=i, returncode=-15, signal="SIGTERM", success=False))  # 18
    db.add("r1", AgentExited(agent=a, returncode=0, success=True, duration_seconds=14.0))  # 19
    db.add(
        "r1", AgentStateChanged(agent=a, state="done", previous="running", reason="exit code 0")
    )  # 20
    db.add(
        "r1",
        AgentStateChanged(
            agent="tester", state="blocked", previous="pending", reason="implementer failed"
        ),
    )  # 21
    db.add("r1", RunEnded(outcome="failed", detail="implementer over budget"))  # 22
    db.add("r2", RunStarted(swarm="demo", pid=200))  # 23
    db.add(
        "r2", AgentSpawned(agent=a, pid=7000, create_time=3.0, argv=["claude"], workspace="/w")
    )  # 24
    db.add("r2", Usage(agent=a, input_tokens=100, output_tokens=10, cost_usd=0.001))  # 25
    db.add("r2", StatusEvent(agent=a, text="thinking again"))  # 26
    return db.close()


@pytest.fixture
def story(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = open_readonly(build_story(tmp_path / "audit.db"))
    yield conn
    conn.close()


def ids(rows: list[queries.EventRow]) -> list[int]:
    return [r.id for r in rows]


# --------------------------------------------------------------------------- list


def test_list_everything_in_id_order_with_fields_split_from_columns(
    story: sqlite3.Connection,
) -> None:
    rows = queries.list_events(story)
    assert ids(rows) == list(range(1, 27))
    tool = rows[6]
    assert (tool.kind, tool.agent, tool.run, tool.seq, tool.ts) == (
        "tool_call",
        "architect",
        "r1",
        7,
        T0 + 6,
    )
    assert tool.fields == own_fields(TOOL)
    assert tool.fields["input"] == {"command": "pytest -q"}
    assert rows[0].agent is None and rows[0].fields["swarm"] == "demo"


def test_each_filter_alone(story: sqlite3.Connection) -> None:
    assert ids(queries.list_events(story, run="r2")) == [23, 24, 25, 26]
    assert ids(queries.list_events(story, agent="implementer")) == [14, 15, 16, 17, 18]
    assert ids(queries.list_events(story, kind="usage")) == [6, 9, 15, 25]
    assert ids(queries.list_events(story, kind=["run_started", "run_ended"])) == [1, 22, 23]
    assert ids(queries.list_events(story, since=T0 + 20)) == [21, 22, 23, 24, 25, 26]
    assert ids(queries.list_events(story, until=T0 + 3)) == [1, 2, 3]  # until is exclusive
    assert ids(queries.list_events(story, after_id=23)) == [24, 25, 26]
    assert queries.list_events(story, run="no-such-run") == []
    assert queries.list_events(story, agent="nobody") == []


def test_filters_combine(story: sqlite3.Connection) -> None:
    rows = queries.list_events(story, run="r1", agent="architect", kind=["usage", "tool_call"])
    assert ids(rows) == [6, 7, 9]
    rows = queries.list_events(story, agent="architect", since=T0 + 5, until=T0 + 24)
    assert ids(rows) == [6, 7, 8, 9, 10, 11, 12, 19, 20, 24]


def test_limit_keeps_the_newest_in_ascending_order(story: sqlite3.Connection) -> None:
    assert ids(queries.list_events(story, limit=3)) == [24, 25, 26]
    assert ids(queries.list_events(story, kind="usage", limit=2)) == [15, 25]
    assert ids(queries.list_events(story, kind=["usage", "tool_call"], limit=3)) == [9, 15, 25]
    assert ids(queries.list_events(story, run="r1", limit=2)) == [21, 22]
    assert ids(queries.list_events(story, agent="architect", run="r1", limit=2)) == [19, 20]
    assert ids(queries.list_events(story, until=T0 + 10, limit=2)) == [9, 10]
    assert queries.list_events(story, limit=0) == []


def test_limit_after_an_id_pages_forward(story: sqlite3.Connection) -> None:
    assert ids(queries.list_events(story, after_id=10, limit=3)) == [11, 12, 13]
    assert ids(queries.list_events(story, kind=["usage", "status"], after_id=6, limit=2)) == [
        9,
        15,
    ]


def test_iter_events_streams_the_same_rows(story: sqlite3.Connection) -> None:
    streamed = queries.iter_events(story, agent="architect", run="r1")
    assert ids(list(streamed)) == ids(queries.list_events(story, agent="architect", run="r1"))


def test_get_event_carries_its_chain_hashes(tmp_path: Path) -> None:
    path = build_story(tmp_path / "a.db")
    conn = open_readonly(path)
    raw = sqlite3.connect(path).execute("SELECT prev_hash, hash FROM events WHERE id = 7")
    prev_hash, digest = raw.fetchone()
    event = queries.get_event(conn, 7)
    assert event is not None
    assert (event.prev_hash, event.hash) == (prev_hash, digest)
    assert event.kind == "tool_call" and event.fields["name"] == "Bash"
    assert queries.get_event(conn, 999) is None
    conn.close()


def test_agents_lists_every_name_once(story: sqlite3.Connection) -> None:
    assert queries.agents(story) == ["architect", "implementer", "tester"]


# --------------------------------------------------------------------------- timeline


def test_timeline_tells_the_story_of_one_agent_in_one_run(story: sqlite3.Connection) -> None:
    tl = queries.timeline(story, "architect", run="r1")
    assert tl is not None
    assert (tl.agent, tl.run) == ("architect", "r1")
    # usage, output and malformed lines are summed/counted, not told; the gate
    # decision is told although it was stamped on the swarm, not the agent
    assert ids(tl.steps) == [3, 4, 5, 7, 11, 12, 13, 19, 20]
    assert [s.kind for s in tl.steps][:2] == ["agent_state", "agent_spawned"]
    assert tl.usage.as_dict() == {
        "input_tokens": 1500,
        "output_tokens": 300,
        "cache_read_input_tokens": 50,
        "cache_creation_input_tokens": 10,
        "cost_usd": pytest.approx(0.015, abs=1e-12),
        "turns": 2,
    }
    assert (tl.outcome, tl.reason) == ("done", "exit code 0")
    assert (tl.attempts, tl.output_lines, tl.malformed_lines) == (1, 1, 1)
    assert (tl.first_ts, tl.last_ts) == (T0 + 2, T0 + 19)
    words = [describe_payload(s.payload) for s in tl.steps]
    assert words[1] == "spawned pid 4242 (attempt 1) in /w/a"
    assert words[3] == 'tool Bash {"command": "pytest -q"}'
    assert words[6] == "gate g1 approved by alice: looks right"
    assert words[8] == "state running → done: exit code 0"


def test_timeline_defaults_to_the_newest_run_of_the_agent(story: sqlite3.Connection) -> None:
    tl = queries.timeline(story, "architect")
    assert tl is not None and tl.run == "r2"
    assert ids(tl.steps) == [24, 26]
    assert (tl.usage.input_tokens, tl.usage.output_tokens, tl.usage.turns) == (100, 10, 1)
    assert tl.outcome == queries.UNKNOWN  # spawned, nothing after it yet
    implementer = queries.timeline(story, "implementer")
    assert implementer is not None and implementer.run == "r1"


def test_timeline_derives_how_it_ended_without_agent_state(story: sqlite3.Connection) -> None:
    tl = queries.timeline(story, "implementer", run="r1")
    assert tl is not None
    assert tl.outcome == "budget_stopped"
    assert tl.reason == "max_tokens 2300.0 over cap 2000.0"
    assert [s.kind for s in tl.steps] == [
        "agent_spawned",
        "budget_exceeded",
        "kill_completed",
        "agent_exited",
    ]
    assert tl.usage.turns == 3 and tl.usage.cost_usd == 0.02


def test_timeline_of_unknown_agent_or_run_is_none(story: sqlite3.Connection) -> None:
    assert queries.timeline(story, "nobody") is None
    assert queries.timeline(story, "architect", run="r9") is None
    assert queries.timeline(story, "implementer", run="r2") is None


def _last(**events: tuple[int, dict[str, Any]]) -> dict[str, tuple[int, dict[str, Any]]]:
    return dict(events)


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (_last(agent_state=(9, {"state": "paused", "reason": "operator"})), ("paused", "operator")),
        (
            _last(agent_spawned=(1, {}), agent_exited=(2, {"success": True, "returncode": 0})),
            ("done", "exit code 0"),
        ),
        (
            _last(agent_spawned=(1, {}), agent_exited=(2, {"success": False, "returncode": 3})),
            ("failed", "exit code 3"),
        ),
        (
            _last(
                agent_spawned=(1, {}),
                kill_completed=(2, {}),
                agent_exited=(3, {"success": False, "signal": "SIGTERM"}),
            ),
            ("killed", ""),
        ),
        (
            _last(
                agent_spawned=(1, {}),
                agent_exited=(2, {"success": False, "returncode": 1}),
                breaker_opened=(3, {"reason": "3 failures"}),
            ),
            ("breaker_open", "3 failures"),
        ),
        # what happened before the last spawn belongs to an earlier attempt
        (
            _last(
                budget_exceeded=(2, {"limit": "max_turns"}),
                agent_spawned=(5, {}),
                agent_exited=(6, {"success": True, "returncode": 0}),
            ),
            ("done", "exit code 0"),
        ),
        (
            _last(agent_spawned=(1, {}), agent_crashed=(2, {"reason": "no such file"})),
            ("failed", "no such file"),
        ),
        (_last(agent_spawned=(1, {})), (queries.UNKNOWN, "")),
        (_last(), ("unknown", "")),
    ],
)
def test_derive_outcome(
    last: dict[str, tuple[int, dict[str, Any]]], expected: tuple[str, str]
) -> None:
    assert queries.derive_outcome(last) == expected


def test_breaker_and_exit_events_feed_outcome(tmp_path: Path) -> None:
    db = AuditDB(tmp_path / "b.db")
    db.add("r", AgentSpawned(agent="x", pid=1, create_time=1.0, argv=["x"], workspace="."))
    db.add("r", AgentExited(agent="x", returncode=2, success=False))
    db.add("r", BreakerOpened(agent="x", reason="same error 5 times", failures=3))
    conn = open_readonly(db.close())
    tl = queries.timeline(conn, "x")
    assert tl is not None and (tl.outcome, tl.reason) == ("breaker_open", "same error 5 times")
    [run] = queries.runs(conn)
    assert run.agents["x"].outcome == "breaker_open"
    conn.close()


# --------------------------------------------------------------------------- runs


def test_runs_totals_and_outcomes_are_exact(story: sqlite3.Connection) -> None:
    r1, r2 = queries.runs(story)
    assert (r1.id, r1.swarm, r1.outcome, r1.detail, r1.events) == (
        "r1",
        "demo",
        "failed",
        "implementer over budget",
        22,
    )
    assert (r1.started, r1.ended, r1.last_ts) == (T0, T0 + 21, T0 + 21)
    assert list(r1.agents) == ["architect", "implementer", "tester"]
    arch, impl, tester = r1.agents.values()
    assert arch.usage.as_dict() == {
        "input_tokens": 1500,
        "output_tokens": 300,
        "cache_read_input_tokens": 50,
        "cache_creation_input_tokens": 10,
        "cost_usd": pytest.approx(0.015, abs=1e-12),
        "turns": 2,
    }
    assert (arch.outcome, arch.reason) == ("done", "exit code 0")
    assert impl.usage.as_dict() == {
        "input_tokens": 2000,
        "output_tokens": 300,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cost_usd": 0.02,
        "turns": 3,
    }
    assert impl.outcome == "budget_stopped"
    assert (tester.outcome, tester.reason, tester.usage.total_tokens) == (
        "blocked",
        "implementer failed",
        0,
    )
    assert r1.usage.input_tokens == 3500 and r1.usage.turns == 5
    assert r1.usage.cost_usd == pytest.approx(0.035, abs=1e-12)

    assert (r2.id, r2.outcome, r2.ended, r2.events, r2.started) == (
        "r2",
        queries.UNKNOWN,
        None,
        4,
        T0 + 22,
    )
    assert r2.agents["architect"].usage.input_tokens == 100
    assert r2.agents["architect"].outcome == queries.UNKNOWN


def test_runs_of_one_run_and_of_an_empty_database(
    story: sqlite3.Connection, tmp_path: Path
) -> None:
    [only] = queries.runs(story, "r2")
    assert only.id == "r2" and list(only.agents) == ["architect"]
    assert queries.runs(story, "nope") == []
    empty = open_readonly(AuditDB(tmp_path / "empty.db").close())
    assert queries.runs(empty) == [] and queries.list_events(empty) == []
    empty.close()


def test_runs_count_an_agent_metered_at_the_wire_once(tmp_path: Path) -> None:
    """Its own report of the same tokens is a second account, not more spend (as in the meter);
    an agent the proxy never metered is counted from its own reports."""
    db = AuditDB(tmp_path / "w.db")
    db.add("r", Usage(agent="cc", source="proxy", input_tokens=100, output_tokens=7, cost_usd=0.5))
    db.add("r", Usage(agent="cc", source="agent", input_tokens=100, output_tokens=1, cost_usd=0.4))
    db.add("r", Usage(agent="cc", source="reconcile", output_tokens=6, turns=0, cost_usd=0.1))
    db.add("r", Usage(agent="cc", source="proxy", output_tokens=3, turns=0, cost_usd=0.25))
    db.add("r", Usage(agent="own", source="agent", input_tokens=40, output_tokens=2, cost_usd=0.2))
    conn = open_readonly(db.close())
    [run] = queries.runs(conn)
    cc, own = run.agents["cc"].usage, run.agents["own"].usage
    assert (cc.input_tokens, cc.output_tokens, cc.cost_usd, cc.turns) == (100, 10, 0.75, 1)
    assert (own.input_tokens, own.output_tokens, own.cost_usd, own.turns) == (40, 2, 0.2, 1)
    conn.close()


# --------------------------------------------------------------------------- time


NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", NOW - 45),
        ("90m", NOW - 5400),
        ("2h", NOW - 7200),
        ("1.5h", NOW - 5400),
        ("1d", NOW - 86400),
        ("3w", NOW - 3 * 604800),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC).timestamp()),
        ("2026-11-01T12:30", datetime(2026, 11, 1, 12, 30, tzinfo=UTC).timestamp()),
        ("2026-11-01T12:30:00Z", datetime(2026, 11, 1, 12, 30, tzinfo=UTC).timestamp()),
        ("2026-11-01T14:30:00+02:00", datetime(2026, 11, 1, 12, 30, tzinfo=UTC).timestamp()),
        (" 3w ", NOW - 3 * 604800),
    ],
)
def test_parse_when(text: str, expected: float) -> None:
    assert queries.parse_when(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["3x", "", "yesterday", "90", "-5m", "2026-13-01", "m5"])
def test_parse_when_rejects_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"neither a duration \(like 90m or 3w"):
        queries.parse_when(text, now=NOW)


# --------------------------------------------------------------------------- plans


def _plans(conn: sqlite3.Connection, call: Any) -> list[str]:
    """The query plan of every SELECT ``call`` runs (SQL traced with its bound values)."""
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        call()
    finally:
        conn.set_trace_callback(None)
    details = []
    for sql in statements:
        if sql.lstrip().upper().startswith(("SELECT", "WITH")):
            plan = conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
            details.append(" | ".join(row[3] for row in plan))
    assert details, "nothing was traced"
    return details


@pytest.fixture
def bigger(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    db = AuditDB(tmp_path / "plans.db")
    for n in range(600):
        run = f"r{n // 200}"
        agent = f"a{n % 4}"
        if n % 3:
            db.add(run, AgentOutput(agent=agent, text=f"line {n}"))
        else:
            db.add(run, Usage(agent=agent, input_tokens=n, output_tokens=1, cost_usd=0.5))
        if n % 50 == 0:
            db.add(run, ToolCall(agent=agent, name="Bash"))
    conn = open_readonly(db.close())
    yield conn
    conn.close()


def test_listing_queries_walk_an_index_and_never_sort_the_table(
    bigger: sqlite3.Connection,
) -> None:
    cases = {
        "kind": lambda: queries.list_events(bigger, kind="tool_call", limit=20),
        "agent": lambda: queries.list_events(bigger, agent="a1", limit=20),
        "run": lambda: queries.list_events(bigger, run="r1", limit=20),
        "until": lambda: queries.list_events(bigger, until=T0 + 30, limit=20),
        "agent+kind": lambda: queries.list_events(bigger, agent="a1", kind="usage", limit=5),
    }
    for name, call in cases.items():
        for plan in _plans(bigger, call):
            assert "TEMP B-TREE" not in plan, (name, plan)
            assert "SEARCH events" in plan or plan == "SCAN events", (name, plan)
    for plan in _plans(bigger, cases["run"])[1:]:
        assert "INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in plan
    assert _plans(bigger, cases["kind"]) == ["SEARCH events USING INDEX events_kind (kind=?)"]
    assert "USING INDEX events_ts" in _plans(bigger, cases["until"])[0]


def test_several_kinds_merge_per_kind_index_walks(bigger: sqlite3.Connection) -> None:
    [plan] = _plans(bigger, lambda: queries.list_events(bigger, kind=["usage", "status"], limit=5))
    assert plan.count("SEARCH events USING INDEX events_kind (kind=?)") == 2
    assert "SCAN events" not in plan


def test_timeline_reads_only_the_agent_s_rows_of_the_run(bigger: sqlite3.Connection) -> None:
    plans = _plans(bigger, lambda: queries.timeline(bigger, "a2", run="r1"))
    assert plans[0] == "SEARCH events USING COVERING INDEX events_run (run=?)"
    assert plans[1] == "SEARCH events USING INDEX events_agent (agent=? AND id>? AND id<?)"
    assert all("SCAN events" not in p for p in plans)
    tl = queries.timeline(bigger, "a2", run="r1")
    assert tl is not None
    expected = sum(n for n in range(200, 400) if n % 4 == 2 and n % 3 == 0)
    assert tl.usage.input_tokens == expected
