"""The audit store against real SQLite files: round trips, batching, locking, redaction."""

from __future__ import annotations

import asyncio
import enum
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import types
import typing
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from controlroom._errors import AuditError, StoreLockedError
from controlroom.models import (
    DEFAULT_PRICING,
    EVENT_ADAPTER,
    EVENT_KINDS,
    AgentCrashed,
    AgentExited,
    AgentOutput,
    AgentPaused,
    AgentResult,
    AgentResumed,
    AgentSpawned,
    AgentSpec,
    AgentStateChanged,
    AuditFailed,
    AuditRecovered,
    BreakerOpened,
    BreakerReset,
    Budget,
    BudgetExceeded,
    BudgetWarning,
    CollisionCleared,
    CollisionFound,
    ConfigLoaded,
    ContainmentReady,
    Discrepancy,
    Egress,
    ErrorEvent,
    EventBase,
    FileChange,
    FilesChanged,
    GateDecided,
    GateExpired,
    GateRequested,
    Handoff,
    HandoffChecked,
    HandoffEvent,
    HandoffRejected,
    IntegrationReady,
    KillCompleted,
    KillRequested,
    LimitExceeded,
    MalformedOutput,
    MergeCompleted,
    MergeRefused,
    MergeSkipped,
    MeterDisagreement,
    NotificationFailed,
    NotificationSent,
    OperatorAction,
    OrphanFound,
    Pricing,
    ProxyStarted,
    RequestRefused,
    RunEnded,
    RunStarted,
    ScopeViolation,
    SocketRefused,
    StatusEvent,
    StreamCut,
    SwarmConfig,
    SwarmSettings,
    ToolCall,
    Usage,
)
from controlroom.store import AuditStore, verify_chain
from controlroom.store.connection import lock_path_for
from controlroom.store.redact import REDACTED, Redactor, canonical_dumps
from controlroom.store.rows import canonical_json, event_payload
from controlroom.store.schema import GENESIS_HASH, SCHEMA_VERSION
from controlroom.store.writer import BATCH_EVENTS

REPO = Path(__file__).resolve().parent.parent
RUN = "20260101-120000-abcd"


