"""The Claude Code settings file that puts an agent's gated tools behind the operator.

For a ``format = "claude-code"`` agent with ``gate_tools``, the supervisor
writes ``<run_dir>/settings/<run>/<agent>.json`` and adds ``--settings FILE``
to its command. The file wires one PreToolUse command hook, in the shape
Claude Code 2.1.197 accepted (shared/fixtures/claude-code/settings-with-hook.json)::

    {"hooks": {"PreToolUse": [{"matcher": "Bash|Write|Edit", "hooks": [
        {"type": "command",
         "command": "/venv/bin/python -P -m controlroom hook pretooluse --timeout 3630",
         "timeout": 3660}]}]}}

Choices, and why:

- The matcher lists exactly the gated tools. Claude Code compares a matcher
  of plain names (letters, digits, ``_``, joined by ``|``) as exact names, so
  ``Edit`` does not also catch ``NotebookEdit``; any other name is escaped
  and the whole matcher anchored (``^(?:…)$``), since Claude Code would read
  it as an unanchored JavaScript regex.
- The hook runs with the control room's own interpreter (an absolute path,
  shell-quoted: Claude Code runs the command through a shell) and ``-P``, so
  the agent's working directory is not on ``sys.path``: an agent cannot
  answer its own gate by writing a ``controlroom`` package into its workspace.
- Three timeouts nest: the gate expires after ``gate_timeout_seconds``
  (the control room answers "expired", a denial); the hook stops waiting
  ``HOOK_MARGIN_SECONDS`` later (a denial); Claude Code's own timeout for the
  hook is another margin later, so the hook always answers before Claude Code
  gives up on it (a hook killed on timeout would be taken as "no opinion").
- Mode 0600: the file is the agent's policy; only the operator may read or
  change it.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "HOOK_MARGIN_SECONDS",
    "hook_command",
    "hook_settings",
    "hook_settings_path",
    "tool_matcher",
    "write_hook_settings",
]

HOOK_MARGIN_SECONDS = 30.0
"""The hook waits this much longer than the gate; Claude Code waits this much longer again."""

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_]+")
_JS_REGEX_SPECIALS = frozenset("\\^$.*+?()[]{}|/")


def hook_settings_path(run_dir: Path, run_id: str, agent: str) -> Path:
    """Where an agent's settings file lives: ``<run_dir>/settings/<run>/<agent>.json``."""
    return Path(run_dir) / "settings" / run_id / f"{agent}.json"


def tool_matcher(gate_tools: Sequence[str]) -> str:
    """The PreToolUse ``matcher`` that selects exactly ``gate_tools``."""
    names = list(dict.fromkeys(gate_tools))
    if not names or not all(names):
        raise ValueError("gate_tools must name at least one tool, and no empty names")
    if all(_PLAIN_NAME.fullmatch(name) for name in names):
        return "|".join(names)
    escaped = ("".join("\\" + c if c in _JS_REGEX_SPECIALS else c for c in n) for n in names)
    return "^(?:" + "|".join(escaped) + ")$"


def hook_command(python: str, wait_seconds: float) -> str:
    """The shell command Claude Code runs: our interpreter, safe ``sys.path``, our hook."""
    return (
        f"{shlex.quote(python)} -P -m controlroom hook pretooluse "
        f"--timeout {math.ceil(wait_seconds)}"
    )


def hook_settings(
    gate_tools: Sequence[str],
    python: str = sys.executable,
    *,
    gate_timeout_seconds: float = 3600.0,
) -> dict[str, Any]:
    """The settings object: one PreToolUse command hook for the gated tools."""
    hook_wait = gate_timeout_seconds + HOOK_MARGIN_SECONDS
    return {
        "hooks": {
            "PreToolUse": [
                {
                    "matcher": tool_matcher(gate_tools),
                    "hooks": [
                        {
                            "type": "command",
                            "command": hook_command(python, hook_wait),
                            "timeout": math.ceil(hook_wait + HOOK_MARGIN_SECONDS),
                        }
                    ],
                }
            ]
        }
    }


def write_hook_settings(
    path: Path,
    gate_tools: Sequence[str],
    python: str = sys.executable,
    *,
    gate_timeout_seconds: float = 3600.0,
) -> Path:
    """Write the settings file (mode 0600, replaced atomically) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = json.dumps(
        hook_settings(gate_tools, python, gate_timeout_seconds=gate_timeout_seconds), indent=2
    )
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)  # exactly 0600, whatever the umask or a stale file's mode
            f.write(text + "\n")
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    os.replace(temp, path)
    return path
