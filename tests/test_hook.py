"""``controlroom hook pretooluse`` as a real subprocess against a real supervisor and socket.

The hook reads the exact JSON Claude Code 2.1.197 sent (fixture), asks the
control room, blocks while the operator decides through the ControlAPI, and
prints the exact decision shape Claude Code accepted. Every failure denies.
Also: the settings file that wires the hook, and what ``launch_plan`` gives a
claude-code agent (``--settings`` and ``CONTROLROOM_SOCKET``).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from gatekit import FIXTURES, HOOK_DENY, HOOK_INPUT, Hook, agent_env, gated_swarm, hook_env, shape
from swarmkit import Swarm, inline_cmd, sleeper

from controlroom.models import AgentSpec, AgentState, GateRequested
from controlroom.swarm.claude_settings import (
    hook_command,
    hook_settings_path,
    tool_matcher,
    write_hook_settings,
)

pytestmark = pytest.mark.timeout(60)


async def tool_gate(s: Swarm, timeout: float = 10.0) -> GateRequested:
    event = await s.log.until(
        lambda e: isinstance(e, GateRequested) and e.gate_kind == "tool", timeout
    )
    assert isinstance(event, GateRequested)
    return event


# --------------------------------------------------------------------------- decisions


async def test_the_hook_blocks_until_the_operator_approves(tmp_path: Path) -> None:
    async with gated_swarm(tmp_path, [sleeper("coder", gate_tools=["Bash"])]) as (s, api, sock):
        await s.state("coder", [AgentState.RUNNING])
        hook = await Hook.start(HOOK_INPUT, await agent_env(s, "coder"))
        gate = await tool_gate(s)
        (pending,) = api.gates()
        assert pending.kind == "tool" and pending.agent == "coder"
        assert pending.tool == {
            "name": "Bash",
            "input": HOOK_INPUT["tool_input"],
            "tool_use_id": HOOK_INPUT["tool_use_id"],
        }
        assert s.sup.runners["coder"].state == AgentState.GATED
        await asyncio.sleep(0.3)
        assert hook.proc.returncode is None  # still waiting for the operator

        await api.approve(gate.gate_id, "fine", by="alice")
        decision, _ = await hook.result()
        assert shape(decision) == shape(HOOK_DENY)  # exactly the keys Claude Code accepted
        out = decision["hookSpecificOutput"]
        assert out["hookEventName"] == "PreToolUse"
        assert out["permissionDecision"] == "allow"
        assert out["permissionDecisionReason"] == "fine"
        assert api.gates() == []
        await s.state("coder", [AgentState.RUNNING])


async def test_a_rejection_denies_with_the_operators_reason(tmp_path: Path) -> None:
    async with gated_swarm(tmp_path, [sleeper("coder", gate_tools=["Bash"])]) as (s, api, sock):
        await s.state("coder", [AgentState.RUNNING])
        hook = await Hook.start(HOOK_INPUT, await agent_env(s, "coder"))
        gate = await tool_gate(s)
        await api.reject(gate.gate_id, "not now", by="alice")
        decision, _ = await hook.result()
        assert shape(decision) == shape(HOOK_DENY)
        out = decision["hookSpecificOutput"]
        assert out["permissionDecision"] == "deny"
        assert "not now" in out["permissionDecisionReason"]
        assert "alice" in out["permissionDecisionReason"]


async def test_an_expired_gate_denies(tmp_path: Path) -> None:
    agent = sleeper("coder", gate_tools=["Bash"], gate_timeout_seconds=0.5)
    async with gated_swarm(tmp_path, [agent]) as (s, api, sock):
        await s.state("coder", [AgentState.RUNNING])
        hook = await Hook.start(HOOK_INPUT, await agent_env(s, "coder"))
        decision, elapsed = await hook.result()
        out = decision["hookSpecificOutput"]
        assert out["permissionDecision"] == "deny"
        assert "expired" in out["permissionDecisionReason"]
        assert elapsed >= 0.5  # not before the gate's timeout
        assert len(s.log.of("gate_expired", "coder")) == 1


async def test_the_hook_gives_up_after_its_own_timeout(tmp_path: Path) -> None:
    async with gated_swarm(tmp_path, [sleeper("coder", gate_tools=["Bash"])]) as (s, api, sock):
        await s.state("coder", [AgentState.RUNNING])
        hook = await Hook.start(HOOK_INPUT, await agent_env(s, "coder"), "--timeout", "0.4")
        decision, elapsed = await hook.result()
        out = decision["hookSpecificOutput"]
        assert out["permissionDecision"] == "deny"
        assert "no answer from the control room" in out["permissionDecisionReason"]
        assert elapsed >= 0.4  # not before its own timeout


async def test_an_ungated_tool_is_allowed_at_once(tmp_path: Path) -> None:
    async with gated_swarm(tmp_path, [sleeper("coder", gate_tools=["Bash"])]) as (s, api, sock):
        await s.state("coder", [AgentState.RUNNING])
        read = {**HOOK_INPUT, "tool_name": "Read", "tool_input": {"file_path": "/etc/hostname"}}
        decision, _ = await (await Hook.start(read, await agent_env(s, "coder"))).result()
        assert shape(decision) == shape(HOOK_DENY)
        assert decision["hookSpecificOutput"]["permissionDecision"] == "allow"  # nobody decided
        assert s.log.of("gate_requested") == []


async def test_another_agents_hook_is_denied_on_this_channel(tmp_path: Path) -> None:
    agents = [sleeper("coder", gate_tools=["Bash"]), sleeper("other", gate_tools=["Bash"])]
    async with gated_swarm(tmp_path, agents) as (s, api, sock):
        await s.state("coder", [AgentState.RUNNING])
        env = await agent_env(s, "coder", as_agent="other")  # other's hook, coder's channel
        decision, _ = await (await Hook.start(HOOK_INPUT, env)).result()
        out = decision["hookSpecificOutput"]
        assert out["permissionDecision"] == "deny"
        assert "belongs to agent 'other', not to 'coder'" in out["permissionDecisionReason"]
        assert s.log.of("gate_requested") == []
        await s.sup.bus.flush()
        (refused,) = s.log.of("socket_refused")
        assert refused.channel == "agent coder" and refused.agent == "other"  # type: ignore[attr-defined]


async def test_the_operators_socket_refuses_a_hook(tmp_path: Path) -> None:
    # The operator's socket path is never given to an agent; a hook pointed at it anyway
    # runs on the agents' side (it carries the run's marker) and is refused.
    async with gated_swarm(tmp_path, [sleeper("coder", gate_tools=["Bash"])]) as (s, api, sock):
        env = {**await agent_env(s, "coder"), "CONTROLROOM_SOCKET": str(sock)}
        decision, _ = await (await Hook.start(HOOK_INPUT, env)).result()
        out = decision["hookSpecificOutput"]
        assert out["permissionDecision"] == "deny"
        assert "agents have their own channel" in out["permissionDecisionReason"]
        assert s.log.of("gate_requested") == []


async def test_a_stopped_agent_denies_its_waiting_hook(tmp_path: Path) -> None:
    async with gated_swarm(tmp_path, [sleeper("coder", gate_tools=["Bash"])]) as (s, api, sock):
        await s.state("coder", [AgentState.RUNNING])
        hook = await Hook.start(HOOK_INPUT, await agent_env(s, "coder"))
        await tool_gate(s)
        await api.kill("coder", by="alice")
        decision, _ = await hook.result()
        out = decision["hookSpecificOutput"]
        assert out["permissionDecision"] == "deny"
        assert "agent stopped" in out["permissionDecisionReason"]


# --------------------------------------------------------------------------- fail closed


@pytest.mark.parametrize(
    ("payload", "agent", "socket", "why"),
    [
        (HOOK_INPUT, "coder", "{tmp}/nothing-here.sock", "no control room is running at"),
        (HOOK_INPUT, None, "{tmp}/nothing-here.sock", "CONTROLROOM_AGENT is not set"),
        (HOOK_INPUT, "coder", None, "CONTROLROOM_SOCKET is not set"),
        ('{"tool_name": "Bash", "tool_in', "coder", "{tmp}/x.sock", "not JSON"),
        ("[1, 2]", "coder", "{tmp}/x.sock", "not a JSON object"),
        ({"tool_input": {}}, "coder", "{tmp}/x.sock", "no tool_name"),
        ({"tool_name": "Bash", "tool_input": "ls"}, "coder", "{tmp}/x.sock", "not an object"),
    ],
)
async def test_every_failure_denies_with_a_reason(
    tmp_path: Path, payload: object, agent: str | None, socket: str | None, why: str
) -> None:
    sock = socket.format(tmp=tmp_path) if socket else None
    hook = await Hook.start(payload, hook_env(agent, sock))  # type: ignore[arg-type]
    decision, _ = await hook.result()
    assert shape(decision) == shape(HOOK_DENY)
    out = decision["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny"
    assert why in out["permissionDecisionReason"]
    assert out["permissionDecisionReason"].startswith("controlroom: ")
    assert out["permissionDecisionReason"].endswith("; denied")


async def test_a_socket_that_answers_nonsense_denies(tmp_path: Path) -> None:
    path = tmp_path / "liar.sock"

    async def lie(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b'{"id": 1, "ok": true, "result": {"approved": "yes"}}\n')
        await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(lie, str(path))
    async with server:
        decision, _ = await (await Hook.start(HOOK_INPUT, hook_env("coder", path))).result()
    out = decision["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny"
    assert "unreadable decision" in out["permissionDecisionReason"]


# --------------------------------------------------------------------------- settings file


def test_the_settings_file_has_the_fixtures_shape_and_mode_0600(tmp_path: Path) -> None:
    fixture = json.loads((FIXTURES / "settings-with-hook.json").read_text())
    path = hook_settings_path(tmp_path / "run", "20261125-000000-abcd", "coder")
    assert path == tmp_path / "run" / "settings" / "20261125-000000-abcd" / "coder.json"
    written = write_hook_settings(
        path, ["Bash", "Write", "Edit"], "/opt/control room/bin/python", gate_timeout_seconds=600
    )
    assert written == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = json.loads(path.read_text())
    assert shape(settings) == shape(fixture)
    assert list(settings["hooks"]) == ["PreToolUse"]
    (group,) = settings["hooks"]["PreToolUse"]
    assert group["matcher"] == "Bash|Write|Edit"
    (hook,) = group["hooks"]
    assert hook["type"] == "command"
    assert shlex.split(hook["command"]) == [
        "/opt/control room/bin/python", "-P", "-m", "controlroom", "hook", "pretooluse",
        "--timeout", "630",
    ]  # fmt: skip
    assert hook["timeout"] == 660  # Claude Code waits longer than the hook, which waits longer
    # than the gate: the control room always answers first.

    path.chmod(0o644)  # a rewrite (restart) restores the mode
    write_hook_settings(path, ["Bash"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["hooks"]["PreToolUse"][0]["matcher"] == "Bash"
    assert [p.name for p in path.parent.iterdir()] == ["coder.json"]  # no temp file left


def test_the_settings_command_runs_through_a_shell_and_fails_closed(tmp_path: Path) -> None:
    command = hook_command(sys.executable, 5)
    env = hook_env("coder", tmp_path / "none.sock")
    done = subprocess.run(
        ["sh", "-c", command],
        input=json.dumps(HOOK_INPUT),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=10,
    )
    assert done.returncode == 0
    decision = json.loads(done.stdout)
    assert decision["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_the_hook_ignores_a_controlroom_package_in_the_agents_workspace(tmp_path: Path) -> None:
    """-P: an agent cannot answer its own gate by planting ``controlroom/`` in its cwd."""
    fake = tmp_path / "controlroom"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text(
        'print(\'{"hookSpecificOutput":{"hookEventName":"PreToolUse",'
        '"permissionDecision":"allow","permissionDecisionReason":"planted"}}\')'
    )
    done = subprocess.run(
        ["sh", "-c", hook_command(sys.executable, 5)],
        input=json.dumps(HOOK_INPUT),
        capture_output=True,
        text=True,
        env=hook_env("coder", tmp_path / "none.sock"),
        cwd=tmp_path,
        timeout=10,
    )
    assert json.loads(done.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


@pytest.mark.parametrize(
    ("tools", "matcher"),
    [
        (["Bash"], "Bash"),
        (["Bash", "Write", "Edit", "Bash"], "Bash|Write|Edit"),
        (["mcp__github__create_issue"], "mcp__github__create_issue"),
        (["mcp__my-server__run", "Bash"], "^(?:mcp__my-server__run|Bash)$"),
        (["a.b", "c|d", "e(f)*"], r"^(?:a\.b|c\|d|e\(f\)\*)$"),
    ],
)
def test_the_matcher_names_exactly_the_gated_tools(tools: list[str], matcher: str) -> None:
    assert tool_matcher(tools) == matcher


def test_no_gated_tools_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="at least one tool"):
        tool_matcher([])


# --------------------------------------------------------------------------- launch_plan

SHOW_LAUNCH = r"""
import json, os, sys
print(json.dumps({"argv": sys.argv[1:], "socket": os.environ.get("CONTROLROOM_SOCKET")}))
"""


async def test_claude_code_agents_get_the_settings_and_every_agent_the_socket(
    tmp_path: Path,
) -> None:
    agents = [
        AgentSpec(
            name="gated",
            command=[*inline_cmd(SHOW_LAUNCH), "-p", "{task}"],
            format="claude-code",
            gate_tools=["Bash", "Edit"],
            gate_timeout_seconds=120,
        ),
        AgentSpec(
            name="own",
            command=[*inline_cmd(SHOW_LAUNCH), "--settings", "mine.json"],
            format="claude-code",
            gate_tools=["Bash"],
        ),
        AgentSpec(name="plain", command=inline_cmd(SHOW_LAUNCH), format="plain"),
        AgentSpec(
            name="ungated", command=inline_cmd(SHOW_LAUNCH), format="claude-code", gate_tools=[]
        ),
    ]
    async with gated_swarm(tmp_path, agents) as (s, api, sock):
        await s.wait(15)
        shown = {}
        for name in ("gated", "own", "plain", "ungated"):
            line = next(e.text for e in s.log.of("agent_output", name) if e.text.startswith("{"))
            shown[name] = json.loads(line)
        settings = hook_settings_path(s.sup.run_dir, s.run_id, "gated")
        assert shown["gated"]["argv"] == ["-p", "", "--settings", str(settings)]
        assert stat.S_IMODE(settings.stat().st_mode) == 0o600
        wired = json.loads(settings.read_text())["hooks"]["PreToolUse"][0]
        assert wired["matcher"] == "Bash|Edit"
        assert wired["hooks"][0]["timeout"] == 180
        assert shown["own"]["argv"] == ["--settings", "mine.json"]  # theirs, not doubled
        (warning,) = [e for e in s.log.of("error", "own") if e.where == "tool gates"]
        assert "NOT gated" in warning.message
        assert shown["plain"]["argv"] == [] and shown["ungated"]["argv"] == []
        assert not hook_settings_path(s.sup.run_dir, s.run_id, "ungated").exists()
        channels = {name: str(await s.sup.channels.open(name)) for name in shown}
        assert {name: v["socket"] for name, v in shown.items()} == channels  # each its own
        assert len(set(channels.values())) == 4 and str(sock) not in channels.values()