def one_of_each_kind() -> list[EventBase]:
    """One event of every kind, with non-default values where it matters."""
    handoff = Handoff(changed="retry added", next_needs="tests", risks="none")
    return [
        RunStarted(swarm="s", pid=42, version="0.1.0", mode="tui"),
        RunEnded(outcome="success", detail="all done"),
        ConfigLoaded(path="/x/config.toml", agents=["a", "b"], sha256="ab" * 32),
        ContainmentReady(
            mode="cgroup",
            path="/sys/fs/cgroup/controlroom-r",
            limits={"memory": "cgroup v2", "pids": "unavailable: no pids controller"},
            cgroups=["/sys/fs/cgroup/controlroom-r"],
            cleaned=["/sys/fs/cgroup/controlroom-q"],
        ),
        AgentSpawned(agent="a", pid=7, create_time=1.5, argv=["claude", "-p"], workspace="/w"),
        AgentOutput(agent="a", stream="stderr", text="héllo ✓ \x00 \n tab\t"),
        MalformedOutput(agent="a", reason="not utf-8", preview="\ufffd", length=9),
        AgentExited(agent="a", returncode=None, signal="SIGTERM", success=False),
        AgentCrashed(agent="a", reason="exec failed"),
        AgentStateChanged(agent="a", state="running", previous="starting", reason="spawned"),
        Usage(
            agent="a",
            input_tokens=5,
            output_tokens=6,
            model="m",
            cost_usd=0.25,
            extra={"service_tier": "standard", "nested": {"z": [1, 2.5, None]}},
        ),
        AgentResult(agent="a", is_error=False, num_turns=3, reported_cost_usd=0.1),
        StatusEvent(agent="a", text="running tests"),
        ToolCall(agent="a", name="Bash", input={"command": "pytest -q"}, tool_use_id="t1"),
        HandoffEvent(agent="a", handoff=handoff, attempt=2),
        HandoffRejected(agent="a", field="risks", reason="too long"),
        GateRequested(
            agent="a",
            gate_id="g1",
            gate_kind="handoff",
            handoff=handoff,
            tool={"name": "Bash", "input": {}},
            timeout_seconds=60.0,
        ),
        GateDecided(agent="a", gate_id="g1", approved=True, by="alice", reason="ok"),
        GateExpired(agent="a", gate_id="g2", waited_seconds=3600.0),
        BudgetWarning(agent="a", limit="max_tokens", value=80.0, cap=100.0, fraction=0.8),
        BudgetExceeded(agent="a", limit="max_cost_usd", value=5.5, cap=5.0, overshoot=0.5),
        LimitExceeded(agent="a", limit="memory_max", cap=2**26, count=2, detail="2 OOM kills"),
        Egress(agent="a", host="pypi.org", port=443, allowed=False, reason="not in allow_hosts"),
        BreakerOpened(agent="a", reason="same error 5 times", failures=5),
        BreakerReset(agent="a", by="alice"),
        KillRequested(agent="a", by="alice", reason="runaway"),
        KillCompleted(agent="a", duration_ms=12.5, survivors=0, processes=3, escalated=True),
        AgentPaused(agent="a", by="alice"),
        AgentResumed(agent="a", by="alice", paused_seconds=2.0),
        OperatorAction(action="restart", by="alice", detail={"agent": "a"}),
        OrphanFound(pid=99, create_time=3.0, from_run="old", killed=True),
        ErrorEvent(agent="a", message="rate limited", where="upstream"),
        FilesChanged(
            agent="a",
            branch="controlroom/r/a",
            base="abc123",
            files=[FileChange(path="src/a.py", added=2, removed=1)],
            file_count=1,
            added=2,
            removed=1,
            confirmed=True,
        ),
        CollisionFound(
            collision_kind="manifest",
            path="pyproject.toml",
            agents=["a", "b"],
            dependency="requests",
            detail="requests: a pins ==2, b pins ==3",
        ),
        CollisionCleared(collision_kind="file", path="src/a.py", agents=["a", "b"]),
        ScopeViolation(path="src/stray.py", detail="written outside every workspace"),
        HandoffChecked(
            agent="a",
            file_count=1,
            discrepancies=[Discrepancy(kind="claimed_untouched", path="x.py", text="names x.py")],
            verdict="merges cleanly with b",
        ),
        IntegrationReady(branch="integration", commit="abc123", created=True),
        MergeCompleted(agent="a", gate_id="g1", into="integration", commit="def", source="abc"),
        MergeRefused(agent="b", gate_id="g3", into="integration", conflicts=["src/a.py"]),
        MergeSkipped(agent="b", gate_id="g3", into="integration", by="alice", reason="keep a"),
        NotificationSent(
            agent="a", notify="pager", notice="gate_waiting", channel="webhook",
            target="https://hooks.example.com", attempts=2, duration_ms=12.5, about_seq=7,
        ),
        NotificationFailed(
            notify="notify[1]", notice="swarm_finished", channel="command", target="notify-send",
            attempts=3, duration_ms=5000.0, error="timed out after 5s",
        ),
        SocketRefused(
            agent="a", channel="agent b", pid=77, uid=1000, op="tool_gate",
            reason="agents ask only for themselves",
        ),
        ProxyStarted(
            url="http://127.0.0.1:1", socket="/r/proxy.sock", upstream="u", credentials="swap"
        ),
        RequestRefused(agent="a", status=402, reason="no room", limit="max_tokens", needed=9.0),
        StreamCut(agent="a", limit="max_cost_usd", reason="crossed", events_relayed=7),
        MeterDisagreement(
            agent="a",
            wire_tokens=100,
            reported_tokens=80,
            wire_cost_usd=1.0,
            reported_cost_usd=0.8,
            fraction=0.2,
        ),
        AuditFailed(reason="database or disk is full", frozen=["a"], grace_seconds=60.0),
        AuditRecovered(failed_seconds=12.5, thawed=["a"]),
    ]


