"""Test harness for tool gates: a real Supervisor behind a real control socket.

Like ``swarmkit.swarm``, but the operator's control socket is listening
*before* the first agent starts. Each agent's own channel (the path the
supervisor gives it as ``CONTROLROOM_SOCKET``) is opened by its launch;
``agent_env`` opens it for a hook run by the test, as Claude Code would run
it for that agent. Shared by test_hook.py and test_claude_code_cli.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from swarmkit import Swarm, swarm

from controlroom.control.api import ControlAPI
from controlroom.models import AgentSpec, ProxySettings

FIXTURES = Path(__file__).parent / "fixtures" / "claude-code"
HOOK_INPUT = json.loads((FIXTURES / "pretooluse-hook-input.json").read_text())
HOOK_DENY = json.loads((FIXTURES / "pretooluse-hook-output-deny.json").read_text())


@asynccontextmanager
async def gated_swarm(
    tmp_path: Path,
    agents: list[AgentSpec],
    environ: dict[str, str] | None = None,
    proxy: ProxySettings | None = None,
) -> AsyncIterator[tuple[Swarm, ControlAPI, Path]]:
    """(swarm, in-process API, socket path); every agent stopped and the socket closed on exit."""
    settings = {"name": "gates"}
    async with swarm(
        tmp_path, agents, environ=environ, proxy=proxy, settings=settings, serve=True
    ) as s:
        assert s.server is not None
        yield s, s.server.api, s.server.path


async def agent_env(s: Swarm, agent: str, as_agent: str | None = None) -> dict[str, str]:
    """The hook's environment for ``agent``'s channel, with the agent's marker.

    ``as_agent``: the marker names another agent (an agent trying a neighbour's channel).
    """
    env = hook_env(as_agent or agent, await s.sup.channels.open(agent))
    env["CONTROLROOM_RUN"] = s.run_id
    return env


def hook_env(agent: str | None, socket: Path | str | None) -> dict[str, str]:
    """The hook's environment as Claude Code would pass it: ours, minus any outer control room."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLROOM_")}
    if agent is not None:
        env["CONTROLROOM_AGENT"] = agent
    if socket is not None:
        env["CONTROLROOM_SOCKET"] = str(socket)
    return env


class Hook:
    """One ``controlroom hook pretooluse`` process, started with ``payload`` on stdin."""

    def __init__(self, proc: asyncio.subprocess.Process, started: float) -> None:
        self.proc = proc
        self.started = started

    @classmethod
    async def start(cls, payload: str | dict[str, Any], env: dict[str, str], *args: str) -> Hook:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-P", "-m", "controlroom", "hook", "pretooluse", *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(data.encode())
        await proc.stdin.drain()
        proc.stdin.close()
        return cls(proc, started)

    async def result(self, timeout: float = 30.0) -> tuple[dict[str, Any], float]:
        """(the decision printed, seconds from start to exit); asserts exit 0 and one line.

        ``timeout`` only stops a hung test: the hook's own default wait is an hour.
        """
        try:
            out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise
        elapsed = time.monotonic() - self.started
        assert self.proc.returncode == 0, err.decode()
        lines = out.decode().splitlines()
        assert len(lines) == 1, out
        decision: dict[str, Any] = json.loads(lines[0])
        return decision, elapsed


def shape(value: object) -> object:
    """The keys of every object, recursively, and the type of every leaf."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return type(value).__name__
