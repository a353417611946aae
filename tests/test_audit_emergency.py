"""Audit failure is an emergency: when nothing can be recorded, nothing runs.

Written as the unlucky operator of issue 10, finding 4 meets it: the audit
database's file system fills up, another process locks the database, or the
file is deleted mid-run. Before, the swarm worked on unaudited (24 s), the
run ended "success" with nothing on disk, and the log, which verified, said
a fiftieth of what the meters had counted was spent. Now every agent is
frozen at once (the kernel says so: ``cgroup.freeze`` or SIGSTOP), every
surface says why, a recovered log thaws them, an unrecovered one stops the
swarm after ``[swarm] audit_grace_seconds`` with a non-zero exit and the
reason, and the log that remains agrees with the meters.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from swarmkit import CONTAINMENTS, agent_cmd, audit_rows, frozen, need_containment, sleeper, swarm

from controlroom.models import AgentSpec, AgentState, AuditFailed, AuditRecovered
from controlroom.store.verify import verify_chain

pytestmark = pytest.mark.timeout(90)


@contextmanager
def write_locked(db: Path) -> Iterator[None]:
    """Another process's connection holding the database's write lock until the block ends."""
    blocker = sqlite3.connect(db, isolation_level=None, timeout=10)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


async def until(check: object, timeout: float = 10.0) -> None:
    assert callable(check)
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("containment", CONTAINMENTS)
async def test_a_locked_log_freezes_every_agent_and_its_recovery_thaws_them(
    tmp_path: Path, containment: str
) -> None:
    need_containment(containment)
    agents = [
        AgentSpec(name="talker", command=agent_cmd("runaway", "50")),
        sleeper("quiet"),
    ]
    async with swarm(
        tmp_path, agents, busy_timeout=0.2, containment=containment  # type: ignore[arg-type]
    ) as s:
        await s.state("talker", [AgentState.RUNNING])
        await s.state("quiet", [AgentState.RUNNING])
        await s.log.until(lambda e: e.kind == "usage")  # type: ignore[attr-defined]
        procs = {n: psutil.Process(s.sup.runners[n].process.pid) for n in ("talker", "quiet")}  # type: ignore[union-attr]
        with write_locked(s.db):
            failed = await s.log.until(lambda e: isinstance(e, AuditFailed))
            assert isinstance(failed, AuditFailed)
            assert sorted(failed.frozen) == ["quiet", "talker"]
            assert "database is locked" in failed.reason
            await until(lambda: all(frozen(p) for p in procs.values()))
            status = s.sup.snapshot_dict()["audit"]
            assert status["ok"] is False and "database is locked" in status["reason"]
            assert sorted(status["frozen"]) == ["quiet", "talker"]
        recovered = await s.log.until(lambda e: isinstance(e, AuditRecovered))
        assert isinstance(recovered, AuditRecovered)
        assert sorted(recovered.thawed) == ["quiet", "talker"]
        await until(lambda: not any(frozen(p) for p in procs.values()))
        assert s.sup.snapshot_dict()["audit"]["ok"] is True
        await s.log.until(lambda e: e.kind == "usage" and e.seq > recovered.seq)  # type: ignore[attr-defined]
        await s.sup.kill("talker")
        await s.sup.kill("quiet")
        await s.wait()
        counted = s.sup.governor.meters.agent("talker").total_tokens
    usage = audit_rows(s.db, s.run_id, "usage")
    assert sum(u["input_tokens"] + u["output_tokens"] for u in usage) == counted
    kinds = [r["kind"] for r in audit_rows(s.db, s.run_id)]
    assert kinds.index("audit_failed") < kinds.index("audit_recovered")
    assert verify_chain(s.db).ok