def rows(path: Path) -> list[tuple[Any, ...]]:
    """Every row, read with a separate plain sqlite3 connection."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT id, run, seq, ts, agent, kind, payload, prev_hash, hash FROM events ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


def count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


# --------------------------------------------------------------------------- round trip


async def test_every_event_kind_round_trips(tmp_path: Path) -> None:
    events = one_of_each_kind()
    assert sorted(getattr(e, "kind", "") for e in events) == sorted(EVENT_KINDS)
    db = tmp_path / "audit.db"
    async with await AuditStore.open(db, RUN) as store:
        seqs = [store.append(e) for e in events]
        await store.flush()
    assert seqs == list(range(1, len(events) + 1))
    stored = rows(db)
    assert len(stored) == len(events)
    prev = GENESIS_HASH
    for row, event in zip(stored, events, strict=True):
        row_id, run, seq, ts, agent, kind, payload, prev_hash, digest = row
        expected = (RUN, event.seq, event.ts, event.agent, getattr(event, "kind", None))
        assert (run, seq, ts, agent, kind) == expected
        assert payload == canonical_json(event)
        assert EVENT_ADAPTER.validate_json(payload) == event
        assert prev_hash == prev
        prev = digest
    assert verify_chain(db).ok


async def test_append_stamps_run_and_seq_and_refuses_other_runs(tmp_path: Path) -> None:
    async with await AuditStore.open(tmp_path / "a.db", RUN) as store:
        event = StatusEvent(text="x")
        assert store.append(event) == 1
        assert (event.run, event.seq) == (RUN, 1)
        same_run = StatusEvent(run=RUN, seq=99, text="y")
        assert store.append(same_run) == 2 and same_run.seq == 2
        with pytest.raises(ValueError, match="of run 'other'"):
            store.append(StatusEvent(run="other", text="z"))
        with pytest.raises(ValueError, match="finite"):
            store.append(StatusEvent(text="z", ts=float("nan")))
        assert store.last_seq == 2
    with pytest.raises(AuditError, match="closed"):
        store.append(StatusEvent(text="late"))


async def test_seq_continues_per_run_and_chain_continues_across_runs(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with await AuditStore.open(db, "run-1") as store:
        for _ in range(3):
            store.append(StatusEvent(text="one"))
    async with await AuditStore.open(db, "run-2") as store:
        assert store.append(StatusEvent(text="two")) == 1
    async with await AuditStore.open(db, "run-1") as store:
        assert store.append(StatusEvent(text="again")) == 4
        head_before_close = store
    stored = rows(db)
    assert [(r[1], r[2]) for r in stored] == [
        ("run-1", 1),
        ("run-1", 2),
        ("run-1", 3),
        ("run-2", 1),
        ("run-1", 4),
    ]
    assert [r[0] for r in stored] == [1, 2, 3, 4, 5]
    assert all(stored[i][7] == stored[i - 1][8] for i in range(1, len(stored)))
    assert head_before_close.head.last_id == 5 and head_before_close.head.hash == stored[-1][8]
    result = verify_chain(db)
    assert (result.ok, result.events) == (True, 5)


async def test_unserialisable_value_is_written_not_dropped(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with await AuditStore.open(db, RUN) as store:
        store.append(Usage(extra={"odd": {1, 2}, "thing": object()}))
        store.append(AgentOutput(text="lone surrogate \udcff here"))
        store.append(StatusEvent(text="after"))
        await store.flush()
    stored = rows(db)
    assert [r[5] for r in stored] == ["usage", "agent_output", "status"]
    assert "object object" in json.loads(stored[0][6])["extra"]["thing"]
    assert json.loads(stored[1][6])["text"] == "lone surrogate \udcff here"
    assert verify_chain(db).ok


# --------------------------------------------------------------------------- batching and flush


async def test_flush_makes_rows_visible_to_another_connection(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    store = await AuditStore.open(db, RUN, max_delay=30.0)  # only flush/size may write
    try:
        for i in range(10):
            store.append(StatusEvent(text=f"s{i}"))
        assert store.pending == 10
        await asyncio.sleep(0.1)
        assert count(db) == 0  # nothing forced a write yet
        await store.flush()
        assert store.pending == 0
        assert count(db) == 10
        seq = await store.append_and_flush(KillRequested(agent="a", by="op"))
        assert seq == 11 and count(db) == 11
        await store.flush()  # nothing queued: returns at once
    finally:
        await store.close()


async def test_a_decision_is_committed_at_once_not_after_the_batching_delay(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a.db"
    async with await AuditStore.open(db, RUN, max_delay=30.0) as store:
        store.append(StatusEvent(text="said before the decision"))
        decision = GateDecided(gate_id="g1", approved=True, by="op")
        async with asyncio.timeout(10):  # the batching delay is 30 s
            seq = await store.commit(decision, lambda exc: ErrorEvent(message=str(exc)))
        assert seq == 2 and count(db) == 2


async def test_writer_commits_after_max_delay_without_flush(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with await AuditStore.open(db, RUN) as store:  # default: 50 ms
        store.append(StatusEvent(text="alone"))
        # The row is on disk as soon as the writer thread commits; the loop learns it after.
        deadline = time.monotonic() + 10.0
        while (count(db) == 0 or store.pending) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert count(db) == 1
        assert store.pending == 0


async def test_writer_commits_a_full_batch_without_waiting(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with await AuditStore.open(db, RUN, max_delay=30.0) as store:
        for _ in range(BATCH_EVENTS - 1):
            store.append(StatusEvent(text="x"))
        await asyncio.sleep(0.2)
        assert count(db) == 0  # one short of a batch, and 30 s have not passed
        store.append(StatusEvent(text="the last of the batch"))
        deadline = time.monotonic() + 5.0
        while store.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert count(db) == BATCH_EVENTS


async def test_hundred_thousand_events_in_order_with_intact_chain(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    total = 100_000
    async with await AuditStore.open(db, RUN) as store:
        for i in range(total):
            store.append(Usage(agent=f"agent-{i % 7}", input_tokens=i))
            if i % 1000 == 999:
                await asyncio.sleep(0)
        await store.flush()
    conn = sqlite3.connect(db)
    try:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM events ORDER BY id")]
        tokens = conn.execute(
            "SELECT json_extract(payload, '$.input_tokens') FROM events WHERE id IN (1, ?)",
            (total,),
        ).fetchall()
    finally:
        conn.close()
    assert seqs == list(range(1, total + 1))
    assert tokens == [(0,), (total - 1,)]
    result = verify_chain(db)
    assert (result.ok, result.events) == (True, total)


async def test_write_failure_surfaces_then_recovers_without_losing_events(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    store = await AuditStore.open(db, RUN, busy_timeout=0.05)
    try:
        store.append(StatusEvent(text="before"))
        await store.flush()
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # a rogue writer holds the database's write lock
        try:
            store.append(StatusEvent(text="during"))
            with pytest.raises(AuditError, match="database is locked"):
                await store.flush()
            assert store.error is not None and store.pending == 1
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await store.flush()  # retried: nothing was dropped
        assert store.error is None
    finally:
        await store.close()
    assert [json.loads(r[6])["text"] for r in rows(db)] == ["before", "during"]
    assert verify_chain(db).ok


# --------------------------------------------------------------------------- readers and locks


async def test_reader_reads_while_the_writer_writes(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    seen: list[int] = []
    problems: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(count(db))
                result = verify_chain(db)  # one snapshot, while rows keep arriving
                if not result.ok:
                    problems.append(result.reason)
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                problems.append(repr(exc))
            time.sleep(0.002)

    async with await AuditStore.open(db, RUN) as store:
        thread = threading.Thread(target=reader)
        thread.start()
        try:
            for round_number in range(1, 6):
                for i in range(2000):
                    store.append(Usage(agent="a", input_tokens=i))
                    if i % 200 == 0:
                        await asyncio.sleep(0)
                await store.flush()
                deadline = time.monotonic() + 5
                while (not seen or seen[-1] < round_number * 2000) and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
        finally:
            stop.set()
            await asyncio.to_thread(thread.join)
    assert problems == []
    assert any(0 < n < 10_000 for n in seen)  # it saw the log part-written
    assert seen == sorted(seen)
    assert max(seen) == 10_000


def _subprocess(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_second_writer_process_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    code = f"""
import asyncio, sys
from controlroom._errors import StoreLockedError
from controlroom.store import AuditStore
try:
    asyncio.run(AuditStore.open({str(db)!r}, "intruder"))
