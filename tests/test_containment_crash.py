"""A control room SIGKILLed with agents in cgroups: the next start and ``orphans`` clean up.

The agents die with the control room (PR_SET_PDEATHSIG), but the daemons
they started live on: some with the agent's marker in their environment,
some re-executed with an empty one (``env -i``), found only because they are
still in the cgroups the dead run recorded. ``controlroom orphans`` lists
them and the cgroups; the next start reports them (and keeps those cgroups);
``orphans --kill`` kills every one and removes the cgroups.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from clikit import alive, controlroom, start_controlroom, wait_dead
from swarmkit import need_containment

AGENTS = Path(__file__).parent / "agents"
pytestmark = pytest.mark.timeout(120)


def agent(name: str, *argv: str) -> str:
    command = json.dumps([sys.executable, *argv])
    return f'[[agents]]\nname = "{name}"\ncommand = {command}\n\n'


def recorded(db: Path, kind: str) -> list[dict[str, Any]]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT payload FROM events WHERE kind = ?", (kind,)).fetchall()
    except sqlite3.Error:
        return []
    return [json.loads(payload) for (payload,) in rows]


def test_orphans_of_a_killed_control_room_are_found_killed_and_their_cgroups_removed(
    tmp_path: Path, leftovers: list[int]
) -> None:
    need_containment("cgroup")
    db = tmp_path / "audit.db"
    cfg = tmp_path / "swarm.toml"
    cfg.write_text(
        '[swarm]\nname = "t"\naudit_db = "audit.db"\n\n'
        + agent("daemons", str(AGENTS / "daemonizer.py"), "5")
        + agent("scrubbed", str(AGENTS / "daemonizer.py"), "3", "--env-clear"),
        encoding="utf-8",
    )
    proc = start_controlroom("run", str(cfg), "--headless", cwd=tmp_path)
    leftovers.append(proc.pid)
    deadline = time.monotonic() + 30
    while len(statuses := [s for s in recorded(db, "status") if s["text"] == "daemons"]) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "no daemons"
        time.sleep(0.05)
    daemons = {s["agent"]: s["extra"]["pids"] for s in statuses}
    everyone = daemons["daemons"] + daemons["scrubbed"]
    leftovers.extend(everyone)
    (containment,) = recorded(db, "containment")
    assert containment["mode"] == "cgroup"
    run_dirs = [Path(d) for d in containment["cgroups"]]
    proc.kill()
    proc.communicate(timeout=10)

    spawned = [s["pid"] for s in recorded(db, "agent_spawned")]
    assert wait_dead(spawned) == []  # the agents died with it
    assert all(alive(p) for p in everyone)  # their daemons did not
    assert all(d.is_dir() for d in run_dirs)

    listed = controlroom("orphans", "--db", str(db), cwd=tmp_path)
    assert listed.returncode == 1, listed.stdout + listed.stderr
    for pid in daemons["scrubbed"]:  # no marker left: found by their cgroup
        assert re.search(
            rf"agent scrubbed of run \S+ is still running \(pid {pid}, cgroup\)", listed.stdout
        )
    for pid in daemons["daemons"]:
        assert re.search(rf"agent daemons of run \S+ is still running \(pid {pid}, ", listed.stdout)
    for path in run_dirs:
        assert f"leftover cgroup of run {containment['run']}: {path}" in listed.stdout
    assert listed.stdout.splitlines()[-1].startswith(f"8 orphans, {len(run_dirs)} leftover")

    second = tmp_path / "second.toml"
    second.write_text(
        '[swarm]\nname = "t"\naudit_db = "audit.db"\n\n'
        + agent("quick", str(AGENTS / "well_behaved.py")),
        encoding="utf-8",
    )
    restarted = controlroom("run", str(second), "--headless", cwd=tmp_path)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert re.search(r"-\s+containment: cgroup v2 at \S+/controlroom-", restarted.stdout)
    for pid in everyone:
        assert re.search(rf"orphan pid {pid} from run ", restarted.stdout)
        assert f"(pid {pid}, " in restarted.stderr
    assert all(d.is_dir() for d in run_dirs)  # kept: they still hold processes

    killed = controlroom("orphans", "--kill", "--grace", "0.5", "--db", str(db), cwd=tmp_path)
    assert killed.returncode == 0, killed.stdout + killed.stderr
    assert (
        f"killed 8 orphans, 0 survivors; removed {len(run_dirs)} of {len(run_dirs)} "
        f"leftover cgroup{'' if len(run_dirs) == 1 else 's'}" in killed.stdout
    )
    assert wait_dead(everyone) == []
    assert not any(d.exists() for d in run_dirs)
    again = controlroom("orphans", "--db", str(db), cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.startswith("no orphans")
