"""What earlier runs left on the machine: their agent processes and cgroups.

Read at start-up (orphan sweeps, containment) from the newest runs' events,
so a crashed run's leftovers are found even when nobody is watching.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from controlroom.models.kinds import EventKind
from controlroom.models.records import RecordedProcess
from controlroom.store.connection import open_readonly

__all__ = [
    "recorded_cgroups",
    "recorded_cgroups_in",
    "recorded_processes",
    "recorded_processes_in",
]


def recorded_processes(conn: sqlite3.Connection, runs: int = 20) -> list[RecordedProcess]:
    """The agent processes recorded by the newest ``runs`` runs of this database."""
    run_rows = conn.execute(
        f"SELECT run FROM events WHERE kind = '{EventKind.RUN_STARTED}' ORDER BY id DESC LIMIT ?",
        (runs,),
    ).fetchall()
    found: list[RecordedProcess] = []
    for (run,) in run_rows:
        for agent, payload in conn.execute(
            "SELECT agent, payload FROM events"
            f" WHERE run = ? AND kind = '{EventKind.AGENT_SPAWNED}'",
            (run,),
        ):
            data = json.loads(payload)
            found.append(
                RecordedProcess(run, agent or "", int(data["pid"]), float(data["create_time"]))
            )
    return found


def recorded_processes_in(db: Path, runs: int = 20) -> list[RecordedProcess]:
    """``recorded_processes`` of the database file ``db`` (none when it does not exist yet)."""
    if not db.exists():
        return []
    conn = open_readonly(db)
    try:
        return recorded_processes(conn, runs)
    finally:
        conn.close()


def recorded_cgroups(conn: sqlite3.Connection, runs: int = 20) -> dict[str, list[str]]:
    """The cgroup directories each of the newest ``runs`` runs made (``containment`` events)."""
    run_rows = conn.execute(
        f"SELECT run FROM events WHERE kind = '{EventKind.RUN_STARTED}' ORDER BY id DESC LIMIT ?",
        (runs,),
    ).fetchall()
    found: dict[str, list[str]] = {}
    for (run,) in run_rows:
        for (payload,) in conn.execute(
            f"SELECT payload FROM events WHERE run = ? AND kind = '{EventKind.CONTAINMENT}'", (run,)
        ):
            dirs = json.loads(payload).get("cgroups") or []
            found.setdefault(run, []).extend(str(d) for d in dirs)
    return found


def recorded_cgroups_in(db: Path, runs: int = 20) -> dict[str, list[str]]:
    """``recorded_cgroups`` of the database file ``db`` (none when it does not exist yet)."""
    if not db.exists():
        return {}
    conn = open_readonly(db)
    try:
        return recorded_cgroups(conn, runs)
    finally:
        conn.close()