except StoreLockedError as exc:
    print(exc)
    sys.exit(3)
"""
    async with await AuditStore.open(db, RUN) as store:
        proc = _subprocess(code)
        out, err = await asyncio.to_thread(proc.communicate, timeout=30)
        assert proc.returncode == 3, err
        assert f"{db} is already being written by pid {os.getpid()}, run {RUN}" in out
        await store.append_and_flush(StatusEvent(text="still mine"))
    assert count(db) == 1


async def test_second_store_in_the_same_process_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with await AuditStore.open(db, RUN):
        with pytest.raises(StoreLockedError, match=f"already being written by pid {os.getpid()}"):
            await AuditStore.open(db, "second")
    async with await AuditStore.open(db, "third") as store:  # released on close
        assert store.run_id == "third"


async def test_lock_is_released_when_the_writer_process_dies(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    code = f"""
import asyncio, sys, time
from controlroom.store import AuditStore
async def main():
    store = await AuditStore.open({str(db)!r}, "doomed")
    print("ready", flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""
    proc = _subprocess(code)
    try:
        assert proc.stdout is not None
        line = await asyncio.to_thread(proc.stdout.readline)
        assert line.strip() == "ready"
        with pytest.raises(StoreLockedError, match=f"pid {proc.pid}, run doomed"):
            await AuditStore.open(db, RUN)
    finally:
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 10)
    async with await AuditStore.open(db, RUN) as store:
        assert store.append(StatusEvent(text="mine now")) == 1
    assert lock_path_for(db).exists()


