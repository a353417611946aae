"""The worker's side of the native protocol: lines on stdout, gate decisions on stdin.

Everything the worker tells the control room is one JSON object per line
(design.md's native protocol), flushed at once so the supervisor's meters and
screens see it live. Usage lines carry the API's own field names and the
deltas as they stream: ``message_start`` gives the input side and opens a
turn, each ``message_delta`` adds output (``"turns": 0``: same turn).
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from controlroom.models import Handoff

__all__ = ["Channel"]


class Channel:
    """stdout for protocol lines, stdin for the control room's answers."""

    def __init__(
        self, out: IO[str] | None = None, inp: IO[str] | None = None, *, handoffs_first: bool
    ) -> None:
        self.out = out if out is not None else sys.stdout
        self.inp = inp if inp is not None else sys.stdin
        # a native agent with upstream handoffs gets them as its first stdin line
        self._skip_line = handoffs_first

    def emit(self, line: dict[str, Any]) -> None:
        self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.out.flush()

    def status(self, text: str) -> None:
        self.emit({"type": "status", "text": text})

    def error(self, message: str) -> None:
        self.emit({"type": "error", "message": message})

    def usage(self, counts: dict[str, int], model: str | None, *, turns: int) -> None:
        """A usage delta (only the counts that are not zero, and always one)."""
        line: dict[str, Any] = {"type": "usage"}
        line.update((k, v) for k, v in counts.items() if v)
        line.setdefault("output_tokens", 0)
        if model:
            line["model"] = model
        line["turns"] = turns
        self.emit(line)

    def handoff(self, handoff: Handoff) -> None:
        self.emit({"type": "handoff", **handoff.model_dump()})

    def gate(self, title: str, detail: str) -> tuple[bool, str]:
        """Ask the operator; block until the decision line comes (end of input: rejected)."""
        self.emit({"type": "gate", "title": title, "detail": detail})
        if self._skip_line:
            self._skip_line = False
            self.inp.readline()
        line = self.inp.readline()
        if not line:
            return False, "no decision came (the control room closed our input)"
        try:
            decision = json.loads(line)
        except ValueError:
            return False, f"unreadable decision {line.strip()[:80]!r}"
        if not isinstance(decision, dict):
            return False, f"unreadable decision {line.strip()[:80]!r}"
        return decision.get("approved") is True, str(decision.get("reason") or "")
