"""``controlroom demo``: the shipped demo swarm, run for real, read back from its audit log.

The headless demo at ``--speed 10`` runs in seconds (plus each worker's
start-up: the anthropic SDK takes about 2 s of CPU to import); the audit file
must tell the whole designed story: every agent metered at the wire (the
proxy, to the demo's simulated model), the runaway stopped by its budget
without its wire spend passing the cap and its own under-report flagged, the
flaky agent's breaker opened, the pipeline's handoffs gated, one rejection and
the retry it caused, the agent-asked gate decided, and a chain that verifies.
The wheel test checks that the runaway, the story and swarm.toml ship as
package data.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import psutil
import pytest
from clikit import alive, controlroom

from controlroom.demo import DEMO_DB, DEMO_RUN_DIR, EXPECTED_FINAL_STATES, demo_config, demo_folder
from controlroom.demo.operator import APPROVE_REASON, DEMO_OPERATOR, REJECT_REASON

ROOT = Path(__file__).resolve().parent.parent


def events(db: Path, kind: str | None = None) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        if kind is None:
            rows = conn.execute("SELECT payload FROM events ORDER BY id").fetchall()
        else:
            rows = conn.execute(
                "SELECT payload FROM events WHERE kind = ? ORDER BY id", (kind,)
            ).fetchall()
    return [json.loads(payload) for (payload,) in rows]


# --------------------------------------------------------------------------- the headless run


def test_headless_demo_ends_as_designed(demo_run: tuple[Path, Path, str]) -> None:
    cwd, db, out = demo_run
    assert "demo: every agent ended as designed" in out
    for name, state in EXPECTED_FINAL_STATES.items():
        assert re.search(rf"^demo: {re.escape(name)}\s+{state}\s+ok$", out, re.MULTILINE), name
    # The db went where --db said; nothing went to the default place.
    assert db.is_file()
    assert not (cwd / DEMO_DB).exists()
    # The agents leave nothing behind: only the audit files and the run folder.
    assert sorted(p.name for p in cwd.iterdir()) == sorted([DEMO_RUN_DIR, "tmp"])
    pids = [e["pid"] for e in events(db, "agent_spawned")]
    assert len(pids) == 11  # 8 agents, the implementer twice, the flaky agent three times
    assert [p for p in pids if alive(p)] == []


def test_audit_log_tells_the_designed_story(demo_run: tuple[Path, Path, str]) -> None:
    _, db, _ = demo_run
    started = events(db, "run_started")
    assert [e["mode"] for e in started] == ["demo"]

    # The runaway was stopped by its token cap, and only that.
    exceeded = events(db, "budget_exceeded")
    assert [(e["agent"], e["limit"], e["cap"]) for e in exceeded] == [
        ("runaway", "max_tokens", 60_000)
    ]
    assert exceeded[0]["value"] >= 60_000
    # The flaky agent crashed three times and its breaker opened.
    spawned = events(db, "agent_spawned")
    assert [e["attempt"] for e in spawned if e["agent"] == "flaky"] == [1, 2, 3]
    opened = events(db, "breaker_opened")
    assert [(e["agent"], e["failures"]) for e in opened] == [("flaky", 3)]
    # Every agent was metered at the wire, in swap mode, against the demo's own simulator.
    (proxy,) = events(db, "proxy_started")
    assert proxy["credentials"] == "swap" and proxy["upstream"].startswith("http://127.0.0.1:")
    wire = [e for e in events(db, "usage") if e["source"] == "proxy"]
    assert {e["agent"] for e in wire} == set(EXPECTED_FINAL_STATES)
    # The runaway's wire spend never passed its cap; its own account fell far below it,
    # and that (only that) was flagged.
    tokens = ("input_tokens", "output_tokens", "cache_read_input_tokens")
    spent = sum(e[k] for e in wire if e["agent"] == "runaway" for k in tokens)
    assert 40_000 < spent <= 60_000
    flagged = events(db, "meter_disagreement")
    assert [e["agent"] for e in flagged] == ["runaway"]
    assert flagged[0]["wire_tokens"] == spent > 2 * flagged[0]["reported_tokens"]
    # The swarm cap is visible and not hit: about a dollar of five.
    cost = sum(e["cost_usd"] for e in wire)
    assert 0.3 < cost < 5.0
    models = {e["model"] for e in wire}
    assert models == {"claude-sonnet-4-5", "claude-haiku-4-5"}
    final = {e["agent"]: e["state"] for e in events(db, "agent_state")}
    assert final == EXPECTED_FINAL_STATES


def test_gates_rejection_retry_and_agent_gate(demo_run: tuple[Path, Path, str]) -> None:
    cwd, db, _ = demo_run
    handoffs = [e["agent"] for e in events(db, "handoff")]
    assert sorted(handoffs) == sorted(
        [
            "architect",
            "implementer",
            "implementer",
            "reviewer",
            "docs-writer",
            "test-writer",
            "deploy-bot",
        ]
    )
    requested = {e["gate_id"]: e for e in events(db, "gate_requested")}
    kinds = sorted((e["agent"], e["gate_kind"]) for e in requested.values())
    assert kinds == [
        ("architect", "handoff"),
        ("deploy-bot", "agent"),
        ("implementer", "handoff"),
        ("implementer", "handoff"),
    ]
    # Decisions, read back through the operator's own interface.
    listed = controlroom(
        "audit", "list", "--db", str(db), "--kind", "gate_decided", "--format", "jsonl", cwd=cwd
    )
    assert listed.returncode == 0, listed.stderr
    decided = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {d["gate_id"] for d in decided} == set(requested)
    assert all(d["by"] == DEMO_OPERATOR for d in decided)
    rejected = [d for d in decided if not d["approved"]]
    assert [(d["agent"], d["reason"]) for d in rejected] == [("implementer", REJECT_REASON)]
    assert all(d["reason"] == APPROVE_REASON for d in decided if d["approved"])
    # The rejection re-ran the implementer with the reason in its task; it was the first
    # of the implementer's gates, and its second handoff was approved.
    implementer_gates = [g for g, e in requested.items() if e["agent"] == "implementer"]
    by_gate = {d["gate_id"]: d["approved"] for d in decided}
    assert [by_gate[g] for g in implementer_gates] == [False, True]
    runs = [e for e in events(db, "agent_spawned") if e["agent"] == "implementer"]
    assert [e["attempt"] for e in runs] == [1, 2]
    assert REJECT_REASON not in " ".join(runs[0]["argv"])
    assert REJECT_REASON in " ".join(runs[1]["argv"])
    # The agent-asked gate: its decision reached the agent, which then deployed.
    ask = next(e for e in requested.values() if e["gate_kind"] == "agent")
    assert ask["title"] == "deploy to staging?"
    assert by_gate[ask["gate_id"]] is True
    said = [e["text"] for e in events(db, "status") if e["agent"] == "deploy-bot"]
    assert said[-1] == "billing-api:3f9a2c1 is live on staging"
    # The reviewer started only after the implementer's approved handoff.
    seq_of = {e["gate_id"]: e["seq"] for e in decided}
    reviewer = next(e for e in events(db, "agent_spawned") if e["agent"] == "reviewer")
    assert reviewer["seq"] > seq_of[implementer_gates[1]]

    verify = controlroom("audit", "verify", "--db", str(db), cwd=cwd)
    assert verify.returncode == 0 and verify.stdout.startswith("ok: "), verify.stdout


@dataclass(frozen=True)
class StoppedDemo:
    """A headless demo run without ``--db`` in ``cwd``, stopped by SIGTERM in its first stage."""

    cwd: Path
    returncode: int
    out: str
    err: str
    spawned: list[int]


@pytest.fixture(scope="module")
def stopped_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoppedDemo]:
    """``controlroom demo --headless`` (speed 1, no ``--db``), SIGTERM 0.5 s after the first
    stage's six agents are up.

    One run for two claims: SIGTERM stops every agent, and without ``--db`` the audit log
    lands in the current directory (a whole second demo run cost 20-60 s under load).
    """
    cwd = tmp_path_factory.mktemp("stopped-demo")
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlroom", "demo", "--headless"],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    spawned: list[int] = []
    try:
        assert proc.stdout is not None
        while len(spawned) < 6:  # the first stage: everyone but implementer and reviewer
            line = proc.stdout.readline()
            assert line, "the demo ended before spawning its agents"
            if m := re.search(r"spawned pid (\d+)", line):
                spawned.append(int(m.group(1)))
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)  # only stops a hung test
        yield StoppedDemo(cwd, proc.returncode, out, err, spawned)
    finally:  # a failed run must not leak the control room or its agents
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
        for pid in spawned:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()


def test_without_db_the_audit_log_lands_in_the_current_directory(
    stopped_demo: StoppedDemo,
) -> None:
    db = stopped_demo.cwd / DEMO_DB
    assert db.is_file()
    assert (stopped_demo.cwd / DEMO_RUN_DIR).is_dir()
    assert not (demo_folder() / DEMO_DB).exists()
    assert [e["mode"] for e in events(db, "run_started")] == ["demo"]


def test_sigterm_stops_every_demo_agent_promptly(stopped_demo: StoppedDemo) -> None:
    out, err = stopped_demo.out, stopped_demo.err
    assert stopped_demo.returncode == 1, out + err  # stopped early: not as designed
    assert "SIGTERM: stop all" in err
    assert "SIGKILL needed" not in out  # every agent obeyed SIGTERM
    assert "run ended: interrupted" in out
    assert "demo: did NOT run as designed" in out
    assert [p for p in stopped_demo.spawned if alive(p)] == []


# --------------------------------------------------------------------------- config and CLI


def test_demo_config_fills_paths_speed_and_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = demo_config(speed=4)
    assert cfg.swarm.audit_db == str(tmp_path / DEMO_DB)
    assert cfg.swarm.run_dir == str(tmp_path / DEMO_RUN_DIR)
    assert cfg.swarm.max_cost_usd == 5.0
    assert [a.name for a in cfg.agents] == list(EXPECTED_FINAL_STATES)
    runaway = demo_folder() / "agents" / "runaway.py"
    for spec in cfg.agents:
        assert spec.command[0] == sys.executable and spec.command[-1] == "{task}"
        assert spec.task
        if spec.name == "runaway":  # speaks the Messages API itself
            assert spec.command[1:] == [str(runaway), "{task}"] and runaway.is_file()
            continue
        assert spec.command[1:4] == ["-m", "controlroom", "agent"]  # the built-in worker
        assert spec.command[-3:-1] == ["--backoff", "0.125"]  # 0.5 s at speed 4
    assert cfg.proxy.credentials == "swap"
    assert cfg.proxy.upstream_key_env == "CONTROLROOM_DEMO_KEY"
    for name in ("implementer", "reviewer"):
        spec = cfg.agent(name)
        assert (spec.gate, spec.on_reject, spec.max_attempts) == ("human", "retry", 3)
    assert cfg.agent("runaway").budget.max_tokens == 60_000
    flaky = cfg.agent("flaky").breaker
    assert (flaky.restart, flaky.max_failures, flaky.backoff_seconds) == ("on-failure", 3, 0.25)

    other = demo_config(tmp_path / "a" / "b.db", tmp_path / "run", speed=1)
    assert other.swarm.audit_db == str(tmp_path / "a" / "b.db")
    assert other.swarm.run_dir == str(tmp_path / "run")
    assert other.agent("flaky").breaker.backoff_seconds == 1.0
    with pytest.raises(ValueError, match="speed must be a positive number"):
        demo_config(speed=0)


def test_bad_speed_is_a_usage_error(tmp_path: Path) -> None:
    result = controlroom("demo", "--headless", "--speed", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "--speed: must be a positive number (got 0)" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(find_spec("controlroom.tui.app") is not None, reason="the dashboard exists now")
def test_without_the_dashboard_the_demo_says_use_headless(tmp_path: Path) -> None:
    result = controlroom("demo", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "controlroom: the dashboard is not available yet; use 'controlroom demo --headless'"
    )


# --------------------------------------------------------------------------- packaging


def test_wheel_ships_the_demo_agents_and_swarm_toml(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",  # hatchling from this environment: no network
            "--no-index",
            "-q",
            "-w",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("controlroom-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        config = tomllib.loads(archive.read("controlroom/demo/swarm.toml").decode())
    scripts = {
        arg.replace("{agents}", "controlroom/demo/agents")
        for agent in config["agents"]
        for arg in agent["command"]
        if arg.startswith("{agents}/")
    }
    assert scripts == {"controlroom/demo/agents/runaway.py"}
    expected = scripts | {
        "controlroom/demo/__init__.py",
        "controlroom/demo/operator.py",
        "controlroom/demo/simulator.py",
        "controlroom/demo/story.py",
        "controlroom/demo/pipeline_story.py",
        "controlroom/demo/turns.py",
        "controlroom/cli/demo.py",
    }
    assert expected <= names, sorted(expected - names)