# --------------------------------------------------------------------------- opening errors


async def test_open_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    db.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(
        AuditError, match=f"{db} is not a controlroom audit database.*not an SQLite"
    ):
        await AuditStore.open(db, RUN)
    assert db.read_bytes().startswith(b"these are my notes")
    async with await AuditStore.open(tmp_path / "ok.db", RUN):  # and the lock was released
        pass


async def test_open_refuses_someone_elses_sqlite_database(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE customers (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(AuditError, match="other tables: customers"):
        await AuditStore.open(db, RUN)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA application_id = 12345")
    conn.commit()
    conn.close()
    with pytest.raises(AuditError, match="another application"):
        await AuditStore.open(db, RUN)


async def test_open_refuses_a_newer_schema(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with await AuditStore.open(db, RUN):
        pass
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(AuditError, match=f"{db} was written by a newer controlroom"):
        await AuditStore.open(db, RUN)


async def test_open_refuses_a_log_whose_tail_was_cut(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with await AuditStore.open(db, RUN) as store:
        for _ in range(3):
            store.append(StatusEvent(text="x"))
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM events WHERE id = 3")
    conn.commit()
    conn.close()
    with pytest.raises(AuditError, match="chain head does not match"):
        await AuditStore.open(db, RUN)


async def test_open_reports_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="no/such/dir/a.db.lock"):
        await AuditStore.open(tmp_path / "no" / "such" / "dir" / "a.db", RUN)


# --------------------------------------------------------------------------- redaction


async def test_keys_and_secrets_never_reach_the_file(tmp_path: Path) -> None:
    key = "sk-ant-api03-Zx9_Qw-ErTy1234567890abcdefGHIJ"
    secret = 'ghp_s3cr3t"with\\quote'
    db = tmp_path / "a.db"
    store = await AuditStore.open(db, RUN, secrets=[secret, "ab"])  # "ab" is too short to redact
    try:
        store.append(AgentOutput(agent="a", text=f"export ANTHROPIC_API_KEY={key}"))
        store.append(
            ToolCall(
                agent="a",
                name="Bash",
                input={"cmd": f"curl -H '{secret}'", key: ["nested", secret]},
            )
        )
        store.append(AgentOutput(agent="a", text=json.dumps({"token": secret})))  # JSON in JSON
        store.append(AgentOutput(agent="a", text=json.dumps(json.dumps({"t": secret}))))
        store.append(StatusEvent(agent="a", text="about the abacus"))
        await store.flush()
        wal = Path(str(db) + "-wal")
        assert wal.exists()
        on_disk = db.read_bytes() + wal.read_bytes()
    finally:
        await store.close()
    on_disk += db.read_bytes()
    forms = {key, secret, json.dumps(secret)[1:-1], json.dumps(json.dumps(secret))[1:-1]}
    for form in forms:
        assert form.encode() not in on_disk
    assert b"ghp_s3cr3t" not in on_disk
    payloads = [json.loads(r[6]) for r in rows(db)]
    assert payloads[0]["text"] == f"export ANTHROPIC_API_KEY={REDACTED}"
    assert payloads[1]["input"] == {"cmd": f"curl -H '{REDACTED}'", REDACTED: ["nested", REDACTED]}
    assert json.loads(payloads[2]["text"]) == {"token": REDACTED}
    assert json.loads(json.loads(payloads[3]["text"])) == {"t": REDACTED}
    assert payloads[4]["text"] == "about the abacus"
    assert verify_chain(db).ok


def test_redaction_never_breaks_the_json() -> None:
    redactor = Redactor(["true", "kind", "agent-7", "gate_decided", "command"])
    event = GateDecided(agent="agent-7", gate_id="g", approved=True, by="kind person")
    data = json.loads(redactor.redact_json(canonical_json(event)))
    assert data["approved"] is True and data["kind"] == "gate_decided"
    assert data["by"] == f"{REDACTED} person" and data["agent"] == REDACTED
    tool = ToolCall(name="Bash", input={"command": "true && ls"})
    data = json.loads(redactor.redact_json(canonical_json(tool)))
    assert data["input"] == {REDACTED: f"{REDACTED} && ls"}
    untouched = canonical_json(StatusEvent(text="nothing here"))
    assert redactor.redact_json(untouched) is untouched


async def test_redacted_agent_column_agrees_with_the_payload(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with await AuditStore.open(db, RUN, secrets=["agent-secret"]) as store:
        store.append(StatusEvent(agent="agent-secret", text="hi"))
    assert rows(db)[0][4] == REDACTED
    assert verify_chain(db).ok


# --------------------------------------------------------------------------- canonical payloads


def _strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    """Values for a field of this type, odd ones included (NaN, huge ints, surrogates)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is str:
        return _ANY_TEXT
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(-(2**70), 2**70)
    if annotation is float:
        return st.floats()
    if annotation is Handoff:
        return st.builds(Handoff, changed=_SOME_TEXT, next_needs=_SOME_TEXT, risks=_SOME_TEXT)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if isinstance(annotation, type) and issubclass(annotation, enum.StrEnum):
        return st.sampled_from(list(annotation))
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(_strategy_for(arg) for arg in args))
    if annotation is type(None):
        return st.none()
    if annotation == dict[str, Any]:
        return st.dictionaries(_ANY_TEXT, _JSONISH, max_size=3)
    if annotation == dict[str, str]:
        return st.dictionaries(_ANY_TEXT, _ANY_TEXT, max_size=3)
    if annotation == list[str]:
        return st.lists(_ANY_TEXT, max_size=3)
    if origin is list and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return st.lists(_model_strategy(args[0]), max_size=2)
    if annotation == dict[str, list[str]]:
        return st.dictionaries(_ANY_TEXT, st.lists(_ANY_TEXT, max_size=2), max_size=2)
    if annotation == dict[str, Budget]:  # valid budgets only: the config checked them
        budget = st.builds(Budget, max_tokens=st.none() | st.integers(1, 10**10))
        return st.dictionaries(_ANY_TEXT, budget, max_size=2)
    if annotation == dict[str, Pricing]:
        return st.dictionaries(_ANY_TEXT, st.sampled_from(list(DEFAULT_PRICING.values())))
    raise AssertionError(f"no strategy for {annotation!r}: extend the test")


def _field_strategy(field: FieldInfo) -> st.SearchStrategy[Any]:
    """``_strategy_for`` the field's type, within its declared bounds (``ge``: Usage counts)."""
    floor = next((m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)), None)
    if field.annotation is int and isinstance(floor, int):
        return st.integers(floor, 2**70)
    return _strategy_for(field.annotation)

def _model_strategy(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    """A nested model (a changed file, a discrepancy) with odd values in every field."""
    fields = {}
    for name, field in model.model_fields.items():
        required_text = any(getattr(m, "min_length", 0) for m in field.metadata)
        fields[name] = _SOME_TEXT if required_text else _strategy_for(field.annotation)
    return st.builds(model, **fields)


_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates too
_SOME_TEXT = st.text(min_size=1, max_size=12)
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _ANY_TEXT,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.none() | st.integers() | st.booleans() | _ANY_TEXT, inner, max_size=3)
    ),
    max_leaves=6,
)
_EVENT_CLASSES = sorted(
    (m for m in EventBase.__subclasses__() if "kind" in m.model_fields), key=lambda m: m.__name__
)
_ANY_EVENT = st.one_of(
    *(
        st.builds(
            cls,
            **{
                name: _field_strategy(field)
                for name, field in cls.model_fields.items()
                if name != "kind"
            },
        )
        for cls in _EVENT_CLASSES
    )
)
_ODD_VALUE = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | _ANY_TEXT
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.none() | st.integers() | _ANY_TEXT, st.integers(), max_size=2)
)


