"""The REAL Claude Code CLI as a controlroom agent, against the simulated Messages API.

A ``claude -p … --output-format stream-json --verbose`` agent with
``gate_tools = ["Bash"]`` runs under a real supervisor with its control
socket; the simulator asks for Bash ``echo hi``, then answers with a final
text holding a handoff. Claude Code runs our PreToolUse hook (wired by the
settings file the supervisor wrote), the gate waits in the queue, the test
decides it through the ControlAPI, and the CLI goes on accordingly.

The CLI comes from ``$CONTROLROOM_CLAUDE_BIN`` (``.ci/run`` installs
@anthropic-ai/claude-code@2.1.197 under .ci/node and sets it); without it
these tests are skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from claudekit import CLAUDE, OFFLINE_ENV, skip_unless_claude
from gatekit import gated_swarm
from proxykit import KINDS, per_kind
from swarmkit import Swarm, audit_rows

from controlroom.control.api import ControlAPI
from controlroom.models import (
    AgentSpec,
    AgentState,
    Breaker,
    GateRequested,
    Handoff,
    ProxySettings,
)
from controlroom.sim import Script, SimServer, Turn
from controlroom.swarm.claude_settings import hook_settings_path

pytestmark = pytest.mark.timeout(90)

skip_unless_claude()

API_KEY = "sk-ant-test-d0c5e7a1b2c3-never-in-the-audit-log"
HANDOFF = {"changed": "said hi", "next_needs": "nothing more", "risks": "none known"}
FINAL = "Done.\n```json\n" + json.dumps(HANDOFF) + "\n```"
PASSED_ENV = list(OFFLINE_ENV)


def claude_agent(tmp_path: Path, sim: SimServer) -> tuple[AgentSpec, dict[str, str]]:
    """The agent spec and the operator's environment, as the fixtures README prescribes."""
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()  # no .claude/settings*.json of its own
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ANTHROPIC_API_KEY": API_KEY,  # the operator's: the proxy swaps it in
        **OFFLINE_ENV,
        "SOMETHING_ELSE": "not passed",
    }
    spec = AgentSpec(
        name="coder",
        command=[
            CLAUDE,
            "-p",
            "{task}",
            "--output-format",
            "stream-json",
            "--verbose",
            "--model",
            "claude-sonnet-4-5",
        ],  # fmt: skip
        format="claude-code",
        workspace=str(project),
        env=PASSED_ENV,
        secret_env=["ANTHROPIC_API_KEY"],
        task="say hi",
        gate_tools=["Bash"],
        gate_timeout_seconds=60,
        breaker=Breaker(restart="never"),
    )
    return spec, environ


def script() -> Script:
    return Script([Turn.call("Bash", {"command": "echo hi"}), Turn.say(FINAL)])


async def run_gated(
    tmp_path: Path, decide: str, reason: str, *, sandbox: bool = False
) -> tuple[Swarm, SimServer, dict[str, Any]]:
    """Run the agent, decide its one tool gate (approve or reject), wait for it to end."""
    with SimServer(script()) as sim:
        spec, environ = claude_agent(tmp_path, sim)
        proxy = ProxySettings(upstream=sim.url)
        if sandbox:
            spec = spec.model_copy(update={"sandbox": "workspace"})
        async with gated_swarm(tmp_path, [spec], environ, proxy) as (s, api, sock):
            gate = await s.log.until(
                lambda e: isinstance(e, GateRequested) and e.gate_kind == "tool", 30
            )
            assert isinstance(gate, GateRequested)
            (pending,) = api.gates()
            await s.state("coder", [AgentState.GATED])
            assert sim.requests == 1  # the CLI waits at the gate, no further model call
            await decide_gate(api, decide, gate.gate_id, reason)
            assert await s.wait(30) is True, s.sup.runners["coder"].state_reason
            meter = s.sup.governor.meters.agent("coder")
            figures = {
                "pending": pending,
                "metered": {kind: getattr(meter, kind) for kind in KINDS},
                "reported": {kind: getattr(meter.reported, kind) for kind in KINDS},
                "wire": meter.wire,
                "turns": meter.turns,
                "handoff": s.sup.runners["coder"].handoff,
                "settings": hook_settings_path(s.sup.run_dir, s.run_id, "coder"),
            }
    return s, sim, figures


async def decide_gate(api: ControlAPI, decide: str, gate_id: str, reason: str) -> None:
    if decide == "approve":
        await api.approve(gate_id, reason, by="alice")
    else:
        await api.reject(gate_id, reason, by="alice")


def outputs(s: Swarm) -> list[str]:
    return [e.text for e in s.log.of("agent_output", "coder")]


