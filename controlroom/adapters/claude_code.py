"""Claude Code's ``--output-format stream-json --verbose`` as events.

What the stream says, and what we take from it (see
shared/fixtures/claude-code/README.md for captured samples):

- ``system``/``init``: session, model, cwd, version → one ``StatusEvent``.
- ``assistant``: one event per content block; several may share one
  ``message.id``. Usage is counted once per id, on first sighting, turns=1.
  Its ``output_tokens`` is only the stream's opening figure (usually 1), so
  the live meter under-counts output until the result arrives.
- ``user``: tool results → ``AgentOutput``.
- ``result``: the authoritative totals. We emit ``Usage(source="reconcile")``
  deltas so that the sum of every ``Usage`` equals those totals (per model,
  from ``modelUsage`` when present, since that also counts sub-agent and
  background calls; else from ``usage``), then ``AgentResult``, then the
  handoff found in the result text, if any.

Meters only go up, so reconciliation only ever adds. The result is the
agent's own word: a total lower than what the stream already showed is
recorded as ``extra["discrepancy"]`` (the negative difference, per count) on
the reconcile event and counts as nothing, and each session (``session_id``
of ``system``/``init``) is reconciled once, at its first result. Otherwise an
agent could print a result saying "1 token" after every million and never
reach its budget.

Any other event type is kept as ``AgentOutput`` (the raw line), never an error.
"""

from __future__ import annotations

import json
from typing import Any

from controlroom._errors import HandoffError
from controlroom.adapters.base import BaseAdapter, FieldProblem, Stream, json_type
from controlroom.adapters.handoff import DEFAULT_MAX_CHARS, parse_handoff_text, validate_handoff
from controlroom.adapters.session_usage import (
    SessionUsage,
    Unreconciled,
    is_int,
    is_price,
    read_counts,
)
from controlroom.models import (
    AgentResult,
    ErrorEvent,
    Event,
    HandoffEvent,
    HandoffRejected,
    StatusEvent,
    ToolCall,
)

__all__ = ["ClaudeCodeAdapter"]

_RESULT_FIELDS = frozenset({"type", "subtype", "is_error", "num_turns", "total_cost_usd", "result"})


