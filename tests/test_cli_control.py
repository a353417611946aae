"""The CLI verbs against a real ``controlroom run --headless`` process, over its real socket.

Each test starts the control room as a subprocess on a small swarm of the
agents in ``tests/agents``, then runs ``controlroom status``, ``pause``,
``kill``, ``gates``, ``approve`` … as separate processes, exactly as an
operator would, and checks what they print and exit with against what the
kernel (psutil) and the control room's own log say happened.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from clikit import alive, end_controlroom
from swarmkit import frozen

from controlroom.control.client import ControlClient

pytestmark = pytest.mark.timeout(60)

AGENTS = Path(__file__).parent / "agents"


def agent(name: str, script: str, *args: str, extra: str = "") -> str:
    command = json.dumps([sys.executable, str(AGENTS / script), *args])
    return f'[[agents]]\nname = "{name}"\ncommand = {command}\n{extra}\n'


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controlroom", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )


@dataclass
class Room:
    """A running ``controlroom run --headless`` and what it printed so far."""

    proc: subprocess.Popen[bytes]
    cwd: Path
    socket: Path
    out: Path
    pids: list[int] = field(default_factory=list)

    def client(self) -> ControlClient:
        return ControlClient(self.socket, timeout=5)

    def snapshot(self) -> dict[str, Any]:
        with self.client() as c:
            snap: dict[str, Any] = c.request("snapshot")
        for a in snap["agents"]:
            if a["pid"] and a["pid"] not in self.pids:
                self.pids.append(a["pid"])
        return snap

    def until(
        self, what: str, check: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check(self.snapshot()):
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}: {self.snapshot()['agents']}")

    def states(self) -> dict[str, str]:
        return {a["name"]: a["state"] for a in self.snapshot()["agents"]}

    def wait_states(self, wanted: dict[str, str], timeout: float = 30) -> None:
        self.until(
            f"states {wanted}",
            lambda s: all(
                a["state"] == wanted[a["name"]] for a in s["agents"] if a["name"] in wanted
            ),
            timeout,
        )

    def log(self) -> str:
        return self.out.read_text(encoding="utf-8")


@pytest.fixture
def room(tmp_path: Path) -> Iterator[Callable[..., Room]]:
    """Start a headless control room on a config body; stopped (and its agents killed) after."""
    rooms: list[Room] = []

    def start(agents: str, name: str = "config.toml") -> Room:
        cfg = tmp_path / name
        cfg.write_text(f'[swarm]\nname = "cli"\naudit_db = "audit.db"\n\n{agents}', "utf-8")
        out = tmp_path / "out.txt"
        err = tmp_path / "err.txt"
        with out.open("wb") as o, err.open("wb") as e:
            proc = subprocess.Popen(
                [sys.executable, "-m", "controlroom", "run", str(cfg), "--headless"],
                cwd=tmp_path,
                stdout=o,
                stderr=e,
            )
        sock = tmp_path / ".controlroom" / "control.sock"
        r = Room(proc, tmp_path, sock, out)
        rooms.append(r)
        deadline = time.monotonic() + 15
        while "control socket" not in err.read_text("utf-8"):
            assert proc.poll() is None, err.read_text("utf-8")
            assert time.monotonic() < deadline, "no control socket line on stderr"
            time.sleep(0.02)
        assert err.read_text("utf-8").splitlines()[0] == f"controlroom: control socket {sock}"
        return r

    yield start
    for r in rooms:
        end_controlroom(r.proc, r.pids, grace=10)


def status_of(pid: int) -> str:
    return str(psutil.Process(pid).status())


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# --------------------------------------------------------------------------- no swarm


def test_verbs_say_clearly_when_no_control_room_runs(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[swarm]\nname = "x"\nrun_dir = "state"\n', "utf-8")
    result = cli("status", "--config", str(cfg), cwd=tmp_path)
    sock = tmp_path / "state" / "control.sock"
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"controlroom: no control room is running at {sock} "
        "(start one with 'controlroom run --headless')\n"
    )
    # Found through ./config.toml without --config; --socket wins over both.
    assert str(sock) in cli("kill", "a", cwd=tmp_path).stderr
    other = cli("stop-all", "--socket", str(tmp_path / "x.sock"), cwd=tmp_path)
    assert other.returncode == 1 and str(tmp_path / "x.sock") in other.stderr
    bad_budget = cli("restart", "a", "--new-budget", "max_tokenz=5", cwd=tmp_path)
    assert bad_budget.returncode == 2 and "KEY one of max_tokens" in bad_budget.stderr


# --------------------------------------------------------------------------- looking and acting


def test_status_pause_resume_kill_and_stop_all(room: Callable[..., Room]) -> None:
    r = room(
        agent("spender", "runaway.py", "5")
        + agent("stubborn", "ignores_sigterm.py", extra="budget = { kill_grace_seconds = 0.3 }")
        + agent("victim", "runaway.py", "2")
    )
    r.wait_states({"spender": "running", "stubborn": "running", "victim": "running"})
    r.until("spender tokens", lambda s: s["agents"][0]["meter"]["total_tokens"] > 0)

    table = cli("status", cwd=r.cwd)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert re.match(r"swarm cli · run \d{8}-\d{6}-[0-9a-f]{4} · 3 agents, 3 running · ", lines[0])
    assert lines[0].endswith("· 0 pending gates")
    assert lines[1].split() == [
        "AGENT",
        "STATE",
        "IN",
        "OUT",
        "COST",
        "$",
        "ELAPSED",
        "PID",
        "REASON",
    ]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {"spender", "stubborn", "victim"}
    assert rows["spender"][1] == "running" and int(rows["spender"][2]) >= 900

    jsonl = cli("status", "--format", "jsonl", cwd=r.cwd)
    records = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [rec["agent"] for rec in records] == ["spender", "stubborn", "victim"]
    snap = r.snapshot()
    for rec, live in zip(records, snap["agents"], strict=True):
        assert rec["run"] == snap["run"] and rec["swarm"] == "cli"
        assert rec["state"] == "running" and rec["pid"] == live["pid"] and alive(rec["pid"])
        assert {"input_tokens", "output_tokens", "cost_usd", "elapsed_seconds"} <= set(rec)
    spender, stubborn, victim = (rec["pid"] for rec in records)

    paused = cli("pause", "spender", cwd=r.cwd)
    assert paused.returncode == 0 and paused.stdout == "paused spender (1 process stopped)\n"
    assert wait_for(lambda: frozen(psutil.Process(spender)))
    assert r.states()["spender"] == "paused"
    ranked = cli("status", cwd=r.cwd).stdout.splitlines()[2:]  # attention order: paused last
    assert [line.split()[0] for line in ranked] == ["stubborn", "victim", "spender"]
    again = cli("pause", "spender", cwd=r.cwd)
    assert again.returncode == 1
    assert again.stderr == "controlroom: agent 'spender' is paused, not running\n"
    resumed = cli("resume", "spender", cwd=r.cwd)
    assert resumed.returncode == 0 and resumed.stdout.startswith("resumed spender")
    assert wait_for(lambda: not frozen(psutil.Process(spender)))
    assert r.states()["spender"] == "running"

    unknown = cli("kill", "nobody", cwd=r.cwd)
    assert unknown.returncode == 1
    assert unknown.stderr == (
        "controlroom: unknown agent 'nobody' (agents: spender, stubborn, victim)\n"
    )
    killed = cli("kill", "victim", cwd=r.cwd)
    assert killed.returncode == 0, killed.stderr
    assert re.fullmatch(r"killed victim: 1 process in \d+ ms, 0 survivors\n", killed.stdout)
    assert not alive(victim)
    assert r.states()["victim"] == "killed"

    stopped = cli("stop-all", cwd=r.cwd)
    assert stopped.returncode == 0, stopped.stderr
    m = re.fullmatch(r"2 agents stopped in (\d+) ms, 0 survivors\n", stopped.stdout)
    assert m, stopped.stdout
    assert float(m.group(1)) >= 250  # stubborn ignores SIGTERM: SIGKILL after its 0.3 s grace
    assert not alive(spender) and not alive(stubborn)
    assert r.proc.wait(10) == 1  # nothing left to run: the control room ends
    assert "by uid " in r.log()
    assert not r.socket.exists()


def test_gates_approve_and_reject_between_native_agents(room: Callable[..., Room]) -> None:
    r = room(
        agent("up", "well_behaved.py", "design it")
        + agent("down", "well_behaved.py", "{handoff}", extra='after = ["up"]\ngate = "human"')
        + agent("asker", "gate_asker.py", "deploy?")
        + agent("up2", "well_behaved.py", "second")
        + agent(
            "down2",
            "well_behaved.py",
            extra='after = ["up2"]\ngate = "human"\non_reject = "stop"',
        )
        + agent("keeper", "runaway.py", "1"),  # keeps the run going until stop-all
        name="swarm.toml",
    )
    r.until("three gates", lambda s: len(s["gates"]) == 3)

    listed = cli("gates", "--config", "swarm.toml", "--format", "jsonl", cwd=r.cwd)
    assert listed.returncode == 0, listed.stderr
    gates = [json.loads(line) for line in listed.stdout.splitlines()]
    by_agent = {g["agent"]: g for g in gates}
    assert set(by_agent) == {"up", "up2", "asker"}
    handoff = by_agent["up"]
    assert handoff["kind"] == "handoff" and handoff["state"] == "pending"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", handoff["created"])
    assert handoff["handoff"] == {
        "changed": "did: design it",
        "next_needs": "run the tests",
        "risks": "none known",
    }
    assert handoff["tool"] is None and handoff["stage"] == "down"
    assert by_agent["asker"]["kind"] == "agent" and by_agent["asker"]["title"] == "deploy?"

    table = cli("gates", "--config", "swarm.toml", cwd=r.cwd)
    assert table.stdout.splitlines()[0].split() == ["ID", "AGENT", "KIND", "AGE", "WHAT"]
    assert handoff["id"] in table.stdout and "did: design it" in table.stdout

    assert r.states()["down"] == "pending"
    ok = cli("approve", handoff["id"], "-m", "looks right", "--config", "swarm.toml", cwd=r.cwd)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == f"approved {handoff['id']} (up: handoff up → down)\n"
    r.wait_states({"up": "done", "down": "done"})
    assert re.search(r"down\s+spawned pid \d+", r.log())

    twice = cli("approve", handoff["id"], "--config", "swarm.toml", cwd=r.cwd)
    assert twice.returncode == 1 and "already approved" in twice.stderr
    missing = cli("approve", "g-00000000", "--config", "swarm.toml", cwd=r.cwd)
    assert missing.returncode == 1
    assert missing.stderr.startswith("controlroom: no gate 'g-00000000' (pending: ")

    no_reason = cli("reject", by_agent["up2"]["id"], "--config", "swarm.toml", cwd=r.cwd)
    assert no_reason.returncode == 2 and "-m/--message" in no_reason.stderr
    rejected = cli(
        "reject",
        by_agent["up2"]["id"],
        "-m",
        "wrong approach",
        "--config",
        "swarm.toml",
        cwd=r.cwd,
    )
    assert rejected.returncode == 0, rejected.stderr
    up2 = by_agent["up2"]
    assert rejected.stdout == f"rejected {up2['id']} (up2: {up2['title']}): wrong approach\n"
    r.wait_states({"up2": "failed", "down2": "blocked"})

    asked = cli("approve", by_agent["asker"]["id"], "-m", "go", "--config", "swarm.toml", cwd=r.cwd)
    assert asked.returncode == 0, asked.stderr
    r.wait_states({"asker": "done"})

    decided = cli("gates", "--all", "--format", "jsonl", "--config", "swarm.toml", cwd=r.cwd)
    final = {g["agent"]: g for g in map(json.loads, decided.stdout.splitlines())}
    assert final["up"]["decision"]["reason"] == "looks right"
    assert final["up"]["decision"]["by"].startswith("uid ")
    assert final["up2"]["state"] == "rejected"
    assert final["up2"]["decision"]["reason"] == "wrong approach"
    assert final["asker"]["state"] == "approved"
    stopped = cli("stop-all", "--config", "swarm.toml", cwd=r.cwd)
    assert stopped.stdout.startswith("1 agent stopped in "), stopped.stderr
    assert r.proc.wait(10) == 1  # up2 failed, down2 blocked, keeper killed: not a success


def test_restart_needs_a_new_budget_and_reset_breaker_reopens_the_way(
    room: Callable[..., Room],
) -> None:
    r = room(
        agent("spender", "runaway.py", "50", extra="budget = { max_tokens = 3000 }")
        + agent("looper", "repeats_tool.py", extra="breaker = { repeat_limit = 3 }")
        + agent("keeper", "runaway.py", "1")  # keeps the run going until stop-all
    )
    r.wait_states({"spender": "budget_stopped", "looper": "breaker_open"})

    refused = cli("restart", "spender", cwd=r.cwd)
    assert refused.returncode == 1
    assert "was stopped by its budget: restart it with a new budget" in refused.stderr
    # A budget it cannot spend before stop-all (5.5 h at 50,000 tokens/s), however slow this box
    restarted = cli("restart", "spender", "--new-budget", "max_tokens=1000000000", cwd=r.cwd)
    assert restarted.returncode == 0, restarted.stderr
    assert restarted.stdout.startswith("restarted spender (now ")
    r.until(
        "spender running again",
        lambda s: s["agents"][0]["state"] == "running" and s["agents"][0]["attempt"] == 2,
    )
    assert r.snapshot()["agents"][0]["meter"]["budget"]["max_tokens"] == 1_000_000_000

    blocked = cli("restart", "looper", cwd=r.cwd)
    assert blocked.returncode == 1 and "has an open breaker: reset it first" in blocked.stderr
    reset = cli("reset-breaker", "looper", cwd=r.cwd)
    assert reset.returncode == 0, reset.stderr
    assert re.fullmatch(
        r"breaker of looper reset, now \w+ \('controlroom restart looper' restarts it\)\n",
        reset.stdout,
    )
    assert not r.snapshot()["agents"][1]["breaker_open"]
    twice = cli("reset-breaker", "looper", cwd=r.cwd)
    assert twice.returncode == 1 and "its breaker is not open" in twice.stderr
    assert cli("restart", "looper", cwd=r.cwd).returncode == 0
    r.until("looper restarted", lambda s: s["agents"][1]["attempt"] >= 2)

    stopped = cli("stop-all", "--grace", "0", cwd=r.cwd)
    assert re.match(r"[23] agents stopped in \d+ ms, 0 survivors", stopped.stdout), stopped
    assert r.proc.wait(10) == 1
