"""One agent in full: its live log, its tool calls, its budget per limit, its handoff.

Everything comes through the port: the log and the tool calls from the
run's events (history, then live — see ``audit.event_stream``), the state,
meter and handoff from ``port.snapshot()``, read again by a one-shot timer
re-armed after each refresh (so refreshes never pile up, and none runs
while a modal covers the screen). The agent keys of the main screen work
here too, through the app's one Operator (``tui.actions``): x kill, p
pause/resume, R restart, b reset the breaker ask, send and report exactly as
they do on the main screen. A refused action is one notification, never a
traceback.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Log, Static

from controlroom._errors import ControlRoomError
from controlroom.control.port import ControlPort
from controlroom.models.events import Event, ToolCall
from controlroom.models.kinds import EventKind
from controlroom.models.views import AgentView, LimitView, MeterView
from controlroom.text import limit_label, limit_value, money
from controlroom.text.operator import processes_phrase
from controlroom.tui.host import Operations, operator_of
from controlroom.tui.keys import MUTATING_ACTIONS, binding
from controlroom.tui.screens.audit import FLUSH_SECONDS, event_stream, format_event
from controlroom.tui.widgets.limit_row import LimitRow, describe_limit

__all__ = [
    "LOG_LINES",
    "AgentScreen",
    "describe_limit",
    "describe_metering",
    "describe_spend",
]

LOG_LINES = 2000
"""Lines of the agent's log kept on screen."""

TOOL_LINES = 200
REFRESH_SECONDS = 0.5

# shown as meters and in the tool pane, not in the log
_NOT_LOGGED = frozenset({EventKind.USAGE, EventKind.TOOL_CALL})


def describe_spend(meter: MeterView | None) -> str:
    """Tokens in/out, cost and turns, against the budget where there is one."""
    if meter is None:
        return "no usage yet"
    budget = meter.budget
    parts = [
        f"tokens in {meter.input_tokens:,} out {meter.output_tokens:,} "
        f"cache r/w {meter.cache_read_input_tokens:,}/{meter.cache_creation_input_tokens:,}",
        f"total {meter.total_tokens:,}"
        + (f" of {budget.max_tokens:,}" if budget.max_tokens else ""),
        f"cost {money(meter.cost_usd)}"
        + (f" of {money(budget.max_cost_usd)}" if budget.max_cost_usd else ""),
        f"turns {meter.turns}" + (f" of {budget.max_turns}" if budget.max_turns else ""),
    ]
    return " · ".join(parts) + describe_metering(meter)


def describe_metering(meter: MeterView) -> str:
    """Where the figures come from; a warning when the agent's own report disagrees."""
    if meter.metered_at != "wire":
        return "\nmetered from the agent's own reports"
    text = "\nmetered at the wire (the proxy)"
    reported = meter.self_reported_tokens
    if meter.meter_disagreement and reported is not None:
        text += (
            f"\n⚠ METER DISAGREEMENT: the agent reported {reported:,} tokens, "
            f"{money(meter.self_reported_cost_usd or 0.0)}; the budget uses the wire"
        )
    return text


def describe_containment(agent: AgentView) -> str:
    """`cgroup …/agent-a · limits memory 512M, pids 64` — what holds this agent's processes."""
    held = agent.containment
    if not held.mode:
        return ""
    where = f"cgroup {held.cgroup}" if held.cgroup else held.mode
    limits = ", ".join(
        f"{limit_label(name)} {limit_value(name, float(value))}"
        for name, value in held.limits.items()
    )
    parts = [f"contained by {where}", f"limits {limits}" if limits else "no limits"]
    parts += [f"NOT ENFORCED {problem}" for problem in held.unenforced]
    if held.sandbox != "off":
        hosts = ", ".join(held.allow_hosts) or "none"
        parts.append(f"sandbox {held.sandbox}, no network but the model, hosts: {hosts}")
    else:
        parts.append("no sandbox")
    return " · ".join(parts)


