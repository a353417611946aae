"""What an adapter is: a pure translator from one agent's stdout lines to events.

An adapter is fed one decoded line at a time (framing, size limits and
UTF-8 are ``lines.py``'s job) and answers with zero or more events. It does
no I/O and keeps only the state its format needs (Claude Code's de-duplicated
usage, for instance). It never raises: an agent is untrusted input, and one
bad line must cost one ``MalformedOutput`` event, not the agent's supervision.

Events come back with ``agent`` set and ``run``/``seq`` left at their
defaults: whoever publishes them (the supervisor's bus) stamps those.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import ClassVar, Literal, Protocol, runtime_checkable

from controlroom.adapters.handoff import DEFAULT_MAX_CHARS, json_type
from controlroom.models import AgentOutput, Event, MalformedOutput

__all__ = [
    "PREVIEW_CHARS",
    "Adapter",
    "BaseAdapter",
    "FieldProblem",
    "RefusedLine",
    "Stream",
    "json_type",
    "preview",
    "token_count",
]

PREVIEW_CHARS = 200
"""The longest preview of a bad line kept in a ``MalformedOutput`` event."""

Stream = Literal["stdout", "stderr"]


class RefusedLine(Protocol):
    """A line the framing refused (``lines.MalformedLine``): it can only say so."""

    def to_event(self, agent: str | None, stream: Stream = "stdout") -> MalformedOutput: ...


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """The start of ``text``, at most ``limit`` characters, safe to print.

    Control characters (and other unprintables) are escaped as ``\\xNN`` /
    ``\\uNNNN`` so a preview of binary noise cannot drive the terminal.
    """
    head = text[:limit]
    if head.isprintable():
        return head
    escaped = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in head
    )
    return escaped[:limit]


class FieldProblem(Exception):
    """A protocol line has the right ``type`` but a field of the wrong shape."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def token_count(data: Mapping[str, object], key: str, where: str = "") -> int | None:
    """A token count field: a non-negative integer, or None when absent or null.

    ``12.0``, ``"12"``, ``true`` and ``-3`` are all refused, naming the field:
    a meter that guesses is not a meter.
    """
    value = data.get(key)
    name = f"{where}{key}"
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldProblem(name, f"must be a whole number, got {json_type(value)} {value!r:.40}")
    if value < 0:
        raise FieldProblem(name, f"must not be negative, got {value}")
    return value


@runtime_checkable
class Adapter(Protocol):
    """The interface the supervisor drives: one instance per agent process."""

    agent: str

    def feed(self, line: str) -> list[Event]:
        """Events for one stdout line (decoded, without its newline). Never raises."""
        ...

    def feed_slice(
        self, items: Sequence[str | RefusedLine], read: int
    ) -> tuple[list[Event], list[int]]:
        """``feed`` for a slice of framed lines: the events, and beside each the line count.

        ``read`` is how many lines were read before the slice; ``lines[i]`` is
        the count once the line ``events[i]`` came from was read (the router
        knows from it which lines came after a stop). A line the framing
        refused becomes its ``MalformedOutput``. Never raises.
        """
        ...

    def finish(self) -> list[Event]:
        """Events owed at end of stream (e.g. a report that never came). Never raises."""
        ...


class BaseAdapter(ABC):
    """Shared plumbing: the never-raise guard and event constructors.

    Subclasses implement ``_feed`` (and ``_finish`` if they have anything to
    say at EOF). The guard in ``feed`` is a last line of defence: a bug in a
    parser turns into a ``MalformedOutput`` whose reason starts with
    ``adapter error``, which tests check never happens.
    """

    format: ClassVar[str] = ""

    def __init__(
        self, agent: str, handoff_max_chars: int = DEFAULT_MAX_CHARS, stream: Stream = "stdout"
    ) -> None:
        self.agent = agent
        self.stream: Stream = stream
        self.handoff_max_chars = handoff_max_chars

    def feed(self, line: str) -> list[Event]:
        try:
            return self._feed(line)
        except Exception as exc:  # the agent must stay supervised whatever it prints
            return [self.malformed(f"adapter error ({type(exc).__name__}: {exc})", line)]

    def feed_slice(
        self, items: Sequence[str | RefusedLine], read: int
    ) -> tuple[list[Event], list[int]]:
        events: list[Event] = []
        lines: list[int] = []
        for item in items:
            read += 1
            made = self._made(item)
            events += made
            lines += [read] * len(made)
        return events, lines

    def _made(self, item: str | RefusedLine) -> list[Event]:
        """The events of one item of a slice: a line fed, or a refused line's event."""
        if isinstance(item, str):
            return self.feed(item)
        return [item.to_event(self.agent, self.stream)]

    def finish(self) -> list[Event]:
        try:
            return self._finish()
        except Exception as exc:
            return [self.malformed(f"adapter error at end of output ({type(exc).__name__}: {exc})")]

    @abstractmethod
    def _feed(self, line: str) -> list[Event]: ...

    def _finish(self) -> list[Event]:
        return []

    def output(self, text: str) -> AgentOutput:
        return AgentOutput(agent=self.agent, stream=self.stream, text=text)

    def malformed(self, reason: str, line: str = "") -> MalformedOutput:
        return MalformedOutput(
            agent=self.agent,
            stream=self.stream,
            reason=reason,
            preview=preview(line),
            length=len(line),
        )
