"""``controlroom diff`` and the radar's keys of ``gates --format jsonl``, as an operator runs them.

A real ``controlroom run --headless`` in a real git repository, agents
writing in their worktrees and handing off to a human gate; the verbs run
as separate processes over the control socket, and what they print is
checked against what the agents wrote and what git says.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clikit import controlroom, end_controlroom
from radarkit import CLIENT, git, make_repo

from controlroom.control.client import ControlClient

pytestmark = pytest.mark.timeout(120)

AGENTS = Path(__file__).parent / "agents"
EDIT = CLIENT.replace("line 10\n", "{}\n")
ESCAPE = "\x1b]0;pwned\x07\x1b[2J"


def writer(name: str, steps: list[dict[str, Any]], extra: str = "") -> str:
    command = json.dumps([sys.executable, str(AGENTS / "writer.py"), json.dumps(steps)])
    return f'[[agents]]\nname = "{name}"\ncommand = {command}\nworkspace = "worktree"\n{extra}\n'


def handoff(changed: str) -> dict[str, Any]:
    return {"handoff": {"changed": changed, "next_needs": "review it", "risks": "none"}}


CONFIG = (
    '[swarm]\nname = "diffs"\naudit_db = "audit.db"\nrun_dir = ".controlroom"\n\n'
    + writer(
        "alpha",
        [
            {"write": "src/client.py", "text": EDIT.format("ALPHA " + ESCAPE)},
            handoff("src/client.py"),
        ],
    )  # fmt: skip
    + writer(
        "beta",
        [
            {"write": "src/client.py", "text": EDIT.format("BETA")},
            handoff("src/client.py and src/retry.py"),
        ],
    )  # fmt: skip
    + '[[agents]]\nname = "next"\n'
    + f"command = {json.dumps([sys.executable, str(AGENTS / 'well_behaved.py'), 'next', '30'])}\n"
    + 'after = ["alpha", "beta"]\ngate = "human"\n'
)


def pending(socket: Path) -> list[dict[str, Any]]:
    with ControlClient(socket, timeout=5) as client:
        gates: list[dict[str, Any]] = client.request("gates")
    return gates


@pytest.fixture
def room(tmp_path: Path) -> Iterator[Path]:
    """A headless control room in a git repository, both handoffs at gates, their conflict seen."""
    repo = make_repo(tmp_path / "repo", {"src/client.py": CLIENT, "README.md": "# billing\n"})
    (repo / "config.toml").write_text(CONFIG, "utf-8")
    err = tmp_path / "err.txt"
    with err.open("wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "controlroom", "run", "config.toml", "--headless"],
            cwd=repo,
            stdout=subprocess.DEVNULL,
            stderr=e,
        )
    try:
        socket = repo / ".controlroom" / "control.sock"
        deadline = time.monotonic() + 60
        while len([g for g in _gates_or_none(socket) if g["conflicts"]]) < 2:
            assert proc.poll() is None, err.read_text("utf-8")
            assert time.monotonic() < deadline, "the handoffs never reached their gates"
            time.sleep(0.1)
        yield repo
    finally:
        end_controlroom(proc)


def _gates_or_none(socket: Path) -> list[dict[str, Any]]:
    if not socket.exists():
        return []
    try:
        return pending(socket)
    except Exception:  # not answering yet
        return []


def test_diff_prints_the_files_the_verdict_and_the_diff_inert(room: Path) -> None:
    done = controlroom("diff", "alpha", cwd=room)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    base = git(room, "rev-parse", "HEAD")
    assert lines[0].startswith("alpha · branch controlroom/")
    assert lines[0].endswith(f"/alpha · base {base[:12]} · 1 file, +1 -1")
    assert lines[1] == "radar: conflicts with beta in src/client.py"
    assert lines[2] == "  M  src/client.py  +1 -1"
    assert "-line 10" in lines and "+ALPHA ]0;pwned" not in done.stdout
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "+ALPHA " in done.stdout  # what the agent wrote, less what a terminal would obey

    stat = controlroom("diff", "beta", "--stat", cwd=room)
    assert stat.returncode == 0 and stat.stdout.splitlines()[2:] == ["  M  src/client.py  +1 -1"]

    as_json = controlroom("diff", "beta", "--format", "jsonl", cwd=room)
    (record,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert record["agent"] == "beta" and record["base"] == base
    assert "+BETA\n" in record["diff"]
    # the exact text is kept in JSON (escaped, so still inert on a terminal)
    alpha = json.loads(controlroom("diff", "alpha", "--format", "jsonl", cwd=room).stdout)
    assert ESCAPE in alpha["diff"]


def test_diff_of_an_unknown_or_untracked_agent_is_one_line_and_exit_1(room: Path) -> None:
    unknown = controlroom("diff", "nobody", cwd=room)
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr == ("controlroom: unknown agent 'nobody' (agents: alpha, beta, next)\n")
    untracked = controlroom("diff", "next", cwd=room)
    assert untracked.returncode == 1 and untracked.stdout == ""
    assert untracked.stderr.startswith("next: not tracked: ")
    assert len(untracked.stderr.splitlines()) == 1


def test_gates_jsonl_carries_files_conflicts_discrepancies_and_order(room: Path) -> None:
    done = controlroom("gates", "--format", "jsonl", cwd=room)
    assert done.returncode == 0, done.stderr
    gates = {g["agent"]: g for g in map(json.loads, done.stdout.splitlines())}
    beta = gates["beta"]
    # the keys scripts relied on are all still there
    assert {"id", "agent", "kind", "state", "title", "handoff", "created"} <= set(beta)
    assert beta["changed_files"] == [
        {"path": "src/client.py", "status": "modified", "added": 1, "removed": 1}
    ]
    assert beta["conflicts"] == [{"other": "alpha", "files": ["src/client.py"]}]
    assert [d["path"] for d in beta["discrepancies"]] == ["src/retry.py"]
    assert gates["alpha"]["discrepancies"] == []
    assert sorted(g["merge_order"] for g in gates.values()) == [1, 2]