class AgentScreen(Screen[None]):
    """The detail of one agent, live; esc goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        binding("back"),
        binding("kill-agent"),
        binding("pause-agent"),
        binding("restart-agent"),
        binding("reset-breaker"),
    ]
    AUTO_FOCUS = "#agent-log"

    def __init__(self, port: ControlPort, agent: str) -> None:
        super().__init__()
        self.port = port
        self.agent_name = agent
        self.agent: AgentView | None = None
        self._pending_log: deque[str] = deque(maxlen=LOG_LINES)
        self._pending_tools: deque[str] = deque(maxlen=TOOL_LINES)
        self._flush_timer: Timer | None = None
        self._refresh_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(self.agent_name, id="agent-header", markup=False)
        with Horizontal(id="agent-body"):
            with Vertical(id="agent-left"):
                yield Log(max_lines=LOG_LINES, id="agent-log")
            with VerticalScroll(id="agent-right"):
                yield Vertical(id="agent-limits")
                yield Static("", id="agent-spend", markup=False)
                yield Static("", id="agent-containment", markup=False)
                yield Log(max_lines=TOOL_LINES, id="agent-tools")
                with Vertical(id="agent-handoff"):
                    for field in ("changed", "next_needs", "risks"):
                        yield Static(
                            "", id=f"agent-handoff-{field}", classes="handoff-field", markup=False
                        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#agent-log", Log).border_title = "log"
        self.query_one("#agent-limits").border_title = "budget"
        self.query_one("#agent-tools", Log).border_title = "recent tool calls"
        self.query_one("#agent-handoff").border_title = "last handoff"
        for field, title in (
            ("changed", "changed"),
            ("next_needs", "next needs"),
            ("risks", "risks"),
        ):
            self.query_one(f"#agent-handoff-{field}", Static).border_title = title
        self.follow_events()
        self.call_after_refresh(self.refresh_snapshot)

    # ------------------------------------------------------------------ live data

    @work(
        exclusive=True,
        exit_on_error=False,
        group="agent-events",
        description="agent screen: the agent's history and live events",
    )
    async def follow_events(self) -> None:
        async for event in event_stream(self.port):
            if event.agent == self.agent_name:
                self.add_event(event)

    def add_event(self, event: Event) -> None:
        """Route one of this agent's events to its pane; redraw in a batch."""
        kind = event.kind
        if isinstance(event, ToolCall):
            line = _tool_line(event)
            self._pending_tools.append(line)
        elif kind not in _NOT_LOGGED:
            self._pending_log.append(format_event(event, with_agent=False))
        else:
            return
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._flush_timer = None
        if self._pending_log:
            self.query_one("#agent-log", Log).write_lines(list(self._pending_log))
            self._pending_log.clear()
        if self._pending_tools:
            self.query_one("#agent-tools", Log).write_lines(list(self._pending_tools))
            self._pending_tools.clear()

    async def refresh_snapshot(self) -> None:
        """Read the agent from a fresh snapshot, then re-arm the one-shot timer."""
        try:
            if self.app.screen is self:  # nothing to redraw under a modal
                swarm = await self.port.snapshot()
                found = swarm.agent(self.agent_name)
                if found is not None:
                    self.show_agent(found)
                else:
                    self.query_one("#agent-header", Static).update(
                        f"{self.agent_name} · not in this swarm"
                    )
        except (ControlRoomError, OSError) as exc:
            self.query_one("#agent-header", Static).update(f"{self.agent_name} · {exc}")
        finally:
            if self.is_attached:
                self._refresh_timer = self.set_timer(REFRESH_SECONDS, self.refresh_snapshot)

    def show_agent(self, agent: AgentView) -> None:
        """Redraw header, limits, spend and handoff from one snapshot entry."""
        self.agent = agent
        header = self.query_one("#agent-header", Static)
        parts = [self.agent_name, agent.state, processes_phrase(agent), f"attempt {agent.attempt}"]
        if agent.breaker_open:
            parts.append("BREAKER OPEN")
        if agent.reason:
            parts.append(agent.reason)
        header.update(" · ".join(parts))
        for cls in list(header.classes):
            if cls.startswith("state-"):
                header.remove_class(cls)
        header.add_class(f"state-{agent.state.replace('_', '-')}")
        meter = agent.meter
        self._show_limits([] if meter is None else meter.limits)
        self.query_one("#agent-spend", Static).update(describe_spend(meter))
        self.query_one("#agent-containment", Static).update(describe_containment(agent))
        for field in ("changed", "next_needs", "risks"):
            text = getattr(agent.handoff, field) if agent.handoff is not None else "—"
            self.query_one(f"#agent-handoff-{field}", Static).update(text)

    def _show_limits(self, limits: list[LimitView]) -> None:
        box = self.query_one("#agent-limits", Vertical)
        rows = {row.limit: row for row in box.query(LimitRow)}
        for limit in limits:
            row = rows.get(limit.limit)
            if row is None:
                rows[limit.limit] = LimitRow(limit)
                box.mount(rows[limit.limit])
            else:
                row.show(limit)
        placeholder = box.query(".limit-none")
        if limits:
            placeholder.remove()
        elif not placeholder:
            box.mount(Static("no limits", classes="limit-none"))

    # ------------------------------------------------------------------ actions

    @property
    def operator(self) -> Operations:
        """The app's Operator: the same actions, guard and words as on the main screen."""
        return operator_of(self.app)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MUTATING_ACTIONS and self.operator.read_only:
            return False  # hidden and refused, as in --read-only everywhere
        return True

    def action_back(self) -> None:
        self.workers.cancel_group(self, "agent-events")
        self.dismiss(None)

    def action_kill_agent(self) -> None:
        self.operator.kill(self.agent_name)

    def action_pause_agent(self) -> None:
        self.operator.pause_or_resume(self.agent_name)

    def action_restart_agent(self) -> None:
        self.operator.restart(self.agent_name)

    def action_reset_breaker(self) -> None:
        self.operator.reset_breaker(self.agent_name)


def _tool_line(event: ToolCall) -> str:
    """``12:01:02 Bash {"command": "pytest -q"}`` — a tool call, as short as it can be."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.ts))
    tool_input = json.dumps(event.input, separators=(",", ":"), ensure_ascii=False)
    return f"{stamp} {event.name} {tool_input}".replace("\n", " ")
