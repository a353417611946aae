"""The REAL Claude Code CLI under ``controlroom run --headless``, through the metering proxy.

Everything is a real process, as an operator runs it: ``controlroom run``
with a config whose ``[proxy] upstream`` is the simulator, ``claude -p …
--output-format stream-json --verbose`` as the agent (its base URL and key
given by the supervisor), ``controlroom gates`` / ``approve`` / ``reject`` from
another process. The simulator's ledger is the truth the audit log's wire
meter is checked against, per token kind.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from claudekit import CLAUDE, OFFLINE_ENV, skip_unless_claude
from clikit import ROOT, controlroom
from proxykit import KINDS, OPERATOR_KEY, per_kind

from controlroom._errors import ControlError
from controlroom.control.client import ControlClient
from controlroom.sim import Script, SimServer, Turn

pytestmark = pytest.mark.timeout(120)

skip_unless_claude()

HANDOFF = {"changed": "said hi", "next_needs": "nothing more", "risks": "none known"}
FINAL = "Done.\n```json\n" + json.dumps(HANDOFF) + "\n```"
BASH_THEN_DONE = Script([Turn.call("Bash", {"command": "echo hi"}), Turn.say(FINAL)])


def write_config(
    tmp_path: Path, sim: SimServer, *, extra: str = "", proxy: str = "", gated: bool = True
) -> Path:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    command = [CLAUDE, "-p", "{task}", "--output-format", "stream-json", "--verbose"]
    command += ["--model", "claude-sonnet-4-5"]
    config = tmp_path / "swarm.toml"
    config.write_text(
        f"""
[swarm]
name = "cc-proxy"
audit_db = "audit.db"
run_dir = "run"

[proxy]
upstream = "{sim.url}"
{proxy}

[[agents]]
name = "coder"
command = {json.dumps(command)}
format = "claude-code"
workspace = "{project}"
env = {json.dumps([*OFFLINE_ENV, "ANTHROPIC_AUTH_TOKEN"])}
task = "say hi"
gate_tools = {'["Bash"]' if gated else "[]"}
gate_timeout_seconds = 60
{extra}
"""
    )
    return config


def operator_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
        **OFFLINE_ENV,
        **extra,
    }


@contextmanager
def headless(config: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlroom", "run", str(config), "--headless"],
        cwd=config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def wait_for_tool_gate(config: Path, timeout: float = 60) -> dict[str, Any]:
    """The tool gate as ``controlroom gates`` lists it, once the control room holds one.

    Waited for on the control socket (in this process), then listed by the CLI once: a
    ``controlroom gates`` process every 0.3 s cost 0.4 s of CPU each while the CLI under
    test was still starting.
    """
    sock = config.parent / "run" / "control.sock"
    deadline = time.monotonic() + timeout
    while not _holds_a_tool_gate(sock):
        assert time.monotonic() < deadline, "no tool gate came"
        time.sleep(0.1)
    listed = controlroom("gates", "--config", str(config), "--format", "jsonl", cwd=config.parent)
    gates = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    tools = [g for g in gates if g["kind"] == "tool"]
    assert tools, f"no tool gate waited in `controlroom gates`: {listed.stdout}{listed.stderr}"
    return tools[0]


def _holds_a_tool_gate(sock: Path) -> bool:
    try:
        with ControlClient(sock, timeout=5) as client:
            gates = client.request("gates")
    except (ControlError, OSError):  # not listening yet
        return False
    return any(g["kind"] == "tool" for g in gates)


def wire_meter(db: Path) -> dict[str, int]:
    """What the proxy metered, per kind, summed from the audit log's usage rows."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = [json.loads(p) for (p,) in conn.execute("SELECT payload FROM events")]
    finally:
        conn.close()
    usage = [r for r in rows if r["kind"] == "usage" and r["source"] == "proxy"]
    return {kind: sum(int(r.get(kind, 0)) for r in usage) for kind in KINDS}


