"""The native agent protocol: one JSON object per stdout line (design.md).

Known ``type`` values become typed events; a known type with a field of the
wrong shape is logged as ``MalformedOutput`` naming the field, and skipped.
Everything else is log output — except a line that starts like a JSON object
and does not parse, which is a half-written protocol line and reported as
malformed rather than shown as if it were prose.

Keys beyond a type's fields are kept for audit, in the event's ``extra``.

The usual usage, status and tool lines take a fast path (``fastpath.py``)
to the same events; this module is the reference way, and what every other
line takes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from controlroom._errors import HandoffError
from controlroom.adapters.base import (
    BaseAdapter,
    FieldProblem,
    RefusedLine,
    Stream,
    json_type,
    token_count,
)
from controlroom.adapters.fastpath import FastNative
from controlroom.adapters.handoff import DEFAULT_MAX_CHARS, validate_handoff
from controlroom.models import (
    ErrorEvent,
    Event,
    GateKind,
    GateRequested,
    HandoffEvent,
    HandoffRejected,
    StatusEvent,
    ToolCall,
    Usage,
    new_gate_id,
)

__all__ = ["USAGE_COUNT_FIELDS", "NativeAdapter"]

USAGE_COUNT_FIELDS: tuple[str, ...] = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)

_USAGE_KEYS = frozenset({"type", "model", "turns", "cache_creation_1h_input_tokens"})


def _one_hour(data: dict[str, Any]) -> int:
    """The 1-hour part of the cache writes: our flat field, or the API's nested split."""
    flat = token_count(data, "cache_creation_1h_input_tokens")
    if flat is not None:
        return flat
    split = data.get("cache_creation")
    if isinstance(split, dict):
        return token_count(split, "ephemeral_1h_input_tokens", "cache_creation.") or 0
    return 0


_FIELDS: dict[str, frozenset[str]] = {
    "status": frozenset({"type", "text"}),
    "tool": frozenset({"type", "name", "input"}),
    "gate": frozenset({"type", "title", "detail"}),
    "error": frozenset({"type", "message"}),
}


def _text(data: dict[str, Any], key: str, *, required: bool = True, nonempty: bool = False) -> str:
    if key not in data or data[key] is None:
        if required:
            raise FieldProblem(key, "missing")
        return ""
    value = data[key]
    if not isinstance(value, str):
        raise FieldProblem(key, f"must be a string, got {json_type(value)}")
    if nonempty and not value.strip():
        raise FieldProblem(key, "empty")
    return value


