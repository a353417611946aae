"""controlroom.adapters: agent output → events.

Pure translators (no I/O, no clock) from an agent's stdout lines to the
event union, one class per ``format`` of ``[[agents]]``, plus the pipe framing
that turns raw bytes into those lines. The supervisor's runner does, per
slice of an agent's stdout (``LineSplitter.feed`` of what one read took)::

    adapter = make_adapter(spec.format, spec.name, swarm.handoff_max_chars)
    events, lines = adapter.feed_slice(splitter.feed(chunk), lines_read)
    ...  # the events go to the router, ``lines[i]`` the line count at ``events[i]``
    events = adapter.finish()

``feed(line)`` is the same for a single line (a quiet agent's).
"""

from __future__ import annotations

from controlroom._errors import AgentError
from controlroom.adapters.base import Adapter, BaseAdapter, Stream, preview
from controlroom.adapters.claude_code import ClaudeCodeAdapter
from controlroom.adapters.handoff import DEFAULT_MAX_CHARS
from controlroom.adapters.lines import (
    MAX_LINE_BYTES,
    LineSplitter,
    MalformedLine,
    read_line_batches,
    read_lines,
)
from controlroom.adapters.native import NativeAdapter
from controlroom.adapters.plain import PlainAdapter

__all__ = [
    "ADAPTERS",
    "MAX_LINE_BYTES",
    "Adapter",
    "BaseAdapter",
    "ClaudeCodeAdapter",
    "LineSplitter",
    "MalformedLine",
    "NativeAdapter",
    "PlainAdapter",
    "Stream",
    "make_adapter",
    "preview",
    "read_line_batches",
    "read_lines",
]

ADAPTERS: dict[str, type[BaseAdapter]] = {
    "native": NativeAdapter,
    "claude-code": ClaudeCodeAdapter,
    "plain": PlainAdapter,
}
"""Adapter class by the ``format`` value of an ``[[agents]]`` entry."""


def make_adapter(
    format: str,
    agent: str,
    handoff_max_chars: int = DEFAULT_MAX_CHARS,
    stream: Stream = "stdout",
) -> Adapter:
    """A fresh adapter for one process of ``agent`` (adapters keep per-process state)."""
    adapter = ADAPTERS.get(format)
    if adapter is not None:
        return adapter(agent, handoff_max_chars, stream)
    known = ", ".join(sorted(ADAPTERS))
    raise AgentError(f"agent {agent!r}: unknown output format {format!r} (known: {known})")
