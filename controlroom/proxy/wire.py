"""Reading the Messages API off the wire: server-sent events and their usage objects.

Pure functions and small classes, no I/O, because this is the hot path: every
streamed event of every agent passes through ``EventSplitter`` and
``event_name``; only ``message_start``, ``message_delta`` and ``error`` are
ever decoded as JSON.

Usage semantics are the API's: ``message_start`` carries the input side
(``input_tokens``, ``cache_read_input_tokens``, ``cache_creation_input_tokens``
with its TTL split in ``cache_creation``) and an opening ``output_tokens``;
each ``message_delta`` carries *cumulative* counts (output always, the input
side when it grew, as a server tool's results make it). ``WireCounts.advance``
turns those cumulative figures into deltas, never negative.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from controlroom.models.tokens import TokenTotal

__all__ = ["KINDS", "EventSplitter", "WireCounts", "event_data", "event_name"]

KINDS: tuple[str, ...] = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation_1h_input_tokens",
)
"""The token kinds metered, as ``Usage`` spells them (cache creation includes its 1-hour part)."""


@dataclass(slots=True)
class WireCounts(TokenTotal):
    """Cumulative token counts of one answer, as the API has reported them so far."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0

    def advance(self, usage: object) -> WireCounts:
        """Take a cumulative ``usage`` object; return what it adds (absent keys add nothing)."""
        if not isinstance(usage, dict):
            return WireCounts()
        delta = WireCounts()
        nested = usage.get("cache_creation")
        split = nested if isinstance(nested, dict) else {}
        one_hour = _count(split.get("ephemeral_1h_input_tokens"))
        creation = _count(usage.get("cache_creation_input_tokens"))
        if creation is None and split:
            five = _count(split.get("ephemeral_5m_input_tokens")) or 0
            creation = five + (one_hour or 0)
        for key, value in (
            ("input_tokens", _count(usage.get("input_tokens"))),
            ("output_tokens", _count(usage.get("output_tokens"))),
            ("cache_read_input_tokens", _count(usage.get("cache_read_input_tokens"))),
            ("cache_creation_input_tokens", creation),
            ("cache_creation_1h_input_tokens", one_hour),
        ):
            if value is None:
                continue
            seen = getattr(self, key)
            if value > seen:
                setattr(delta, key, value - seen)
                setattr(self, key, value)
        return delta


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


class EventSplitter:
    """Cuts a byte stream of server-sent events into whole events (each with its blank line).

    The API separates events with ``\\n\\n``; a ``\\r\\n`` stream is normalised
    to ``\\n`` first (an SSE client reads both the same).
    """

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self._rest + chunk if self._rest else chunk
        held = b""
        if b"\r" in chunk or self._rest.endswith(b"\r"):
            if data.endswith(b"\r"):  # its "\n" may be the next chunk's first byte
                data, held = data[:-1], b"\r"
            data = data.replace(b"\r\n", b"\n")
        end = data.rfind(b"\n\n")
        if end < 0:
            self._rest = data + held
            return []
        self._rest = data[end + 2 :] + held
        return [event + b"\n\n" for event in data[:end].split(b"\n\n") if event]

    @property
    def rest(self) -> bytes:
        """Bytes after the last complete event (a stream that ends here was cut upstream)."""
        return self._rest


def event_name(event: bytes) -> bytes:
    """The ``event:`` field of one event (b"" when it has none)."""
    if event.startswith(b"event:"):
        line = event[6 : event.find(b"\n")]
        return line.strip()
    for line in event.split(b"\n"):
        if line.startswith(b"event:"):
            return line[6:].strip()
    return b""


def event_data(event: bytes) -> Any:
    """The JSON of one event's ``data:`` lines, or None when it is not JSON."""
    lines = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
    try:
        return json.loads(b"\n".join(lines))
    except (ValueError, RecursionError):
        return None
