"""What every demo agent shares: the native protocol, spoken at a human pace.

The demo agents are small scripts, run as ``python <script> --speed X TASK``.
They import nothing but the standard library and this file (it sits next to
them, so it is on ``sys.path`` when a script runs), start in milliseconds,
write no files, start no processes, and keep Python's default SIGTERM action,
so a kill ends them at once and leaves nothing behind.

``--speed`` divides every pause, so a test can run the whole demo in seconds;
token counts never depend on the speed, so budgets and costs are the same at
any pace.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from typing import Any

__all__ = ["SONNET", "HAIKU", "DemoAgent"]

SONNET = "claude-sonnet-4-5"
HAIKU = "claude-haiku-4-5"


class DemoAgent:
    """One demo agent: its task, its pace, and the protocol lines it prints."""

    def __init__(self, argv: list[str] | None = None, *, cached_prefix: int = 6000) -> None:
        args = list(sys.argv[1:] if argv is None else argv)
        self.speed = 1.0
        if len(args) >= 2 and args[0] == "--speed":
            self.speed = max(float(args[1]), 1e-3)
            args = args[2:]
        self.task = args[0] if args else ""
        self.name = os.environ.get("CONTROLROOM_AGENT", "demo")
        self.started = time.monotonic()
        self.cached_prefix = cached_prefix  # system prompt + repo map, cached after turn one
        self.turns = 0

    # -- pace

    def pause(self, low: float = 0.3, high: float = 1.5) -> None:
        """A human-readable pause with jitter, shortened by ``--speed``."""
        time.sleep(random.uniform(low, high) / self.speed)

    def elapsed(self) -> float:
        """Seconds since start, in demo time (multiplied back by ``--speed``)."""
        return (time.monotonic() - self.started) * self.speed

    # -- protocol

    def emit(self, line: dict[str, Any]) -> None:
        print(json.dumps(line, ensure_ascii=False), flush=True)

    def status(self, text: str) -> None:
        self.emit({"type": "status", "text": text})

    def tool(self, name: str, **tool_input: Any) -> None:
        self.emit({"type": "tool", "name": name, "input": tool_input})

    def error(self, message: str) -> None:
        self.emit({"type": "error", "message": message})

    def turn(self, model: str, new_input: int, output: int, *, cached: bool = True) -> None:
        """One model turn, as the API bills it: the prompt prefix is written to the cache once,
        then read from it each turn; the rest is new input (tool results, file text).
        """
        jitter = random.uniform(0.85, 1.15)
        line: dict[str, Any] = {
            "type": "usage",
            "input_tokens": int(new_input * jitter),
            "output_tokens": int(output * jitter),
            "model": model,
        }
        if cached:
            key = "cache_read_input_tokens" if self.turns else "cache_creation_input_tokens"
            line[key] = self.cached_prefix
        self.turns += 1
        self.emit(line)

    def handoff(self, changed: str, next_needs: str, risks: str) -> None:
        self.emit({"type": "handoff", "changed": changed, "next_needs": next_needs, "risks": risks})

    def gate(self, title: str, detail: str) -> tuple[bool, str]:
        """Ask the operator; block until the decision line arrives on stdin."""
        self.emit({"type": "gate", "title": title, "detail": detail})
        line = sys.stdin.readline()
        try:
            decision = json.loads(line)
            return decision.get("approved") is True, str(decision.get("reason") or "")
        except (ValueError, AttributeError):
            return False, f"unreadable decision {line.strip()[:80]!r}"

    def upstream(self) -> list[dict[str, str]]:
        """The approved handoffs this agent receives (from the file the supervisor wrote)."""
        path = os.environ.get("CONTROLROOM_HANDOFF_FILE", "")
        if not path:
            return []
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, list) else []

    def rejection(self) -> str:
        """The reviewer's reason when this run is a retry after a rejected handoff, else ''."""
        marker = "Your previous handoff was rejected: "
        if marker not in self.task:
            return ""
        reason = self.task.rsplit(marker, 1)[1]
        return reason.split(". Address this and hand off again.", 1)[0].strip()
