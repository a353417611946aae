"""The live audit log: the run's history, then every event as it happens, filtered.

The history comes from the control API's ``events`` query (paged, so a long
run is read to its end, not only its first page) and the live part from
``port.events()``. The two meet without a hole: events carry a contiguous
``seq``, and when a live event arrives with a gap before it (published
between the history read and the subscription, or dropped by a subscriber
that fell behind) the gap is read back from the audit log first.

Memory is bounded (the last ``MAX_LINES`` events) and the pane is redrawn in
batches, never once per event. The filter is ``agent:NAME kind:KIND text``:
several ``agent:`` (or ``kind:``) terms mean any of them, ``kind:`` matches
a prefix (``kind:gate`` is every gate event), every other word must appear
in the line; all case-insensitive.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Log, Static

from controlroom.control import calls
from controlroom.control.port import ControlPort
from controlroom.models.events import Event
from controlroom.text import describe
from controlroom.tui.keys import binding

__all__ = [
    "EVENTS_PAGE",
    "MAX_LINES",
    "AuditFilter",
    "AuditScreen",
    "event_stream",
    "format_event",
    "parse_filter",
]

MAX_LINES = 5000
"""Events kept (and lines shown) by the audit screen."""

EVENTS_PAGE = 5000
"""Events read per ``events`` query while catching up."""

CATCH_UP_SECONDS = 0.5
"""How long the live stream may stay quiet before the stored log is read again."""

FLUSH_SECONDS = 0.1
"""How long new lines gather before the pane is redrawn once for all of them."""

SUMMARY_CHARS = 400

FILTER_HELP = "filter: agent:NAME kind:KIND text   (kind: matches a prefix, e.g. kind:gate)"

# --------------------------------------------------------------------------- the stream


async def _page(port: ControlPort, since: int, limit: int) -> list[Event]:
    return await port.call(calls.EVENTS(since, limit))


async def event_stream(port: ControlPort, page: int = EVENTS_PAGE) -> AsyncIterator[Event]:
    """Every event of the run once, in ``seq`` order: the stored history, then live ones.

    The live subscription starts while the history is being read, so events
    published in between may reach neither: whenever no live event has come
    for ``CATCH_UP_SECONDS``, the stored log is read again from the last
    event yielded. A hole seen in the live stream is filled the same way.
    """
    live = port.events().__aiter__()
    waiting: asyncio.Future[Event] = asyncio.ensure_future(anext(live))
    last = 0
    try:
        while True:
            events = await _page(port, last, page)
            for event in events:
                last = max(last, event.seq)
                yield event
            if len(events) < page:
                break
        while True:
            done, _ = await asyncio.wait({waiting}, timeout=CATCH_UP_SECONDS)
            if not done:
                for old in await _page(port, last, page):
                    if old.seq > last:
                        last = old.seq
                        yield old
                continue
            try:
                event = waiting.result()
            except StopAsyncIteration:
                break
            waiting = asyncio.ensure_future(anext(live))
            seq = event.seq
            if seq <= last:
                continue
            while seq > last + 1:  # a hole: read it back from the audit log first
                missing = await _page(port, last, min(seq - last - 1, page))
                missing = [e for e in missing if last < e.seq < seq]
                if not missing:
                    break
                for old in missing:
                    last = old.seq
                    yield old
            last = seq
            yield event
    finally:
        waiting.cancel()
        aclose = getattr(live, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


# --------------------------------------------------------------------------- one line per event

def format_event(event: Event, *, with_agent: bool = True) -> str:
    """One event as one plain log line: time, seq, agent, kind and what happened."""
    ts = event.ts
    stamp = time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"
    summary = describe(event)
    if len(summary) > SUMMARY_CHARS:
        summary = summary[: SUMMARY_CHARS - 1] + "…"
    agent = f"{event.agent or '-':<14} " if with_agent else ""
    return f"{stamp} {event.seq:>6} {agent}{event.kind:<16} {summary}"


# --------------------------------------------------------------------------- the filter


@dataclass(frozen=True)
class AuditFilter:
    """``agent:NAME kind:KIND text``, parsed; the empty filter matches everything."""

    agents: frozenset[str] = frozenset()
    kinds: tuple[str, ...] = ()
    words: tuple[str, ...] = ()

    def matches(self, event: Event, line: str) -> bool:
        if self.agents and (event.agent or "").lower() not in self.agents:
            return False
        kind = event.kind
        if self.kinds and not any(kind.startswith(k) for k in self.kinds):
            return False
        lowered = line.lower()
        return all(word in lowered for word in self.words)


def parse_filter(text: str) -> AuditFilter:
    """Parse the filter syntax (see the module docstring)."""
    agents: set[str] = set()
    kinds: list[str] = []
    words: list[str] = []
    for token in text.split():
        key, sep, value = token.partition(":")
        if sep and value and key.lower() == "agent":
            agents.add(value.lower())
        elif sep and value and key.lower() == "kind":
            kinds.append(value.lower())
        else:
            words.append(token.lower())
    return AuditFilter(frozenset(agents), tuple(kinds), tuple(words))


# --------------------------------------------------------------------------- the screen


class AuditScreen(Screen[None]):
    """The run's audit log, live and filtered; ``/`` filters, esc clears it or goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        binding("filter", action="focus_filter"),
        binding("back"),
    ]
    AUTO_FOCUS = "#audit-log"

    def __init__(self, port: ControlPort) -> None:
        super().__init__()
        self.port = port
        self.entries: deque[tuple[Event, str]] = deque(maxlen=MAX_LINES)
        self.received = 0
        self.filter = AuditFilter()
        self._pending: deque[tuple[Event, str]] = deque(maxlen=MAX_LINES)
        self._flush_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"Audit log · {self.port.description}", id="audit-title", markup=False)
        yield Input(placeholder=FILTER_HELP, id="audit-filter")
        yield Log(max_lines=MAX_LINES, id="audit-log")
        yield Static("", id="audit-status")
        yield Footer()

    def on_mount(self) -> None:
        self.follow_events()

    @work(
        exclusive=True,
        exit_on_error=False,
        group="audit-events",
        description="audit screen: history and live events",
    )
    async def follow_events(self) -> None:
        async for event in event_stream(self.port):
            self.add_event(event)

    def add_event(self, event: Event) -> None:
        """Keep one event and schedule a batched redraw."""
        entry = (event, format_event(event))
        self.received += 1
        self.entries.append(entry)
        if self.filter.matches(*entry):
            self._pending.append(entry)
            if self._flush_timer is None:
                self._flush_timer = self.set_timer(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._flush_timer = None
        if self._pending:
            self.query_one("#audit-log", Log).write_lines([line for _, line in self._pending])
            self._pending.clear()
        self._show_status()

    def _show_status(self) -> None:
        shown = self.query_one("#audit-log", Log).line_count
        self.query_one("#audit-status", Static).update(
            f"{self.received} events received · last {len(self.entries)} kept · {shown} shown"
        )

    def apply_filter(self, text: str) -> None:
        """Show the kept events that match ``text`` (the filter syntax)."""
        self.filter = parse_filter(text)
        self._pending.clear()
        log = self.query_one("#audit-log", Log)
        log.clear()
        log.write_lines([line for event, line in self.entries if self.filter.matches(event, line)])
        self._show_status()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "audit-filter":
            self.apply_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#audit-log", Log).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#audit-filter", Input).focus()

    def action_back(self) -> None:
        box = self.query_one("#audit-filter", Input)
        if box.value:
            box.value = ""  # posts Changed: the filter is cleared
            self.query_one("#audit-log", Log).focus()
            return
        self.workers.cancel_group(self, "audit-events")
        self.dismiss(None)
