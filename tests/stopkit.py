"""Helpers for tests that stop a swarm and count what is left: markers, kills, pids.

A run passes ``CONTROLROOM_TEST_MARK`` to every agent (``env = [MARK]``) and
every descendant inherits it, so the processes a test started can be found
in ``/proc`` by their environment, whoever their parent is now, and killed
at the end (only those: other tests run the same programs).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import psutil
import pytest
from clikit import ROOT, alive, controlroom, wait_dead

AGENTS = Path(__file__).parent / "agents"
MARK = "CONTROLROOM_TEST_MARK"
EXIT_BOUND_SECONDS = 120  # a bound on a hang, not a speed requirement


def marked(marker: str) -> list[int]:
    """Pids of live processes whose environment carries ``MARK=marker``."""
    needle = f"{MARK}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_unmarked(marker: str, timeout: float = 10.0) -> list[int]:
    """The marked processes still alive after waiting up to ``timeout`` for them to end."""
    deadline = time.monotonic() + timeout
    while (left := marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@contextmanager
def marking() -> Iterator[str]:
    """A fresh marker; whatever carries it at the end is killed (only ours)."""
    value = uuid.uuid4().hex
    try:
        yield value
    finally:
        for pid in marked(value):
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass


def start(config: Path, marker: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "controlroom", "run", str(config), "--headless"],
        cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT), MARK: marker},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """The control room's output once it exits on its own (killed, and failed, if it hangs)."""
    try:
        return proc.communicate(timeout=EXIT_BOUND_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the control room did not exit after the stop\n{out[-3000:]}\n{err[-3000:]}")


def write_config(path: Path, agents: list[tuple[str, list[str], str]]) -> Path:
    lines = ['[swarm]\nname = "stop"\naudit_db = "audit.db"\n']
    for name, argv, extra in agents:
        lines.append(
            f'[[agents]]\nname = "{name}"\ncommand = {json.dumps(argv)}\n'
            f'env = ["{MARK}"]\n{extra}\n'
        )
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def events(db: Path, *kinds: str) -> list[tuple[str, str, dict[str, object]]]:
    """(kind, agent, payload) of every stored event of ``kinds``, in log order."""
    marks = ", ".join("?" for _ in kinds)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            f"SELECT kind, agent, payload FROM events WHERE kind IN ({marks}) ORDER BY id", kinds
        ).fetchall()
    return [(kind, agent, json.loads(payload)) for kind, agent, payload in rows]


def unanswered_kills(db: Path) -> dict[str, int]:
    """Per agent: kill_requested events not followed by their kill_completed."""
    open_requests: dict[str, int] = {}
    for kind, agent, _ in events(db, "kill_requested", "kill_completed"):
        if kind == "kill_requested":
            open_requests[agent] = open_requests.get(agent, 0) + 1
        else:
            assert open_requests.get(agent, 0) > 0, f"{agent}: kill_completed without a request"
            open_requests[agent] -= 1
    return {agent: n for agent, n in open_requests.items() if n}


def recorded_pids(db: Path) -> list[int]:
    """Every pid the log names: spawned agents and the descendants they reported."""
    pids = []
    for kind, _, payload in events(db, "agent_spawned", "status"):
        if kind == "agent_spawned":
            pids.append(int(payload["pid"]))  # type: ignore[call-overload]
        else:
            pids.extend(int(p) for p in payload.get("pids", []))  # type: ignore[attr-defined]
    return pids


class Polled(Protocol):
    def poll(self) -> int | None: ...


def wait_forked(db: Path, agents: int, proc: Polled) -> None:
    """Until every forker has reported its setsid descendants (committed in the log)."""
    deadline = time.monotonic() + EXIT_BOUND_SECONDS
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the control room ended before its agents forked"
        if db.exists():
            try:
                forked = [p for _, _, p in events(db, "status") if p.get("text") == "forked"]
            except sqlite3.OperationalError:
                forked = []
            if len(forked) == agents:
                return
        time.sleep(0.1)
    pytest.fail("the agents did not fork in time")


def assert_stopped_cleanly(
    proc: subprocess.Popen[str], out: str, err: str, db: Path, marker: str
) -> None:
    assert proc.returncode == 1, out[-2000:] + err[-2000:]  # README: 0 only when all succeeded
    assert "Traceback" not in err and "Task exception" not in err, err
    assert "run ended: interrupted" in out
    assert unanswered_kills(db) == {}
    assert wait_dead(recorded_pids(db), timeout=10) == []
    assert wait_unmarked(marker) == []
    verify = controlroom("audit", "verify", "--db", str(db), cwd=db.parent)
    assert verify.returncode == 0, verify.stdout + verify.stderr
