"""A gate decision is a transaction: recorded and carried out together, or neither.

Written as an unlucky operator meets it: another process holds the audit
database's write lock (a second ``sqlite3`` connection in ``BEGIN
EXCLUSIVE``) while the operator approves a gate. The decision cannot be
recorded, so it must not happen: the gate stays pending (answerable again,
still able to expire), the operator is told why, the agent keeps waiting, and
once the lock clears the log holds exactly the one decision that took effect,
never the one that failed.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from clikit import controlroom, start_controlroom
from swarmkit import Swarm, agent_cmd, audit_rows, swarm

from controlroom._errors import AuditError, ControlRoomError
from controlroom.control.api import ControlAPI
from controlroom.control.client import ControlClient
from controlroom.models import (
    AgentSpec,
    AgentState,
    Breaker,
    ErrorEvent,
    GateDecided,
    GateRequested,
    GateState,
    StatusEvent,
)
from controlroom.store.verify import verify_chain
from controlroom.store.writer import AuditStore

pytestmark = pytest.mark.timeout(60)

NEVER = Breaker(restart="never")


@contextmanager
def write_locked(db: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection holding the database's write lock until the block ends."""
    blocker = sqlite3.connect(db, isolation_level=None, timeout=10)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield blocker
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


async def asked(s: Swarm, agent: str) -> GateRequested:
    event = await s.log.until(lambda e: isinstance(e, GateRequested) and e.agent == agent)
    assert isinstance(event, GateRequested)
    await s.state(agent, [AgentState.GATED])
    await s.sup.bus.flush()  # the request is on disk before the lock is taken
    return event


def gate_outcomes(s: Swarm, gate_id: str) -> list[tuple[str, object, str]]:
    """Every decision or expiry of ``gate_id`` the audit log holds, in order."""
    out: list[tuple[str, object, str]] = []
    for kind in ("gate_decided", "gate_expired"):
        for row in audit_rows(s.db, s.run_id, kind):
            if row["gate_id"] == gate_id:
                out.append((row["kind"], row.get("approved"), row.get("reason", "")))
    return out


async def test_an_approval_the_log_cannot_take_leaves_the_gate_pending_and_answerable(
    tmp_path: Path,
) -> None:
    agents = [AgentSpec(name="asker", command=agent_cmd("gate_asker", "ship?"), breaker=NEVER)]
    async with swarm(tmp_path, agents, busy_timeout=0.2) as s:
        api = ControlAPI(s.sup)
        gate = await asked(s, "asker")
        with write_locked(s.db):
            with pytest.raises(ControlRoomError) as refused:
                await api.approve(gate.gate_id, "first try", by="carol")
            # Told why, and that nothing was decided.
            said = str(refused.value)
            assert "database is locked" in said and "still pending" in said
            # Nothing took effect: the gate is pending and no claim is left on it.
            (pending,) = api.gates()
            assert (pending.id, pending.state) == (gate.gate_id, GateState.PENDING)
            assert s.sup.runners["asker"].state == AgentState.GATED
            assert s.sup.runners["asker"].alive  # it never got an answer
        # Once the lock clears, the same gate is answered like any other.
        decided = await api.approve(gate.gate_id, "second try", by="carol")
        assert decided.state == GateState.APPROVED
        assert await s.wait(10) is True
        assert s.log.of("status", "asker")[-1].text == "approved: second try"
    assert gate_outcomes(s, gate.gate_id) == [("gate_decided", True, "second try")]
    # The failed attempt is recorded as what it was: a decision NOT carried out.
    errors = [r["message"] for r in audit_rows(s.db, s.run_id, "error")]
    assert any(gate.gate_id in m and "not carried out" in m for m in errors), errors
    assert verify_chain(s.db).ok


async def test_a_rejection_that_fails_is_not_recorded_later_or_contradicted(
    tmp_path: Path,
) -> None:
    """The finding's second half: the failed decision must not surface in the log later,
    and the shutdown must not add a contradictory one."""
    agents = [AgentSpec(name="asker", command=agent_cmd("gate_asker", "ship?"), breaker=NEVER)]
    async with swarm(tmp_path, agents, busy_timeout=0.2) as s:
        api = ControlAPI(s.sup)
        gate = await asked(s, "asker")
        with write_locked(s.db):
            with pytest.raises(ControlRoomError, match="still pending"):
                await api.approve(gate.gate_id, "too early")
        await s.sup.bus.flush()  # everything queued during the lock is now on disk
        assert gate_outcomes(s, gate.gate_id) == []
        await api.reject(gate.gate_id, "changed my mind")
        assert await s.wait(10) is False
    assert gate_outcomes(s, gate.gate_id) == [("gate_decided", False, "changed my mind")]