class ClaudeCodeAdapter(BaseAdapter):
    """Reads one Claude Code process's stream-json output."""

    format = "claude-code"

    def __init__(
        self,
        agent: str,
        handoff_max_chars: int = DEFAULT_MAX_CHARS,
        stream: Stream = "stdout",
    ) -> None:
        super().__init__(agent, handoff_max_chars, stream)
        self.session_id: str | None = None
        self.model: str | None = None
        self._seen_messages: set[str] = set()
        self._usage = SessionUsage(agent)  # this session's Usage events, summed by model
        self._reconciled = False  # this session's result has been reconciled
        self._result_seen = False
        self._line = ""  # the line being read, for previews of what was wrong with it

    # ------------------------------------------------------------------ dispatch

    def _feed(self, line: str) -> list[Event]:
        self._line = line
        body = line.strip()
        if not body:
            return []
        if not body.startswith("{"):
            return [self.output(line)]
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            return [self.malformed(f"half-written JSON ({exc}); line skipped", line)]
        kind = data.get("type") if isinstance(data, dict) else None
        try:
            if kind == "system" and data.get("subtype") == "init":
                return [self._init(data)]
            if kind == "assistant":
                return self._assistant(data)
            if kind == "user":
                return self._user(data)
            if kind == "result":
                return self._result(data)
        except FieldProblem as exc:
            return [self.malformed(f"claude-code {kind!r} event: {exc.field} {exc.message}", line)]
        return [self.output(line)]

    def _finish(self) -> list[Event]:
        if self._result_seen:
            return []
        return [
            ErrorEvent(
                agent=self.agent,
                message="Claude Code's output ended without a result event; its token counts "
                "are the stream's opening figures and under-count output",
                where="claude-code adapter",
            )
        ]

    # ------------------------------------------------------------------ events

    def _init(self, data: dict[str, Any]) -> Event:
        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        session = text("session_id") or self.session_id
        if session != self.session_id:  # a new session: its result covers only itself
            self._usage.reset()
            self._reconciled = False
        self.session_id = session
        self.model = text("model") or self.model
        tools = data.get("tools")
        parts = [f"session {self.session_id or '?'} started"]
        if self.model:
            parts.append(f"model {self.model}")
        if text("cwd"):
            parts.append(f"cwd {text('cwd')}")
        if text("claude_code_version"):
            parts.append(f"claude-code {text('claude_code_version')}")
        if isinstance(tools, list):
            parts.append(f"{len(tools)} tools")
        if text("permissionMode"):
            parts.append(f"permission mode {text('permissionMode')}")
        return StatusEvent(agent=self.agent, text=", ".join(parts))

    def _assistant(self, data: dict[str, Any]) -> list[Event]:
        message = data.get("message")
        if not isinstance(message, dict):
            raise FieldProblem("message", f"must be an object, got {json_type(message)}")
        events: list[Event] = []
        msg_id = message.get("id")
        model = message.get("model") if isinstance(message.get("model"), str) else None
        first_sighting = not isinstance(msg_id, str) or msg_id not in self._seen_messages
        if first_sighting and message.get("usage") is not None:
            try:
                counts = read_counts(message["usage"], "message.usage.")
            except FieldProblem as exc:
                reason = f"claude-code 'assistant' event: {exc.field} {exc.message}"
                events.append(self.malformed(reason, self._line))
            else:
                if isinstance(msg_id, str):
                    self._seen_messages.add(msg_id)
                events.append(self._usage.count(counts, model, turns=1, source="agent"))
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                try:
                    events.extend(self._assistant_block(block))
                except FieldProblem as exc:
                    reason = f"claude-code 'assistant' event: {exc.field} {exc.message}"
                    events.append(self.malformed(reason, self._line))
        elif isinstance(content, str) and content:
            events.append(self.output(content))
        return events

    def _assistant_block(self, block: object) -> list[Event]:
        if not isinstance(block, dict):
            return [self.output(json.dumps(block, ensure_ascii=False))]
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            return [self.output(block["text"])] if block["text"] else []
        if kind == "tool_use":
            name = block.get("name")
            if not isinstance(name, str) or not name:
                raise FieldProblem("tool_use.name", f"must be a name, got {json_type(name)}")
            tool_input = block.get("input")
            tool_id = block.get("id")
            return [
                ToolCall(
                    agent=self.agent,
                    name=name,
                    input=tool_input if isinstance(tool_input, dict) else {"input": tool_input},
                    tool_use_id=tool_id if isinstance(tool_id, str) else None,
                )
            ]
        if kind == "thinking" and isinstance(block.get("thinking"), str):
            return [self.output("thinking: " + block["thinking"])] if block["thinking"] else []
        return [self.output(json.dumps(block, ensure_ascii=False))]

    def _user(self, data: dict[str, Any]) -> list[Event]:
        message = data.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            return [self.output(content)] if content else []
        if not isinstance(content, list):
            return [self.output(json.dumps(data, ensure_ascii=False))]
        events: list[Event] = []
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                label = "tool result (error)" if block.get("is_error") is True else "tool result"
                tool_id = block.get("tool_use_id")
                if isinstance(tool_id, str):
                    label += f" {tool_id}"
                events.append(self.output(f"{label}: {_block_text(block.get('content'))}"))
            elif isinstance(block, dict) and isinstance(block.get("text"), str):
                events.append(self.output(block["text"]))
            else:
                events.append(self.output(json.dumps(block, ensure_ascii=False)))
        return events

    def _result(self, data: dict[str, Any]) -> list[Event]:
        self._result_seen = True
        events: list[Event] = [] if self._reconciled else list(self._reconcile(data))
        self._reconciled = True
        is_error = data.get("is_error")
        subtype = data.get("subtype") if isinstance(data.get("subtype"), str) else ""
        if not isinstance(is_error, bool):
            is_error = subtype != "success"
        num_turns = data.get("num_turns")
        cost = data.get("total_cost_usd")
        text = data.get("result") if isinstance(data.get("result"), str) else ""
        errors = data.get("errors")
        if not text and isinstance(errors, list):
            text = "; ".join(str(e) for e in errors)
        events.append(
            AgentResult(
                agent=self.agent,
                is_error=is_error,
                subtype=subtype,
                num_turns=num_turns if is_int(num_turns) else None,
                reported_cost_usd=float(cost) if is_price(cost) else None,
                text=text,
                extra={k: v for k, v in data.items() if k not in _RESULT_FIELDS},
            )
        )
        if not is_error and isinstance(data.get("result"), str):
            events.extend(self._handoff(data["result"]))
        return events

    def _handoff(self, text: str) -> list[Event]:
        try:
            raw = parse_handoff_text(text)
            if raw is None:
                return []
            handoff = validate_handoff(raw, self.handoff_max_chars)
        except HandoffError as exc:
            return [HandoffRejected(agent=self.agent, field=exc.field, reason=str(exc))]
        return [HandoffEvent(agent=self.agent, handoff=handoff)]

    # ------------------------------------------------------------------ usage

    def _reconcile(self, data: dict[str, Any]) -> list[Event]:
        try:
            return list(self._usage.reconcile(data, self.model))
        except Unreconciled as exc:
            return [self.malformed(str(exc), self._line)]


def _block_text(content: object) -> str:
    """The text of a tool_result's content: a string, or a list of text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            block["text"]
            if isinstance(block, dict) and isinstance(block.get("text"), str)
            else json.dumps(block, ensure_ascii=False)
            for block in content
        ]
        return "\n".join(parts)
    if content is None:
        return ""
    return json.dumps(content, ensure_ascii=False)
