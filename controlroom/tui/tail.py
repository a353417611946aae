"""What each agent said lately: its log tail and its recent tool calls, from the event stream.

The event stream may run at thousands of lines a second; the screen redraws
at a fixed rate. So events land here (bounded deques, cheap appends, no
rendering) and the detail pane pulls what is new at each refresh, using
``written(agent)`` — a running count of lines appended — to write only the
delta into its ``Log``.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass

from controlroom.models.event_base import EventBase
from controlroom.models.events_run import (
    AgentOutput,
    ErrorEvent,
    MalformedOutput,
    StatusEvent,
    ToolCall,
)
from controlroom.models.events_spend import Usage
from controlroom.text import LOG_KINDS, describe

__all__ = ["EventTail", "ToolUse"]


@dataclass(frozen=True)
class ToolUse:
    ts: float
    name: str
    summary: str


class EventTail:
    """Bounded per-agent log lines and tool calls; feed it events in order."""

    def __init__(self, max_lines: int = 500, max_tools: int = 10) -> None:
        self.max_lines = max_lines
        self.max_tools = max_tools
        self.last_seq = 0
        self._lines: dict[str, deque[str]] = {}
        self._written: dict[str, int] = {}
        self._tools: dict[str, deque[ToolUse]] = {}

    def feed(self, event: EventBase) -> None:
        """Take one event (as ``port.events()`` yields); older or repeated seqs are skipped."""
        seq = event.seq
        if seq and seq <= self.last_seq:
            return
        self.last_seq = max(self.last_seq, seq)
        agent = event.agent
        if not agent:
            return
        line = self._line(agent, event)
        if line is not None:
            self._append(agent, line)

    def lines(self, agent: str) -> list[str]:
        return list(self._lines.get(agent, ()))

    def written(self, agent: str) -> int:
        """How many lines were ever appended for ``agent`` (not capped by ``max_lines``)."""
        return self._written.get(agent, 0)

    def since(self, agent: str, written: int) -> list[str]:
        """The lines appended after the first ``written`` ones (at most the retained tail)."""
        total = self._written.get(agent, 0)
        new = total - written
        if new <= 0:
            return []
        kept = self._lines.get(agent, deque())
        return list(kept)[-min(new, len(kept)) :]

    def tools(self, agent: str) -> list[ToolUse]:
        return list(self._tools.get(agent, ()))

    def _append(self, agent: str, line: str) -> None:
        lines = self._lines.get(agent)
        if lines is None:
            lines = self._lines[agent] = deque(maxlen=self.max_lines)
        lines.append(line)
        self._written[agent] = self._written.get(agent, 0) + 1

    def _line(self, agent: str, event: EventBase) -> str | None:
        if isinstance(event, Usage):  # most of a busy swarm's events, and none is a log line
            return None
        clock = time.strftime("%H:%M:%S", time.localtime(event.ts))
        if isinstance(event, AgentOutput):
            mark = "!" if event.stream == "stderr" else " "
            return f"{clock}{mark} {event.text}"
        if isinstance(event, StatusEvent):
            return f"{clock} » {event.text}"
        if isinstance(event, ErrorEvent):
            return f"{clock} ✗ error: {event.message}"
        if isinstance(event, MalformedOutput):
            return f"{clock} ? malformed ({event.reason}): {event.preview}"
        if isinstance(event, ToolCall):
            summary = _summary(event.input)
            tools = self._tools.get(agent)
            if tools is None:
                tools = self._tools[agent] = deque(maxlen=self.max_tools)
            tools.append(ToolUse(event.ts, event.name, summary))
            return f"{clock} ⚙ {event.name} {summary}"
        if getattr(event, "kind", None) in LOG_KINDS:  # what the headless log prints, in its words
            return f"{clock} ─ {describe(event)}"
        return None


def _summary(value: object, width: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"
