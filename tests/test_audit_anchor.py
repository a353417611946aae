"""An anchored audit head: ``audit anchor``, ``audit verify --anchor``, ``[swarm] anchor_file``.

Agents run as the operator's user, so they can write the audit database. The
two forgeries below (issue 10, finding 8) both pass a plain ``verify``: the
chain inside the file is consistent again. An anchor kept outside the
database is what catches them: ``verify --anchor`` must fail on both.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import sys
from pathlib import Path

import pytest
from clikit import controlroom

from controlroom.models import StatusEvent
from controlroom.store import AuditStore

RUN = "20260101-120000-abcd"
AGENTS = Path(__file__).parent / "agents"


def write_events(path: Path, count: int, text: str = "step") -> None:
    async def write() -> None:
        async with await AuditStore.open(path, RUN) as store:
            for i in range(count):
                store.append(StatusEvent(agent=f"agent-{i % 3}", text=f"{text} {i}"))

    asyncio.run(write())


def audit(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = controlroom("audit", *args, cwd=tmp_path)
    return result.returncode, result.stdout + result.stderr


@pytest.fixture
def anchored(tmp_path: Path) -> tuple[Path, Path]:
    """20 events, anchored (at event 20) into a file outside the database."""
    db = tmp_path / "audit.db"
    write_events(db, 20)
    anchors = tmp_path / "elsewhere" / "anchors.jsonl"
    anchors.parent.mkdir()
    code, out = audit(tmp_path, "anchor", "--db", str(db), "--out", str(anchors))
    assert code == 0, out
    return db, anchors


def cut_tail(db: Path, keep: int) -> None:
    """Delete every row after ``keep`` and point chain_head at the new last row."""
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM events WHERE id > ?", (keep,))
        (last_hash,) = conn.execute("SELECT hash FROM events WHERE id = ?", (keep,)).fetchone()
        conn.execute("UPDATE chain_head SET last_id = ?, hash = ?", (keep, last_hash))


def rewrite_from(db: Path, first: int, forged_text: str) -> None:
    """Forge row ``first``'s payload and recompute every hash after it, and the head."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT id, payload, prev_hash FROM events WHERE id >= ? ORDER BY id", (first,)
        ).fetchall()
        prev = rows[0][2]
        for row_id, payload, _ in rows:
            if row_id == first:
                data = json.loads(payload)
                data["text"] = forged_text
                payload = json.dumps(data, sort_keys=True, separators=(",", ":"))
            digest = hashlib.sha256((prev + payload).encode()).hexdigest()
            conn.execute(
                "UPDATE events SET payload = ?, prev_hash = ?, hash = ? WHERE id = ?",
                (payload, prev, digest, row_id),
            )
            prev = digest
        conn.execute("UPDATE chain_head SET last_id = ?, hash = ?", (rows[-1][0], prev))


def test_anchor_writes_the_head_as_one_line(tmp_path: Path, anchored: tuple[Path, Path]) -> None:
    db, anchors = anchored
    (line,) = anchors.read_text().splitlines()
    anchor = json.loads(line)
    with sqlite3.connect(db) as conn:
        head = conn.execute("SELECT last_id, hash FROM chain_head").fetchone()
    assert (anchor["event_id"], anchor["hash"]) == head == (20, head[1])
    assert anchor["time"].endswith("Z")
    # without --out the line goes to stdout, ready to send anywhere
    code, out = audit(tmp_path, "anchor", "--db", str(db))
    assert code == 0 and json.loads(out)["event_id"] == 20


def test_a_log_that_grew_extends_its_anchor(tmp_path: Path, anchored: tuple[Path, Path]) -> None:
    db, anchors = anchored
    write_events(db, 5, "later")
    code, out = audit(tmp_path, "anchor", "--db", str(db), "--out", str(anchors))
    assert code == 0
    assert len(anchors.read_text().splitlines()) == 2  # appended, not replaced
    code, out = audit(tmp_path, "verify", "--db", str(db), "--anchor", str(anchors))
    assert code == 0, out
    assert out.startswith("ok: 25 events, chain intact") and "2 anchors" in out