def audit_kinds(db: Path, kind: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [
            json.loads(p)
            for (p,) in conn.execute("SELECT payload FROM events WHERE kind = ?", (kind,))
        ]
    finally:
        conn.close()


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_gated_bash_call_through_the_proxy_is_metered_exactly(
    tmp_path: Path, decision: str
) -> None:
    with SimServer(BASH_THEN_DONE, api_key=OPERATOR_KEY) as sim:
        config = write_config(tmp_path, sim)
        env = operator_env(tmp_path, ANTHROPIC_API_KEY=OPERATOR_KEY)
        with headless(config, env) as proc:
            gate = wait_for_tool_gate(config)
            assert gate["agent"] == "coder" and gate["tool"]["name"] == "Bash"
            assert gate["tool"]["input"] == {"command": "echo hi"}
            assert sim.requests == 1  # the CLI waits at the gate
            verb = [decision, gate["id"], "-m", "not now" if decision == "reject" else "go"]
            decided = controlroom(*verb, "--config", str(config), cwd=tmp_path)
            assert decided.returncode == 0, decided.stderr
            out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
    assert sim.requests == 2 and {s.api_key for s in sim.served} == {OPERATOR_KEY}
    served = per_kind(sim.ledger())
    assert served["cache_read_input_tokens"] > 0
    assert wire_meter(tmp_path / "audit.db") == served  # meter = served, exactly, per kind
    assert audit_kinds(tmp_path / "audit.db", "meter_disagreement") == []
    sent = sim.served[1].request["messages"][-1]["content"]
    (result,) = [b for b in sent if b.get("type") == "tool_result"]
    if decision == "approve":
        assert result.get("is_error") is not True and "hi" in json.dumps(result["content"])
    else:  # the rejection reached the CLI as a denied tool result, and the model saw it
        assert result["is_error"] is True and "not now" in json.dumps(result["content"])
    for path in [*tmp_path.rglob("*")]:
        if path.is_file():
            assert OPERATOR_KEY.encode() not in path.read_bytes(), path
    assert OPERATOR_KEY not in out + err


def test_a_budget_below_the_first_requests_input_stops_claude_before_the_model(
    tmp_path: Path,
) -> None:
    with SimServer(BASH_THEN_DONE, api_key=OPERATOR_KEY) as sim:
        config = write_config(tmp_path, sim, extra="budget = { max_tokens = 1000 }")
        env = operator_env(tmp_path, ANTHROPIC_API_KEY=OPERATOR_KEY)
        with headless(config, env) as proc:
            out, err = proc.communicate(timeout=90)
        assert proc.returncode == 1
    assert sim.requests == 0  # no request reached the model, the first one included
    db = tmp_path / "audit.db"
    (refused,) = audit_kinds(db, "request_refused")
    assert refused["limit"] == "max_tokens" and refused["status"] == 402
    states = [r["state"] for r in audit_kinds(db, "agent_state") if r["agent"] == "coder"]
    assert states[-1] == "budget_stopped"
    assert "request refused (max_tokens)" in out


def test_passthrough_forwards_the_agents_own_bearer_token_unchanged(tmp_path: Path) -> None:
    own = "sk-ant-oat01-the-operators-own-claude-login-for-this-agent"
    with SimServer(BASH_THEN_DONE, api_key=own) as sim:
        config = write_config(tmp_path, sim, proxy='credentials = "passthrough"', gated=False)
        env = operator_env(tmp_path, ANTHROPIC_AUTH_TOKEN=own)
        with headless(config, env) as proc:
            _, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
    assert sim.requests == 2
    assert {(s.auth, s.api_key) for s in sim.served} == {("bearer", own)}
    assert wire_meter(tmp_path / "audit.db") == per_kind(sim.ledger())
    (started,) = audit_kinds(tmp_path / "audit.db", "proxy_started")
    assert started["credentials"] == "passthrough"