def test_the_event_classes_under_test_are_every_kind() -> None:
    assert sorted(m.model_fields["kind"].default for m in _EVENT_CLASSES) == sorted(EVENT_KINDS)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=_ANY_EVENT, data=st.data())
def test_payload_is_canonical_json_byte_for_byte(event: EventBase, data: st.DataObject) -> None:
    """Whatever the fast path does, the stored text is exactly ``canonical_json``'s.

    Fields are also overwritten after validation (pydantic does not check
    assignments): an int in a float field, a bool in an int field, a dict
    with a None key... each is rendered as pydantic's serialiser would.
    """
    names = sorted(type(event).model_fields)
    for name in data.draw(st.lists(st.sampled_from(names), max_size=2, unique=True)):
        setattr(event, name, data.draw(_ODD_VALUE))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic's "unexpected value" serializer warnings
        try:
            expected = canonical_json(event)
        except Exception:  # noqa: BLE001 - not serialisable at all: the store's fallback
            return
        fields, payload = event_payload(event)
    assert payload == expected
    # The indexed columns are taken from ``fields``: they must say what the payload says.
    stored = json.loads(payload)
    for column in ("run", "seq", "ts", "agent", "kind"):
        assert canonical_dumps(fields[column]) == canonical_dumps(stored[column])


