"""What waits for the audit writer is the rows, not the events: rendered when appended.

A real store on a real SQLite file. Under a flood the writer's queue holds a
quarter of a second of events; held as models, every one of them was three
objects the garbage collector walked at each young collection, with the
event loop held (tens of ms beside 20 flooding agents). Rendered at append
they are tuples of strings and numbers, and the models are gone at once.
"""

from __future__ import annotations

import gc
import sqlite3
from pathlib import Path

from controlroom._errors import AuditError
from controlroom.models import ErrorEvent, Usage
from controlroom.store import AuditStore, verify_chain
from controlroom.store.rows import canonical_json

RUN = "20261202-175000-pend"


def live_usage_events() -> int:
    gc.collect()
    return sum(1 for thing in gc.get_objects() if type(thing) is Usage)


async def test_a_queued_event_is_its_row_and_the_model_is_freed(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    before = live_usage_events()
    expected: list[str] = []
    async with await AuditStore.open(db, RUN, secrets=["sk-secret-1234"], max_delay=60.0) as store:
        for i in range(300):
            event = Usage(agent=f"agent-{i % 7}", input_tokens=i, output_tokens=1, cost_usd=0.01)
            store.append(event)
            expected.append(canonical_json(event))
            del event
        # Redacted at write time as before: an agent's text holding a secret.
        store.append(Usage(agent="leaky", model="sk-secret-1234", input_tokens=5))
        assert store.pending == 301  # nothing committed yet (a minute's window)
        assert live_usage_events() == before  # the queue holds none of them
        await store.flush()
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT agent, kind, payload FROM events ORDER BY id").fetchall()
    conn.close()
    assert [payload for _, _, payload in rows[:300]] == expected
    assert {kind for _, kind, _ in rows} == {"usage"}
    assert rows[300][0] == "leaky" and "sk-secret-1234" not in rows[300][2]
    assert verify_chain(db).ok


async def test_what_a_lost_batch_takes_along_is_still_counted(tmp_path: Path) -> None:
    """The usage still queued is summed from the rows when the log cannot take it."""
    db = tmp_path / "a.db"
    store = await AuditStore.open(db, RUN, max_delay=60.0)
    for _ in range(4):
        store.append(Usage(agent="a", input_tokens=1_000, output_tokens=250, cost_usd=0.25))
    db.unlink()  # the log's file is gone: the final flush cannot write
    try:
        await store.close()
    except AuditError as exc:
        message = str(exc)
    else:
        raise AssertionError("closing a store whose file is gone must fail")
    assert "4 audit events could not be written" in message
    assert "5,000 tokens and $1.0000 of usage" in message


async def test_a_decision_still_waits_as_itself_and_can_be_withdrawn(tmp_path: Path) -> None:
    """A tentative event is not rendered early: it may be replaced before it is written."""
    db = tmp_path / "a.db"
    async with await AuditStore.open(db, RUN) as store:
        store.append(Usage(agent="a", input_tokens=1))
        decision = ErrorEvent(agent="a", message="decision")
        seq = await store.commit(decision, lambda error: ErrorEvent(message=f"withdrawn: {error}"))
    conn = sqlite3.connect(db)
    (payload,) = conn.execute("SELECT payload FROM events WHERE seq = ?", (seq,)).fetchone()
    conn.close()
    assert payload == canonical_json(decision)