def assert_metered_exactly_what_was_served(sim: SimServer, figures: dict[str, Any]) -> None:
    """The wire meter equals the simulator's ledger per token kind; Claude Code's own
    report (kept beside it, reconciled to its result) agrees."""
    assert sim.requests == 2 and figures["wire"] is True
    served = per_kind(sim.ledger())
    assert served["input_tokens"] > 0 and served["output_tokens"] > 0
    assert served["cache_read_input_tokens"] > 0  # its prompt prefix, cached by the CLI
    assert figures["metered"] == served
    assert figures["reported"] == served
    assert figures["turns"] == 2


def assert_key_kept_secret(s: Swarm, sim: SimServer, settings: Path) -> None:
    assert {served.api_key for served in sim.served} == {API_KEY}  # it did reach the API
    for path in s.db.parent.glob(s.db.name + "*"):  # the database, and any -wal / -shm
        assert API_KEY.encode() not in path.read_bytes(), path
    assert API_KEY not in settings.read_text()


async def test_an_approved_bash_call_runs_and_the_run_finishes(tmp_path: Path) -> None:
    s, sim, figures = await run_gated(tmp_path, "approve", "go ahead")

    pending = figures["pending"]
    assert pending.kind == "tool" and pending.agent == "coder" and pending.tool is not None
    assert pending.tool["name"] == "Bash"
    assert pending.tool["input"] == {"command": "echo hi"}
    tool_use = sim.served[0].answer["content"][0]
    assert pending.tool["tool_use_id"] == tool_use["id"]

    assert s.sup.runners["coder"].state == AgentState.DONE
    assert any(t == f"tool result {tool_use['id']}: hi" for t in outputs(s))  # it ran
    assert_metered_exactly_what_was_served(sim, figures)
    assert figures["handoff"] == Handoff(**HANDOFF)
    (result,) = s.log.of("agent_result", "coder")
    assert result.is_error is False and result.extra["permission_denials"] == []

    rows = audit_rows(s.db, s.run_id)
    kinds = [r["kind"] for r in rows]
    assert kinds.index("gate_requested") < kinds.index("gate_decided") < kinds.index("handoff")
    (decided,) = [r for r in rows if r["kind"] == "gate_decided"]
    assert (decided["approved"], decided["by"], decided["reason"]) == (True, "alice", "go ahead")
    spawned = next(r for r in rows if r["kind"] == "agent_spawned")
    assert spawned["argv"][-2:] == ["--settings", str(figures["settings"])]
    assert_key_kept_secret(s, sim, figures["settings"])


async def test_a_rejected_bash_call_is_denied_and_the_agent_goes_on(tmp_path: Path) -> None:
    s, sim, figures = await run_gated(tmp_path, "reject", "not now")

    tool_use = sim.served[0].answer["content"][0]
    (denial,) = [t for t in outputs(s) if t.startswith(f"tool result (error) {tool_use['id']}:")]
    assert "not now" in denial and "alice" in denial
    assert not any(t == f"tool result {tool_use['id']}: hi" for t in outputs(s))  # never ran
    # The model saw the denial as the tool's error result, and answered after it.
    sent = sim.served[1].request["messages"][-1]["content"]
    (tool_result,) = [b for b in sent if b.get("type") == "tool_result"]
    assert tool_result["tool_use_id"] == tool_use["id"] and tool_result["is_error"] is True
    assert "not now" in json.dumps(tool_result["content"])

    assert s.sup.runners["coder"].state == AgentState.DONE
    (result,) = s.log.of("agent_result", "coder")
    assert [d["tool_name"] for d in result.extra["permission_denials"]] == ["Bash"]
    assert figures["handoff"] == Handoff(**HANDOFF)
    assert_metered_exactly_what_was_served(sim, figures)
    assert_key_kept_secret(s, sim, figures["settings"])


async def test_sandboxed_it_reaches_the_model_through_the_bridge_and_runs_a_gated_call(
    tmp_path: Path,
) -> None:
    """Under bubblewrap with no network: the proxy's URL bridged to its socket, the same gate,
    Bash in its workspace, the meter exact."""
    from controlroom.process.sandbox import probe_bwrap

    ok, why = probe_bwrap()
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the sandbox tests: {why}")
        pytest.skip(why)
    s, sim, figures = await run_gated(tmp_path, "approve", "go ahead", sandbox=True)

    assert s.sup.runners["coder"].state == AgentState.DONE
    tool_use = sim.served[0].answer["content"][0]
    assert any(t == f"tool result {tool_use['id']}: hi" for t in outputs(s))  # ran, gated
    assert_metered_exactly_what_was_served(sim, figures)
    assert figures["handoff"] == Handoff(**HANDOFF)
    spawned = next(r for r in audit_rows(s.db, s.run_id) if r["kind"] == "agent_spawned")
    assert spawned["sandbox"] == "workspace"
    assert spawned["argv"][0].endswith("bwrap") and "--unshare-net" in spawned["argv"]
    assert str(s.sup.run_dir / "proxy.sock") in spawned["argv"]  # the proxy's own socket
    assert_key_kept_secret(s, sim, figures["settings"])