def test_flat_events_skip_model_dump_and_nested_ones_do_not() -> None:
    usage = Usage(agent="a", input_tokens=3, model="m", cost_usd=0.5)
    output = AgentOutput(agent="a", text="héllo \udcff")
    for event in (usage, output):
        fields, payload = event_payload(event)
        assert fields is event.__dict__  # rendered from the event itself
        assert payload == canonical_json(event)
    for event in (
        Usage(extra={"service_tier": "standard"}),  # a non-empty dict: model_dump's job
        Usage(cost_usd=float("nan")),  # NaN: canonical_json writes NaN, model_dump's path too
        HandoffEvent(handoff=Handoff(changed="c", next_needs="n", risks="r")),
    ):
        fields, payload = event_payload(event)
        assert fields is not event.__dict__
        assert payload == canonical_json(event)


@pytest.mark.parametrize("total", [1, 2, 1_023, 1_024, 1_025, 3_001])
async def test_batches_of_any_size_are_stored_whole(tmp_path: Path, total: int) -> None:
    """Rows go in as multi-row INSERTs of power-of-two sizes: every size must add up."""
    db = tmp_path / "a.db"
    store = await AuditStore.open(db, RUN, max_delay=30.0, batch_events=10**9)
    try:
        for i in range(total):
            store.append(AgentOutput(agent="a", text=f"line {i}"))
        await store.flush()
        assert store.head.last_id == total
    finally:
        await store.close()
    stored = rows(db)
    assert [r[0] for r in stored] == list(range(1, total + 1))
    assert [json.loads(r[6])["text"] for r in stored] == [f"line {i}" for i in range(total)]
    assert verify_chain(db).ok


# --------------------------------------------------------------------------- back-pressure


async def test_room_waits_while_backlogged_and_returns_once_committed(tmp_path: Path) -> None:
    store = await AuditStore.open(tmp_path / "a.db", RUN, max_delay=30.0, high_water=10)
    try:
        for _ in range(10):
            store.append(StatusEvent(text="x"))
        assert not store.backlogged
        await asyncio.wait_for(store.room(), 1)  # at the mark, not over it: room at once
        store.append(StatusEvent(text="one too many"))
        assert store.backlogged
        assert await store.room(timeout=0.05) is False
        waiting = asyncio.create_task(store.room())
        await asyncio.sleep(0.2)
        assert not waiting.done()  # nothing commits for 30 s unless someone flushes
        await store.flush()
        assert await asyncio.wait_for(waiting, 1) is True
        assert not store.backlogged and store.pending == 0
        for _ in range(20):
            store.append(StatusEvent(text="y"))
        closing_waiter = asyncio.create_task(store.room())
        await asyncio.sleep(0.05)
        assert not closing_waiter.done()
    finally:
        await store.close()
    await asyncio.wait_for(closing_waiter, 1)  # a closing store holds nobody back
    assert count(tmp_path / "a.db") == 31


