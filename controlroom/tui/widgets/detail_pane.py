"""The selected agent in detail: budget per limit, last handoff, recent tools, live log.

The log is a ``Log(max_lines=…)`` fed from the dashboard's ``EventTail``: at
each refresh only the lines that arrived since the last one are written, so
an agent printing thousands of lines a second costs one append per line and
one redraw per refresh. Switching agents rewrites the log from the tail.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Log, Static

from controlroom.models.views import AgentView
from controlroom.text import duration, limit_label, limit_value, money, tokens_short
from controlroom.tui.cells import STATE_GLYPHS, bar, meter_level
from controlroom.tui.tail import EventTail

if TYPE_CHECKING:
    from textual.css.styles import RulesMap

__all__ = ["DetailPane", "summary_content"]

LOG_LINES = 500
def summary_content(agent: AgentView, tail: EventTail) -> Content:
    """The text above the log: who, state, budget per limit, last handoff, recent tools."""
    name, state = agent.name, agent.state
    style = "bold $status-" + state.replace("_", "-")
    parts: list[str | tuple[str, str] | Content] = [
        (name, "bold"),
        "  ",
        (f"{STATE_GLYPHS.get(state, '?')} {state}", style),
    ]
    if agent.reason:
        parts.append(f"  {agent.reason}")
    parts.append(
        (
            f"\npid {agent.pid or '-'} · attempt {agent.attempt} · {agent.format}",
            "$text-muted",
        )
    )
    if agent.after:
        parts.append((f" · after {', '.join(agent.after)}", "$text-muted"))
    meter = agent.meter
    if meter is not None:
        parts.append(
            f"\n{tokens_short(meter.total_tokens)} tokens · {money(meter.cost_usd)}"
            f" · {meter.turns} turns · {duration(meter.elapsed_seconds)}"
        )
        for limit in meter.limits:
            fraction, key = limit.fraction, limit.limit
            parts.append(f"\n{limit_label(key, short=True):<7}")
            parts.append((bar(fraction, 10), f"$meter-{meter_level(fraction)}"))
            parts.append(
                f"{fraction:>5.0%} {limit_value(key, limit.value, short=True)}"
                f"/{limit_value(key, limit.cap, short=True)}"
            )
        if not meter.limits:
            parts.append(("\nno budget limits", "$text-muted"))
    if agent.breaker_open:
        parts.append(("\nBREAKER OPEN: b resets it", "bold $status-breaker-open"))
    handoff = agent.handoff
    if handoff is not None:
        parts.append(("\nlast handoff", "bold"))
        for field, value in (
            ("changed", handoff.changed),
            ("next_needs", handoff.next_needs),
            ("risks", handoff.risks),
        ):
            parts.append((f"\n {field}: ", "$text-muted"))
            parts.append(value.replace("\n", " ")[:160])
    tools = tail.tools(name)[-5:]
    if tools:
        parts.append(("\nrecent tools", "bold"))
        for use in tools:
            clock = time.strftime("%H:%M:%S", time.localtime(use.ts))
            parts.append((f"\n {clock} ", "$text-muted"))
            parts.append(f"{use.name} {use.summary}")
    return Content.assemble(*parts)


def _rows(content: Content, summary: Static) -> tuple[int, int]:
    """(width, rows): how many rows ``content`` takes at the summary's width.

    The summary's text changes at every refresh (tokens, cost), and a full
    layout of the screen costs far more than repainting one widget: it is laid
    out again only when its rows change. The height is what Textual itself
    computes for ``height: auto``.
    """
    width = summary.content_size.width
    if width <= 0:
        return (width, -1)
    rules = cast("RulesMap", summary.styles)  # as Widget.get_content_height passes it
    return (width, content.get_height(rules, width))


class DetailPane(Horizontal):
    """Shows one agent; ``show(agent, tail)`` at every refresh."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.agent_name: str | None = None
        self._written = 0
        self._summary: Content | None = None
        self._summary_rows = (0, -1)  # the shown summary's (width, rows), -1: unknown

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-left"):
            yield Static("no agent selected", id="detail-summary")
        yield Log(max_lines=LOG_LINES, id="detail-log")

    def show(self, agent: AgentView | None, tail: EventTail) -> None:
        summary = self.query_one("#detail-summary", Static)
        log = self.query_one("#detail-log", Log)
        name = None if agent is None else agent.name
        if name != self.agent_name:
            self.agent_name = name
            log.clear()
            self._written = 0
            self._summary = None
            if name is None:
                summary.update("no agent selected")
                return
        if agent is None or name is None:
            return
        content = summary_content(agent, tail)
        if content != self._summary:
            rows = _rows(content, summary)
            resized = self._summary is None or rows[1] < 0 or rows != self._summary_rows
            self._summary, self._summary_rows = content, rows
            summary.update(content, layout=resized)
        if tail.written(name) < self._written:  # a fresh tail (a replay stepped back)
            log.clear()
            self._written = 0
        new = tail.since(name, self._written)
        if new:
            log.write_lines(new)
        self._written = tail.written(name)
