"""The real Claude Code CLI for tests: where it is, whether it runs, how to run it offline.

The CLI comes from ``$CONTROLROOM_CLAUDE_BIN`` (``.ci/run`` installs
@anthropic-ai/claude-code@2.1.197 under .ci/node and sets it). A test module
calls ``skip_unless_claude()`` at import; without a working CLI it is skipped
with the reason and the install command. ``OFFLINE_ENV`` is what
shared/fixtures/claude-code/README.md prescribes for running it against a
local server.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLAUDE = os.environ.get("CONTROLROOM_CLAUDE_BIN") or str(ROOT / ".ci/node/node_modules/.bin/claude")
OFFLINE_ENV = {
    "DISABLE_TELEMETRY": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "CLAUDE_CODE_MAX_RETRIES": "0",
}
"""No telemetry, no look-ups of the real API host, no retries against a local server."""


def _claude_runs() -> str | None:
    """None when the CLI is usable, else why not."""
    if not os.access(CLAUDE, os.X_OK):
        return f"no Claude Code CLI at {CLAUDE}"
    try:
        done = subprocess.run([CLAUDE, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{CLAUDE} --version failed: {exc}"
    if done.returncode != 0 or "Claude Code" not in done.stdout:
        return f"{CLAUDE} --version failed: {(done.stderr or done.stdout).strip()[:200]}"
    return None


def skip_unless_claude() -> None:
    why_not = _claude_runs()
    if why_not is not None:
        pytest.skip(
            f"the real Claude Code CLI is not available ({why_not}): set CONTROLROOM_CLAUDE_BIN, "
            "or install it with `npm install --prefix .ci/node @anthropic-ai/claude-code@2.1.197` "
            "(.ci/run does)",
            allow_module_level=True,
        )
