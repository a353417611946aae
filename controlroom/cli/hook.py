"""``controlroom hook pretooluse``: Claude Code's PreToolUse hook, decided by the operator.

Claude Code runs this command before every call of a gated tool (the
settings file controlroom writes for the agent wires it; see
``controlroom.swarm.claude_settings``). It reads the hook's JSON on
stdin (``tool_name``, ``tool_input``, ``tool_use_id``, …), asks the control
room over its socket (op ``tool_gate``) and blocks until the operator
approves or rejects the call, or the gate expires. Then it prints exactly the
decision Claude Code accepts and exits 0::

    {"hookSpecificOutput":{"hookEventName":"PreToolUse",
     "permissionDecision":"deny","permissionDecisionReason":"denied by operator …"}}

It fails closed: no ``CONTROLROOM_AGENT``, no socket, no control room
running, a broken connection, unreadable input, or no answer within
``--timeout`` seconds is a *deny* whose reason says what went wrong (the agent
reads it as the tool's error). It never exits non-zero, because Claude Code
takes a failing hook as "no opinion" and would run the tool.

``--timeout`` defaults to ``DEFAULT_TIMEOUT_SECONDS`` (one hour and a half
minute: the default ``gate_timeout_seconds`` of 3600 plus a margin, so the
control room's own expiry answers first); the settings file passes the
agent's own gate timeout plus that margin.

It runs on every gated tool call, so it must start fast: this module imports
only the standard library and ``controlroom.control.client`` (itself stdlib only) —
no pydantic, no asyncio, no Textual.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "TIMEOUT_MARGIN_SECONDS",
    "add_parser",
    "ask_supervisor",
    "hook_output",
]

TIMEOUT_MARGIN_SECONDS = 30.0
"""How much longer than the gate's own timeout the hook waits for an answer."""

DEFAULT_TIMEOUT_SECONDS = 3600.0 + TIMEOUT_MARGIN_SECONDS
"""The hook's wait when ``--timeout`` is not given: the default gate timeout plus the margin."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "hook",
        help="Claude Code hook commands (run by Claude Code, not by hand)",
        description="Hook commands Claude Code runs for a controlroom agent.",
    )
    events = parser.add_subparsers(dest="hook_event", metavar="EVENT")
    pre = events.add_parser(
        "pretooluse",
        help="ask the operator whether a tool call may run; prints Claude Code's decision JSON",
        description=(
            "Read Claude Code's PreToolUse JSON on stdin, wait for the operator's decision "
            "through the control socket, print the decision. Fails closed: any problem is a deny."
        ),
    )
    pre.add_argument(
        "--socket",
        metavar="PATH",
        help="the control socket (default: $CONTROLROOM_SOCKET, set for every agent)",
    )
    pre.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"deny if no decision comes within this long (default {DEFAULT_TIMEOUT_SECONDS:g})",
    )
    pre.set_defaults(handler=_pretooluse)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def hook_output(approved: bool, reason: str) -> dict[str, Any]:
    """The PreToolUse decision object Claude Code reads on the hook's stdout."""
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "allow" if approved else "deny",
            "permissionDecisionReason": reason,
        }
    }


def ask_supervisor(
    hook_input: str,
    agent: str | None,
    socket_path: str | None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> tuple[bool, str]:
    """(approved, reason) for one hook input; every failure is a denial with its reason."""
    if not agent:
        return False, "controlroom: CONTROLROOM_AGENT is not set, so no agent can be named; denied"
    if not socket_path:
        return False, "controlroom: CONTROLROOM_SOCKET is not set and no --socket given; denied"
    try:
        data = json.loads(hook_input)
    except ValueError as exc:
        return False, f"controlroom: the hook input is not JSON ({exc}); denied"
    if not isinstance(data, dict):
        return False, "controlroom: the hook input is not a JSON object; denied"
    tool = data.get("tool_name")
    tool_input = data.get("tool_input", {})
    tool_use_id = data.get("tool_use_id") or ""
    if not isinstance(tool, str) or not tool:
        return False, "controlroom: the hook input has no tool_name; denied"
    if not isinstance(tool_input, dict):
        return False, "controlroom: the hook input's tool_input is not an object; denied"
    if not isinstance(tool_use_id, str):
        tool_use_id = str(tool_use_id)

    from controlroom._errors import ControlError
    from controlroom.control.client import ControlClient

    args = {"agent": agent, "tool": tool, "input": tool_input, "tool_use_id": tool_use_id}
    try:
        with ControlClient(socket_path, timeout=timeout) as client:
            result = client.request("tool_gate", args)
    except ControlError as exc:
        return False, f"controlroom: {exc}; denied"
    if not isinstance(result, dict) or not isinstance(result.get("approved"), bool):
        return False, f"controlroom: unreadable decision from the control room: {result!r}; denied"
    reason = result.get("reason")
    return result["approved"], reason if isinstance(reason, str) else ""


def _pretooluse(args: argparse.Namespace) -> int:
    try:
        hook_input = sys.stdin.read()
        approved, reason = ask_supervisor(
            hook_input,
            os.environ.get("CONTROLROOM_AGENT"),
            args.socket or os.environ.get("CONTROLROOM_SOCKET"),
            args.timeout,
        )
    except Exception as exc:  # fail closed: whatever broke, the tool does not run
        approved = False
        reason = f"controlroom: the hook failed ({type(exc).__name__}: {exc}); denied"
    sys.stdout.write(json.dumps(hook_output(approved, reason), separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0