class NativeAdapter(BaseAdapter):
    """Reads the native JSON-lines protocol of one agent."""

    format = "native"

    def __init__(
        self,
        agent: str,
        handoff_max_chars: int = DEFAULT_MAX_CHARS,
        stream: Stream = "stdout",
        *,
        fast: bool = True,
    ) -> None:
        """``fast=False``: every line the reference way (the tests compare the two)."""
        super().__init__(agent, handoff_max_chars, stream)
        self._parsers: dict[str, Callable[[dict[str, Any]], Event]] = {
            "usage": self._usage,
            "status": self._status,
            "tool": self._tool,
            "handoff": self._handoff,
            "gate": self._gate,
            "error": self._error,
        }
        self._fast = FastNative(agent) if fast else None

    def feed_slice(
        self, items: Sequence[str | RefusedLine], read: int
    ) -> tuple[list[Event], list[int]]:
        """``BaseAdapter.feed_slice``, with the lines the fast path takes made in one loop.

        Why: a flooding agent's slice is dozens of usage lines, and a call
        through ``feed`` and ``_feed`` per line cost about a third of making
        its event. A line that starts with ``{`` goes straight to the fast
        path (whitespace after the object is JSON's, and ``_feed`` would strip
        it); any line the fast path refuses goes through ``feed`` as before.
        """
        fast = self._fast
        if fast is None:
            return super().feed_slice(items, read)
        event_of = fast.event
        events: list[Event] = []
        lines: list[int] = []
        for item in items:
            read += 1
            if type(item) is str and item[:1] == "{":
                try:
                    event = event_of(item)
                except Exception:  # feed's guard reports it
                    event = None
                if event is not None:
                    events.append(event)
                    lines.append(read)
                    continue
            made = self._made(item)
            events += made
            lines += [read] * len(made)
        return events, lines

    def _feed(self, line: str) -> list[Event]:
        body = line.strip()
        if not body.startswith("{"):
            return [self.output(line)]
        if self._fast is not None:
            event = self._fast.event(body)
            if event is not None:
                return [event]
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            return [self.malformed(f"half-written JSON ({exc}); line skipped", line)]
        kind = data.get("type") if isinstance(data, dict) else None
        if not isinstance(kind, str) or kind not in self._parsers:
            return [self.output(line)]
        parser = self._parsers[kind]
        try:
            event = parser(data)
        except FieldProblem as exc:
            return [self.malformed(f"native {kind!r} line: {exc.field} {exc.message}", line)]
        known = _FIELDS.get(kind)
        extra = getattr(event, "extra", None)
        if known is not None and extra is not None and not known.issuperset(data):
            extra.update((k, v) for k, v in data.items() if k not in known)
        return [event]

    def _usage(self, data: dict[str, Any]) -> Event:
        counts = {key: token_count(data, key) for key in USAGE_COUNT_FIELDS}
        if all(value is None for value in counts.values()):
            raise FieldProblem(
                "/".join(USAGE_COUNT_FIELDS), "a usage line needs at least one of these counts"
            )
        model = data.get("model")
        if model is not None and not isinstance(model, str):
            raise FieldProblem("model", f"must be a string, got {json_type(model)}")
        turns = token_count(data, "turns")
        hour = _one_hour(data)
        extra = {
            key: value
            for key, value in data.items()
            if key not in _USAGE_KEYS and key not in USAGE_COUNT_FIELDS
        }
        return Usage(
            agent=self.agent,
            input_tokens=counts["input_tokens"] or 0,
            output_tokens=counts["output_tokens"] or 0,
            cache_read_input_tokens=counts["cache_read_input_tokens"] or 0,
            cache_creation_input_tokens=counts["cache_creation_input_tokens"] or 0,
            cache_creation_1h_input_tokens=min(hour, counts["cache_creation_input_tokens"] or 0),
            model=model,
            turns=1 if turns is None else turns,
            source="agent",
            extra=extra,
        )

    def _status(self, data: dict[str, Any]) -> Event:
        return StatusEvent(agent=self.agent, text=_text(data, "text"))

    def _tool(self, data: dict[str, Any]) -> Event:
        name = _text(data, "name", nonempty=True)
        tool_input = data.get("input")
        if tool_input is None:
            tool_input = {}
        if not isinstance(tool_input, dict):
            raise FieldProblem("input", f"must be an object, got {json_type(tool_input)}")
        return ToolCall(agent=self.agent, name=name, input=tool_input)

    def _handoff(self, data: dict[str, Any]) -> Event:
        fields = {key: value for key, value in data.items() if key != "type"}
        try:
            handoff = validate_handoff(fields, self.handoff_max_chars)
        except HandoffError as exc:
            return HandoffRejected(agent=self.agent, field=exc.field, reason=str(exc))
        return HandoffEvent(agent=self.agent, handoff=handoff)

    def _gate(self, data: dict[str, Any]) -> Event:
        return GateRequested(
            agent=self.agent,
            gate_id=new_gate_id(),
            gate_kind=GateKind.AGENT,
            title=_text(data, "title", nonempty=True),
            detail=_text(data, "detail", required=False),
        )

    def _error(self, data: dict[str, Any]) -> Event:
        return ErrorEvent(agent=self.agent, message=_text(data, "message", nonempty=True))
