"""``controlroom run --headless`` as a real process: logging, Ctrl-C, exit codes, and a crash.

The crash test SIGKILLs the control room mid-run. What it had printed must be
in the audit file (it prints only committed events), the chain must verify,
and the next start must report every agent process still alive as an orphan.
Agents die with the control room through PR_SET_PDEATHSIG, but the
grandchildren of forks_setsid.py (which called setsid) do not: they are the
orphans the next start must find.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path

import psutil
from clikit import alive, controlroom, start_controlroom, wait_dead

AGENTS = Path(__file__).parent / "agents"
SEQ = re.compile(r"#(\d+)\s")


def write_config(path: Path, agents: str, db: str = "audit.db") -> Path:
    path.write_text(f'[swarm]\nname = "t"\naudit_db = "{db}"\n\n{agents}', encoding="utf-8")
    return path


def agent(name: str, *argv: str, extra: str = "") -> str:
    command = json.dumps([sys.executable, *argv])
    return f'[[agents]]\nname = "{name}"\ncommand = {command}\n{extra}\n'


def test_headless_run_logs_events_and_exit_code_says_failure(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "swarm.toml",
        agent("good", str(AGENTS / "well_behaved.py"))
        + agent(
            "runaway", str(AGENTS / "runaway.py"), "200", extra="budget = { max_tokens = 5000 }"
        ),
    )
    result = controlroom("run", str(cfg), "--headless", cwd=tmp_path)
    assert result.returncode == 1, result.stderr  # the runaway did not succeed
    out = result.stdout
    assert re.search(r"good\s+spawned pid \d+", out)
    assert re.search(r"runaway\s+budget exceeded: max_tokens 5\d{3}\.0 over cap 5000\.0", out)
    assert re.search(r"runaway\s+kill completed: 1 process in \d+ ms, 0 survivors", out)
    assert "run ended: failed" in out
    verify = controlroom("audit", "verify", "--db", str(tmp_path / "audit.db"), cwd=tmp_path)
    assert verify.returncode == 0 and verify.stdout.startswith("ok: ")


def test_headless_run_of_good_agents_exits_zero(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "swarm.toml",
        agent("a", str(AGENTS / "well_behaved.py"))
        + agent("b", str(AGENTS / "well_behaved.py"), "{handoff}", extra='after = ["a"]'),
    )
    result = controlroom("run", str(cfg), "--headless", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "run ended: success" in result.stdout


def test_sigint_stops_all_agents_gracefully(tmp_path: Path, leftovers: list[int]) -> None:
    cfg = write_config(
        tmp_path / "swarm.toml",
        agent("slow", str(AGENTS / "runaway.py"), "5") + agent("tree", str(AGENTS / "tree4.py")),
    )
    proc = start_controlroom("run", str(cfg), "--headless", cwd=tmp_path)
    leftovers.append(proc.pid)
    assert proc.stdout is not None
    spawned: list[int] = []
    while len(spawned) < 2:
        line = proc.stdout.readline()
        assert line, "control room ended before spawning its agents"
        if m := re.search(r"spawned pid (\d+)", line):
            spawned.append(int(m.group(1)))
    leftovers.extend(spawned)
    time.sleep(0.3)
    tree = [c.pid for p in spawned for c in psutil.Process(p).children(recursive=True)]
    leftovers.extend(tree)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "SIGINT: stop all" in err
    assert out.count("0 survivors") == 2
    assert "run ended: interrupted" in out
    assert wait_dead(spawned + tree) == []


def test_killed_control_room_loses_nothing_reported_and_leaves_orphans_found(
    tmp_path: Path, leftovers: list[int]
) -> None:
    cfg = write_config(
        tmp_path / "swarm.toml",
        agent("spender", str(AGENTS / "runaway.py"), "50")
        + agent("forker", str(AGENTS / "forks_setsid.py"), "2"),
    )
    proc = start_controlroom("run", str(cfg), "--headless", cwd=tmp_path)
    leftovers.append(proc.pid)
    assert proc.stdout is not None
    printed: list[str] = []
    while sum("spawned pid" in line for line in printed) < 2:
        line = proc.stdout.readline()
        assert line, "control room ended early"
        printed.append(line)
    time.sleep(0.5)  # let the agents work and the forker's grandchildren start
    agent_pids = [
        int(m.group(1)) for line in printed if (m := re.search(r"spawned pid (\d+)", line))
    ]
    tree = [c.pid for p in agent_pids for c in psutil.Process(p).children(recursive=True)]
    leftovers.extend(agent_pids + tree)
    assert len(tree) == 4  # two children, two grandchildren, each in its own session
    proc.kill()
    rest, _ = proc.communicate(timeout=10)
    printed.extend(rest.splitlines(keepends=True))

    # Every event it had reported is committed, and the chain verifies.
    db = tmp_path / "audit.db"
    reported = {int(m.group(1)) for line in printed if (m := SEQ.search(line))}
    assert reported
    with sqlite3.connect(db) as conn:
        stored = {seq for (seq,) in conn.execute("SELECT seq FROM events")}
        usage_rows = conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'usage'").fetchone()
    assert reported <= stored
    assert usage_rows[0] > 0
    verify = controlroom("audit", "verify", "--db", str(db), cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    # The agents themselves died with the control room (PR_SET_PDEATHSIG) ...
    if sys.platform.startswith("linux"):
        assert wait_dead(agent_pids) == []
    # ... but the setsid descendants of the forker live on: the next start must say so.
    survivors = [p for p in tree if alive(p)]
    assert survivors, "expected the setsid descendants to outlive the control room"

    listed = controlroom("orphans", "--db", str(db), cwd=tmp_path)
    assert listed.returncode == 1
    for pid in survivors:
        assert f"pid {pid}" in listed.stdout

    second = write_config(tmp_path / "second.toml", agent("quick", str(AGENTS / "crashes.py")))
    restarted = controlroom("run", str(second), "--headless", cwd=tmp_path)
    for pid in survivors:
        assert re.search(
            rf"orphan: agent forker of run \S+ is still running \(pid {pid}", restarted.stderr
        )
        assert re.search(rf"orphan pid {pid} from run", restarted.stdout)

    killed = controlroom("orphans", "--kill", "--grace", "1", "--db", str(db), cwd=tmp_path)
    assert killed.returncode == 0, killed.stdout + killed.stderr
    noun = "orphan" if len(survivors) == 1 else "orphans"
    assert f"killed {len(survivors)} {noun}, 0 survivors" in killed.stdout
    assert wait_dead(survivors) == []
    again = controlroom("orphans", "--db", str(db), cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.startswith("no orphans")


def test_second_control_room_on_the_same_db_is_refused(
    tmp_path: Path, leftovers: list[int]
) -> None:
    cfg = write_config(tmp_path / "swarm.toml", agent("slow", str(AGENTS / "runaway.py"), "5"))
    proc = start_controlroom("run", str(cfg), "--headless", cwd=tmp_path)
    leftovers.append(proc.pid)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "spawned" in line or "run started" in line
    second = controlroom("run", str(cfg), "--headless", cwd=tmp_path, timeout=30)
    assert second.returncode == 1
    assert "already being written by pid" in second.stderr
    assert "Traceback" not in second.stderr
    os.kill(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 1
