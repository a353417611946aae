"""The launch plan: what one start of an agent runs, where, and with which environment.

Everything an agent is given is decided here, in one place: its workspace
(the shared folder, a path, or a git worktree made for it), its command with
``{task}`` and ``{handoff}`` filled in, the approved upstream handoffs (a file
named in its environment, and the text for a native agent's stdin), its
environment built from an allowlist (never the operator's whole environment)
with its own way to the model (the metering proxy's URL and, in swap mode, a
per-agent key: swarm/metering.py) and its own channel to the control room
(``CONTROLROOM_SOCKET``: swarm/channels.py; the operator's socket is never
named to an agent), and, for a Claude Code agent with gated
tools, the settings file that puts those tools behind the operator. The
runner spawns what the plan says.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from controlroom._errors import AgentError
from controlroom.models import AgentSpec, ErrorEvent, EventBase
from controlroom.process.workspace import prepare_workspace
from controlroom.swarm.claude_settings import hook_settings_path, write_hook_settings

__all__ = ["BASE_ENV_KEYS", "LaunchPlan", "Launcher", "build_argv", "build_env"]

BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "TERM", "LC_ALL")
"""Passed through from the operator's environment when set; everything else must be named."""

_PLACEHOLDER = re.compile(r"\{(task|handoff)\}")


@dataclass(frozen=True)
class LaunchPlan:
    """One start of one agent: argv, working directory, environment, and its stdin handoffs."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    handoff_text: str = ""  # the approved upstream handoffs as JSON ("" when none)


def build_env(
    spec: AgentSpec,
    run_id: str,
    handoff_file: str | None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The agent's whole environment: the base allowlist, its named keys, and ours."""
    source = os.environ if environ is None else environ
    env = {key: source[key] for key in BASE_ENV_KEYS if key in source}
    for key in (*spec.env, *spec.secret_env):
        if key in source:
            env[key] = source[key]
    env["CONTROLROOM_AGENT"] = spec.name
    env["CONTROLROOM_RUN"] = run_id
    env["CONTROLROOM_HANDOFF_FILE"] = handoff_file or ""
    return env


def build_argv(spec: AgentSpec, task: str, handoff_text: str) -> list[str]:
    """The command with ``{task}`` and ``{handoff}`` filled in, in one pass.

    One pass, so a task that itself contains ``{handoff}`` stays as written;
    any other braces (JSON in an argument, ``{other}``) are left alone.
    """
    values = {"task": task, "handoff": handoff_text}
    return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in spec.command]


class Launcher:
    """Makes launch plans for the agents of one run."""

    def __init__(
        self,
        *,
        run_id: str,
        run_dir: Path,
        base_dir: Path,
        environ: Mapping[str, str],
        publish: Callable[[EventBase], None],
        model_env: Callable[[AgentSpec, dict[str, str]], None] | None = None,
        channel: Callable[[str], Awaitable[Path]] | None = None,
    ) -> None:
        self.run_id = run_id
        self.run_dir = run_dir
        self.base_dir = base_dir
        self.environ = environ
        self._publish = publish
        self._model_env = model_env  # the metering proxy's URL and key (swarm/metering.py)
        self._channel = channel  # the agent's own socket (swarm/channels.py)

    async def plan(
        self, spec: AgentSpec, task: str, handoffs: list[dict[str, str]]
    ) -> LaunchPlan:
        """The plan for one start of ``spec`` with ``task`` and its approved upstream handoffs."""
        if spec.workspace == "shared":
            cwd = self.base_dir
        else:  # git worktree add takes tens of ms: not on the event loop
            cwd = await asyncio.to_thread(
                prepare_workspace, spec, self.run_dir, self.run_id, self.base_dir
            )
        handoff_file, handoff_text = self._write_handoffs(spec, handoffs)
        argv = build_argv(spec, task, handoff_text)
        env = build_env(spec, self.run_id, handoff_file, self.environ)
        if self._channel is not None:  # its own channel; the operator's path is never given
            env["CONTROLROOM_SOCKET"] = str(await self._channel(spec.name))
        if spec.role:
            env["CONTROLROOM_ROLE"] = spec.role
        if self._model_env is not None:
            self._model_env(spec, env)
        if spec.format == "claude-code" and spec.gate_tools:
            argv = self._with_tool_gates(spec, argv)
        return LaunchPlan(argv=argv, cwd=cwd, env=env, handoff_text=handoff_text)

    def _write_handoffs(
        self, spec: AgentSpec, handoffs: list[dict[str, str]]
    ) -> tuple[str | None, str]:
        if not handoffs:
            return None, ""
        folder = self.run_dir / "handoffs" / self.run_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{spec.name}.json"
        text = json.dumps(handoffs, separators=(",", ":"), ensure_ascii=False)
        path.write_text(text, encoding="utf-8")
        return str(path), text

    def _with_tool_gates(self, spec: AgentSpec, argv: list[str]) -> list[str]:
        """Add ``--settings`` with the PreToolUse hook; an own ``--settings`` is reported."""
        if any(arg == "--settings" or arg.startswith("--settings=") for arg in argv):
            self._publish(
                ErrorEvent(
                    agent=spec.name,
                    message="the command has its own --settings, so its gate_tools "
                    f"({', '.join(spec.gate_tools)}) are NOT gated: add the hook from "
                    "'controlroom hook pretooluse' to that settings file",
                    where="tool gates",
                )
            )
            return argv
        settings = hook_settings_path(self.run_dir, self.run_id, spec.name)
        try:
            write_hook_settings(
                settings, spec.gate_tools, gate_timeout_seconds=spec.gate_timeout_seconds
            )
        except OSError as exc:  # not started at all beats started ungated
            raise AgentError(
                f"agent {spec.name!r}: cannot write its tool-gate settings {settings}: "
                f"{exc.strerror or exc}"
            ) from None
        return [*argv, "--settings", str(settings)]