def test_a_cut_tail_with_a_rewritten_head_fails_against_the_anchor(
    tmp_path: Path, anchored: tuple[Path, Path]
) -> None:
    db, anchors = anchored
    cut_tail(db, 15)
    code, out = audit(tmp_path, "verify", "--db", str(db))
    assert code == 0 and out.startswith("ok: 15 events")  # what verify alone can see
    code, out = audit(tmp_path, "verify", "--db", str(db), "--anchor", str(anchors))
    assert code == 1, out
    assert out.startswith("broken") and "event 20" in out and "ends at event 15" in out


def test_a_recomputed_chain_with_a_forged_row_fails_against_the_anchor(
    tmp_path: Path, anchored: tuple[Path, Path]
) -> None:
    db, anchors = anchored
    rewrite_from(db, 5, "nothing to see here")
    code, out = audit(tmp_path, "verify", "--db", str(db))
    assert code == 0 and out.startswith("ok: 20 events")  # what verify alone can see
    code, out = audit(tmp_path, "verify", "--db", str(db), "--anchor", str(anchors))
    assert code == 1, out
    assert out.startswith("broken at event 20") and "rewritten" in out


def test_a_broken_chain_is_not_anchored(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    write_events(db, 10)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE events SET payload = replace(payload, 'step', 'STEP') WHERE id = 3")
    anchors = tmp_path / "anchors.jsonl"
    code, out = audit(tmp_path, "anchor", "--db", str(db), "--out", str(anchors))
    assert code == 1 and "broken at event 3" in out and "not anchored" in out
    assert not anchors.exists()


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "not a JSON object"),
        ('{"event_id": -1, "hash": "' + "0" * 64 + '", "time": "x"}', "event_id"),
        ('{"event_id": 3, "hash": "abc", "time": "x"}', "hash"),
    ],
)
def test_a_bad_anchor_file_is_refused_naming_file_and_line(
    tmp_path: Path, anchored: tuple[Path, Path], line: str, problem: str
) -> None:
    db, anchors = anchored
    with anchors.open("a") as f:
        f.write(line + "\n")
    code, out = audit(tmp_path, "verify", "--db", str(db), "--anchor", str(anchors))
    assert code == 1
    assert f"{anchors}:2:" in out and problem in out
    code, out = audit(tmp_path, "verify", "--db", str(db), "--anchor", str(tmp_path / "none"))
    assert code == 1 and "none" in out


def test_every_run_end_appends_an_anchor(tmp_path: Path) -> None:
    command = json.dumps([sys.executable, str(AGENTS / "well_behaved.py")])
    cfg = tmp_path / "swarm.toml"
    cfg.write_text(
        '[swarm]\nname = "t"\naudit_db = "audit.db"\nanchor_file = "anchors/head.jsonl"\n\n'
        f'[[agents]]\nname = "a"\ncommand = {command}\n',
        encoding="utf-8",
    )
    (tmp_path / "anchors").mkdir()
    for _ in range(2):
        result = controlroom("run", str(cfg), "--headless", cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
    anchors = tmp_path / "anchors" / "head.jsonl"
    lines = [json.loads(line) for line in anchors.read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["event_id"] < lines[1]["event_id"]
    db = tmp_path / "audit.db"
    with sqlite3.connect(db) as conn:
        head = conn.execute("SELECT last_id, hash FROM chain_head").fetchone()
    assert (lines[1]["event_id"], lines[1]["hash"]) == head  # the run's last event
    code, out = audit(tmp_path, "verify", "--db", str(db), "--anchor", str(anchors))
    assert code == 0 and "2 anchors" in out, out
    cut_tail(db, lines[1]["event_id"] - 1)
    code, out = audit(tmp_path, "verify", "--db", str(db), "--anchor", str(anchors))
    assert code == 1, out