_FLOOD_AGENT = """
import json, sys
line = json.dumps({"type": "usage", "input_tokens": 7, "output_tokens": 1}) + "\\n"
buf = (line * 400).encode()
for _ in range(int(sys.argv[1]) // 400):  # as fast as the pipe takes them
    sys.stdout.buffer.write(buf)
    sys.stdout.buffer.flush()
"""
FLOOD_LINES = 16_000  # 8 x the high-water mark: let through in steps, however fast this machine

_PACED_AGENT = """
import json, sys, time
for _ in range(int(sys.argv[1])):
    print(json.dumps({"type": "usage", "input_tokens": 1, "sent": time.time()}), flush=True)
    time.sleep(0.02)
"""


@dataclass
class Flooded:
    """One run of a flooding and a paced agent against a writer that commits every 0.5 s."""

    logged: dict[str, int]  # usage rows in the log, per agent
    backlog: int  # the most events ever waiting for a commit
    delays: list[float]  # paced line written → its event handled, seconds


async def _flood_beside_paced(tmp_path: Path, high_water: int) -> Flooded:
    from controlroom.swarm.supervisor import Supervisor

    config = SwarmConfig(
        swarm=SwarmSettings(
            name="pressure", audit_db=str(tmp_path / "audit.db"), run_dir=str(tmp_path / "run")
        ),
        agents=[
            AgentSpec(name="flood", command=[sys.executable, "-c", _FLOOD_AGENT, str(FLOOD_LINES)]),
            AgentSpec(name="paced", command=[sys.executable, "-c", _PACED_AGENT, "60"]),
        ],
    )
    store = await AuditStore.open(
        config.swarm.audit_db, RUN, max_delay=0.5, batch_events=10**9, high_water=high_water
    )
    sup = Supervisor(config, store, run_id=RUN, base_dir=tmp_path)
    delays: list[float] = []
    backlog = 0

    def listener(event: EventBase) -> None:
        nonlocal backlog
        backlog = max(backlog, store.pending)
        if isinstance(event, Usage) and event.agent == "paced":
            delays.append(time.time() - event.extra["sent"])

    sup.bus.listen(listener)
    try:
        await sup.start()
        assert await asyncio.wait_for(sup.wait(), 60)
    finally:
        if not all(r.is_final for r in sup.runners.values()):
            await sup.stop_all(by="test cleanup", grace=0)
        await sup.close()
        await store.close()
    conn = sqlite3.connect(tmp_path / "audit.db")
    try:
        logged = dict(
            conn.execute(
                "SELECT agent, count(*) FROM events WHERE kind = 'usage' GROUP BY agent"
            ).fetchall()
        )
    finally:
        conn.close()
    return Flooded(logged, backlog, delays)


async def test_a_flooding_agent_is_held_back_and_nothing_is_lost(tmp_path: Path) -> None:
    """Back-pressure reaches the agent's pipe: the backlog stays bounded, nothing is lost.

    The writer here commits only every 0.5 s (or on a flush), so without
    back-pressure the flood would pile up in the backlog, all 16,000 events.
    """
    high_water = 2_000
    run = await _flood_beside_paced(tmp_path, high_water)
    assert run.logged == {"flood": FLOOD_LINES, "paced": 60}
    # Past the mark: one slice (64 KiB at most), and once the agent has exited, what
    # its pipe (64 KiB) still held, read without pause. Nothing is buffered beyond.
    line_bytes = len('{"type": "usage", "input_tokens": 7, "output_tokens": 1}\n')
    assert run.backlog <= high_water + (64 + 64) * 1024 // line_bytes


@pytest.mark.timing
async def test_a_paced_agent_beside_a_flood_is_not_held_back(tmp_path: Path) -> None:
    """A reader that waited for room would hold the paced agent's lines for up to 0.5 s."""
    run = await _flood_beside_paced(tmp_path, 2_000)
    assert run.logged["paced"] == 60
    assert sorted(run.delays)[len(run.delays) // 2] < 0.1
    assert max(run.delays) < 0.4