async def test_a_gate_whose_decision_failed_still_expires(tmp_path: Path) -> None:
    agents = [
        AgentSpec(
            name="asker",
            command=agent_cmd("gate_asker", "ship?"),
            breaker=NEVER,
            gate_timeout_seconds=1.5,
        )
    ]
    async with swarm(tmp_path, agents, busy_timeout=0.2) as s:
        api = ControlAPI(s.sup)
        gate = await asked(s, "asker")
        with write_locked(s.db):
            with pytest.raises(ControlRoomError, match="still pending"):
                await api.approve(gate.gate_id)
        await s.log.until(lambda e: e.kind == "gate_expired", timeout=10)  # type: ignore[attr-defined]
        assert await s.wait(10) is False
        assert s.log.of("status", "asker")[-1].text == "rejected: gate expired"
    assert gate_outcomes(s, gate.gate_id) == [("gate_expired", None, "")]


async def test_a_decision_under_way_when_the_agent_stops_is_the_only_decision(
    tmp_path: Path,
) -> None:
    """An operator's decision waits on a slow commit; meanwhile the agent is killed.

    The kill cancels the gate only once that decision is settled, so the log
    never holds an approval and a cancellation of the same gate.
    """
    agents = [AgentSpec(name="asker", command=agent_cmd("gate_asker", "ship?"), breaker=NEVER)]
    async with swarm(tmp_path, agents, busy_timeout=2.0) as s:
        api = ControlAPI(s.sup)
        gate = await asked(s, "asker")
        with write_locked(s.db):
            approving = asyncio.ensure_future(api.approve(gate.gate_id, "go"))
            await asyncio.sleep(0.2)  # the approval's commit is waiting on the lock
            killing = asyncio.ensure_future(api.kill("asker"))
            await asyncio.sleep(0.2)
        results = await asyncio.gather(approving, killing, return_exceptions=True)
        assert not isinstance(results[1], BaseException), results
        await s.wait(10)
    outcomes = gate_outcomes(s, gate.gate_id)
    assert len(outcomes) == 1, outcomes


def test_controlroom_approve_on_a_locked_database_can_be_tried_again(tmp_path: Path) -> None:
    """The finding as it was met: ``controlroom approve`` while another process holds
    ``BEGIN EXCLUSIVE`` on the database, against a real headless control room."""
    asker = json.dumps(agent_cmd("gate_asker", "ship?"))
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[swarm]\nname = "locked"\naudit_db = "audit.db"\n\n'
        f'[[agents]]\nname = "asker"\ncommand = {asker}\n',
        encoding="utf-8",
    )
    room = start_controlroom("run", str(cfg), "--headless", cwd=tmp_path)
    sock = tmp_path / ".controlroom" / "control.sock"
    try:
        gate_id = _pending_gate(sock)
        with write_locked(tmp_path / "audit.db"):
            refused = controlroom("approve", gate_id, "-m", "first", cwd=tmp_path)
            pending = controlroom("gates", "--format", "jsonl", cwd=tmp_path)
        assert refused.returncode == 1
        assert "still pending" in refused.stderr and "database is locked" in refused.stderr
        assert [json.loads(line)["state"] for line in pending.stdout.splitlines()] == ["pending"]
        again = controlroom("approve", gate_id, "-m", "second", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        out, err = room.communicate(timeout=30)
        assert room.returncode == 0, err
    finally:
        if room.poll() is None:
            room.send_signal(signal.SIGTERM)
            room.communicate(timeout=20)
    conn = sqlite3.connect(tmp_path / "audit.db")
    try:
        decided = [
            (json.loads(p)["approved"], json.loads(p)["reason"])
            for (p,) in conn.execute("SELECT payload FROM events WHERE kind = 'gate_decided'")
        ]
    finally:
        conn.close()
    assert decided == [(True, "second")]
    assert "first" not in out  # the headless log never showed the decision that failed


def _pending_gate(sock: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sock.exists():
            with ControlClient(sock, timeout=5) as client:
                gates = client.request("gates")
            if gates and gates[0]["state"] == "pending":
                return str(gates[0]["id"])
        time.sleep(0.05)
    raise AssertionError("no gate came")


# --------------------------------------------------------------------------- the store's side


async def test_the_store_takes_back_a_tentative_event_and_keeps_the_rest(tmp_path: Path) -> None:
    """``commit``: the failed event never reaches the file; the events around it all do,
    and the error that replaced it holds its seq (the chain shows no gap)."""
    db = tmp_path / "a.db"
    store = await AuditStore.open(db, "r1", busy_timeout=0.05)
    try:
        store.append(StatusEvent(text="before"))
        await store.flush()
        with write_locked(db):
            store.append(StatusEvent(text="queued first"))
            decision = GateDecided(gate_id="g-1", approved=True, by="carol")
            with pytest.raises(AuditError, match="database is locked"):
                await store.commit(
                    decision, lambda exc: ErrorEvent(message=f"not carried out: {exc}")
                )
            store.append(StatusEvent(text="queued after"))
        committed = GateDecided(gate_id="g-1", approved=False, by="carol", reason="no")
        seq = await store.commit(committed, lambda exc: ErrorEvent(message="unused"))
    finally:
        await store.close()
    conn = sqlite3.connect(db)
    try:
        stored = [(seq_, kind) for seq_, kind in conn.execute("SELECT seq, kind FROM events")]
    finally:
        conn.close()
    assert stored == [
        (1, "status"), (2, "status"), (3, "error"), (4, "status"), (5, "gate_decided")
    ]
    assert seq == 5
    assert verify_chain(db).ok
