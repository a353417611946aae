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
import math
from typing import Any, Literal, TypeGuard

from controlroom._errors import HandoffError
from controlroom.adapters.base import BaseAdapter, FieldProblem, Stream, json_type, token_count
from controlroom.adapters.handoff import DEFAULT_MAX_CHARS, parse_handoff_text, validate_handoff
from controlroom.models import (
    AgentResult,
    ErrorEvent,
    Event,
    HandoffEvent,
    HandoffRejected,
    StatusEvent,
    ToolCall,
    Usage,
)

__all__ = ["ClaudeCodeAdapter"]

_COUNTS: tuple[str, ...] = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
_MODEL_USAGE_COUNTS: dict[str, str] = {  # modelUsage spells them in camelCase
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "cacheReadInputTokens": "cache_read_input_tokens",
    "cacheCreationInputTokens": "cache_creation_input_tokens",
}
_RESULT_FIELDS = frozenset({"type", "subtype", "is_error", "num_turns", "total_cost_usd", "result"})

Counts = dict[str, int]


def _zero() -> Counts:
    return dict.fromkeys(_COUNTS, 0)


def _read_counts(data: object, where: str) -> Counts:
    """Token counts from an API-style ``usage`` object; absent or null is 0."""
    if not isinstance(data, dict):
        raise FieldProblem(where.rstrip("."), f"must be an object, got {json_type(data)}")
    return {key: token_count(data, key, where) or 0 for key in _COUNTS}


def _read_model_usage(data: object) -> dict[str, Counts] | None:
    """Per-model totals from ``result.modelUsage``; None if absent or empty."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise FieldProblem("modelUsage", f"must be an object, got {json_type(data)}")
    totals: dict[str, Counts] = {}
    for model, entry in data.items():
        where = f"modelUsage.{model}."
        if not isinstance(entry, dict):
            raise FieldProblem(where.rstrip("."), f"must be an object, got {json_type(entry)}")
        total = totals.setdefault(_base_model(str(model)), _zero())
        for theirs, ours in _MODEL_USAGE_COUNTS.items():
            total[ours] += token_count(entry, theirs, where) or 0
    return totals or None


def _base_model(name: str) -> str:
    """``claude-opus-4-8[1m]`` → ``claude-opus-4-8``: ``modelUsage`` names a variant (the
    1M-token context window) that the stream's messages, and the API, name without it."""
    return name[: name.index("[")] if name.endswith("]") and "[" in name else name


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
        # this session's Usage events summed, by model; reset when a new session starts
        self._emitted: dict[str | None, Counts] = {}
        self._emitted_turns = 0
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
            self._emitted, self._emitted_turns, self._reconciled = {}, 0, False
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
                counts = _read_counts(message["usage"], "message.usage.")
            except FieldProblem as exc:
                reason = f"claude-code 'assistant' event: {exc.field} {exc.message}"
                events.append(self.malformed(reason, self._line))
            else:
                if isinstance(msg_id, str):
                    self._seen_messages.add(msg_id)
                events.append(self._count(counts, model, turns=1, source="agent"))
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
                num_turns=num_turns if _is_int(num_turns) else None,
                reported_cost_usd=float(cost) if _is_price(cost) else None,
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

    def _count(
        self,
        counts: Counts,
        model: str | None,
        *,
        turns: int,
        source: Literal["agent", "reconcile"],
    ) -> Usage:
        """Build a Usage event and add it to what has been emitted so far."""
        total = self._emitted.setdefault(model, _zero())
        for key in _COUNTS:
            total[key] += counts[key]
        self._emitted_turns += turns
        return Usage(
            agent=self.agent,
            model=model,
            turns=turns,
            source=source,
            input_tokens=counts["input_tokens"],
            output_tokens=counts["output_tokens"],
            cache_read_input_tokens=counts["cache_read_input_tokens"],
            cache_creation_input_tokens=counts["cache_creation_input_tokens"],
        )

    def _reconcile(self, data: dict[str, Any]) -> list[Event]:
        """Usage deltas that bring this session's sums up to the result's totals."""
        problems: list[str] = []
        try:
            totals = _read_model_usage(data.get("modelUsage"))
        except FieldProblem as exc:
            problems.append(f"{exc.field} {exc.message}")
            totals = None
        if totals is not None:
            emitted = self._emitted_under(totals)
        else:
            try:
                if data.get("usage") is None:
                    raise FieldProblem("usage", "missing")
                counts = _read_counts(data["usage"], "usage.")
            except FieldProblem as exc:
                problems.append(f"{exc.field} {exc.message}")
                reason = "; ".join(problems)
                reason = f"claude-code result: {reason}; tokens not reconciled"
                return [self.malformed(reason, self._line)]
            # One total for everything, attributed to the session's model.
            main = self.model or next((m for m in self._emitted if m), None) or ""
            totals = {main: counts}
            emitted = {main: self._summed()}
        events: list[Usage] = []
        for model in list(totals) + [m for m in emitted if m not in totals]:
            true = totals.get(model, _zero())
            seen = emitted.get(model, _zero())
            delta = {key: true[key] - seen[key] for key in _COUNTS}
            if any(delta.values()):
                events.append(self._delta(delta, model, totals, data))
        if not events:  # already exact: still mark that the totals were checked
            events.append(self._delta(_zero(), next(iter(totals), ""), totals, data))
        num_turns = data.get("num_turns")
        if _is_int(num_turns) and num_turns > self._emitted_turns:
            events[0].turns = num_turns - self._emitted_turns
            self._emitted_turns = num_turns
        elif _is_int(num_turns) and num_turns < self._emitted_turns:
            events[0].extra.setdefault("discrepancy", {})["turns"] = num_turns - self._emitted_turns
        return list(events)

    def _emitted_under(self, totals: dict[str, Counts]) -> dict[str, Counts]:
        """Our running sums keyed like ``totals``; unattributed counts go to the main model."""
        emitted = {model or "": dict(counts) for model, counts in self._emitted.items()}
        if "" in emitted and "" not in totals:
            main = self.model if self.model in totals else next(iter(totals))
            unattributed = emitted.pop("")
            target = emitted.setdefault(main, _zero())
            for key in _COUNTS:
                target[key] += unattributed[key]
        return emitted

    def _delta(
        self, delta: Counts, model: str, totals: dict[str, Counts], data: dict[str, Any]
    ) -> Usage:
        """The reconcile event for one model: what the result adds, and what it claims less."""
        added = {key: max(0, n) for key, n in delta.items()}
        event = self._count(added, model or None, turns=0, source="reconcile")
        event.extra = {"reconciled_to": totals.get(model, _zero())}
        lower = {key: n for key, n in delta.items() if n < 0}
        if lower:
            event.extra["discrepancy"] = lower
        model_usage = data.get("modelUsage")
        entries = [
            entry
            for name, entry in (model_usage.items() if isinstance(model_usage, dict) else ())
            if _base_model(str(name)) == model and isinstance(entry, dict)
        ]
        costs = [e["costUSD"] for e in entries if _is_number(e.get("costUSD"))]
        if costs:
            event.extra["reported_cost_usd"] = sum(costs)
        return event

    def _summed(self) -> Counts:
        total = _zero()
        for counts in self._emitted.values():
            for key in _COUNTS:
                total[key] += counts[key]
        return total


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_price(value: object) -> TypeGuard[int | float]:
    """A price the meter may keep: a finite number, not below zero (JSON allows NaN)."""
    return _is_number(value) and 0 <= value < math.inf


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
