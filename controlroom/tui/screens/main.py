"""The main screen: the whole swarm at once, every action one key away.

Header strip, agent table, the selected agent's detail, the pending-gate
queue and the handoff timeline, all redrawn from ONE ``port.snapshot()`` per
tick. The tick is a one-shot timer re-armed after each refresh (dolphie's
WorkerManager), paced to what refreshes cost (``tui.pace``: 1 to 4 Hz).
While anything covers this screen (a modal, the agent screen) the tick is
paused — nothing repaints a screen nobody sees, and the selection never
moves under the operator's finger — and it refreshes on return, once the
action the operator confirmed there (a kill) has gone out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import ClassVar, cast

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import Footer, Input
from textual.worker import Worker

from controlroom._errors import ControlRoomError
from controlroom.models.attention import ATTENTION_ORDER, Attention
from controlroom.models.views import AgentView, GateView, SwarmView
from controlroom.text import audit_banner
from controlroom.tui.host import Dashboard
from controlroom.tui.keys import MUTATING_ACTIONS, binding
from controlroom.tui.messages import AgentChosen, AgentHighlighted, AttentionChosen, GateChosen
from controlroom.tui.pace import RefreshPace
from controlroom.tui.view_memory import ViewChoice
from controlroom.tui.widgets.agent_table import AgentTable
from controlroom.tui.widgets.attention_bar import AttentionBar
from controlroom.tui.widgets.detail_pane import DetailPane
from controlroom.tui.widgets.gate_queue import GateQueue
from controlroom.tui.widgets.handoff_timeline import HandoffTimeline
from controlroom.tui.widgets.header import SwarmHeader

__all__ = ["REFRESH_SECONDS", "RESUME_SECONDS", "MainScreen"]

REFRESH_SECONDS = 0.25
"""4 Hz at most: fast enough to feel live; a dear refresh waits longer (``tui.pace``)."""

RESUME_SECONDS = 0.05
"""Uncovered, the refresh waits this long: the kill a confirm just sent reaches the agent first
(a refresh at once ran its snapshot, apply and a repaint of the whole screen ahead of the
SIGTERM: bench/tui_load.py's y -> SIGTERM), and 50 ms still reads as at once."""


class MainScreen(Screen[None]):
    """The dashboard's home."""

    BINDINGS: ClassVar[list[BindingType]] = [
        binding("focus-gates"),
        binding("filter"),
        binding("sort"),
        *(binding(f"attention-{n}", show=False) for n in range(1, len(ATTENTION_ORDER) + 1)),
        binding("back", action="back", show=False),
        binding("approve-gate"),
        binding("reject-gate"),
        binding("kill-agent"),
        binding("pause-agent"),
        binding("restart-agent"),
        binding("reset-breaker", show=False),
        binding("open-diff"),
        binding("collisions"),
    ]

    def __init__(self) -> None:
        super().__init__(id="main")
        self.snapshot: SwarmView | None = None
        self.refreshes = 0
        self.last_apply_ms = 0.0
        self._agents: dict[str, AgentView] = {}
        self._next_tick: Timer | None = None
        self.pace = RefreshPace()
        self._suspended = False
        self._swarm: str | None = None  # the swarm whose remembered view is applied

    @property
    def control(self) -> Dashboard:
        """The dashboard app, by what it shares (``tui.host``): this screen imports no app."""
        return cast("Dashboard", self.app)

    def compose(self) -> ComposeResult:
        yield SwarmHeader(read_only=self.control.read_only, id="header")
        yield AttentionBar(id="attention")
        yield AgentTable(id="agents")
        with Horizontal(id="bottom"):
            yield DetailPane(id="detail")
            with Vertical(id="side"):
                yield GateQueue(id="gates")
                with VerticalScroll(id="handoffs-box"):
                    yield HandoffTimeline(id="handoffs")
        yield Input(placeholder="filter agents: name or state (esc clears)", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#gates", GateQueue).border_title = "Pending gates (g)"
        self.query_one("#handoffs-box").border_title = "Handoffs"
        self.query_one("#detail", DetailPane).border_title = "Detail"
        self._title_agents()
        self.query_one("#agents", AgentTable).focus()
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        self._tick()

    # ------------------------------------------------------------------ refresh

    @property
    def covered(self) -> bool:
        """True while a modal or another screen is over this one."""
        return self.app.screen is not self

    def on_screen_suspend(self, event: events.ScreenSuspend) -> None:
        """Covered: stop ticking (an in-flight refresh applies nothing and does not re-arm)."""
        self._suspended = True
        self._cancel_next_tick()

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        """Uncovered: refresh in ``RESUME_SECONDS``, then tick (the first resume: at mount)."""
        self._suspended = False
        self.pace.uncovered()
        if self.is_mounted:
            self._cancel_next_tick()
            self._arm(RESUME_SECONDS)

    def _cancel_next_tick(self) -> None:
        if self._next_tick is not None:
            self._next_tick.stop()
            self._next_tick = None

    def _tick(self) -> None:
        """One refresh now; the worker re-arms the next (one chain: any pending tick is dropped)."""
        self._cancel_next_tick()
        self._refresh_worker()

    @work(exclusive=True, group="refresh", exit_on_error=False, description="refresh the dashboard")
    async def _refresh_worker(self) -> None:
        rearm = True
        started = time.thread_time()
        try:
            if not self.covered:
                snapshot = await self.control.port.snapshot()
                if not self.covered:
                    self.apply(snapshot)
        except asyncio.CancelledError:
            rearm = False
            raise
        except ControlRoomError as exc:
            self.control.set_banner(f"no snapshot: {exc}", "error", seconds=5)
        finally:
            if rearm and not self._suspended:
                self.pace.refreshed(time.thread_time() - started)
                self._arm(self.pace.interval(REFRESH_SECONDS))

    def _arm(self, wait: float) -> None:
        self._next_tick = self.set_timer(wait, self._tick)
        self.pace.armed(wait)

    def hurry(self) -> None:
        """News the operator must see soon: the next tick in ``REFRESH_SECONDS`` at most."""
        armed = self._next_tick is not None
        if not self._suspended and self.pace.hurry(REFRESH_SECONDS, armed=armed):
            self._cancel_next_tick()
            self._arm(REFRESH_SECONDS)

    def _compositor_refresh(self) -> None:
        """Textual's paint of this screen, timed: a refresh's cost includes its paint."""
        started = time.thread_time()
        super()._compositor_refresh()
        self.pace.painted(time.thread_time() - started)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.control.on_worker_state_changed(event)  # they don't bubble: the app's one router

    def apply(self, snapshot: SwarmView) -> None:
        """Bring every pane up to date with ``snapshot``, in one batch."""
        started = time.perf_counter()
        self.snapshot = snapshot
        self.control.last_snapshot = snapshot
        self._agents = {a.name: a for a in snapshot.agents}
        with self.app.batch_update():
            self._recall_view(snapshot.swarm)
            header = self.query_one("#header", SwarmHeader)
            self.call_after_refresh(header.update_from, snapshot)  # its own frame: see update_from
            if not snapshot.audit.ok:  # the audit log cannot be written: that first
                header.set_banner(audit_banner(snapshot.audit.model_dump()), "error")
            else:
                header.set_banner(*self.control.banner_now())
            table = self.query_one("#agents", AgentTable)
            table.apply(snapshot.agents, snapshot.ts)
            self.query_one("#attention", AttentionBar).show(table.counts, table.group)
            self.query_one("#gates", GateQueue).apply(snapshot.gates)
            if self.query_one("#handoffs", HandoffTimeline).apply(snapshot.handoffs):
                self.query_one("#handoffs-box", VerticalScroll).scroll_end(animate=False)
            self._show_detail(table.selected_agent)
            self._title_agents()
        self.refreshes += 1
        self.last_apply_ms = (time.perf_counter() - started) * 1000

    def _show_detail(self, agent: str | None) -> None:
        self.query_one("#detail", DetailPane).show(
            None if agent is None else self._agents.get(agent), self.control.tail
        )

    def _title_agents(self) -> None:
        table = self.query_one("#agents", AgentTable)
        title = f"Agents {table.row_count}/{len(self._agents)} · sort: {table.sort_column} (s)"
        if table.group is not None:
            title += f" · only: {table.group} (esc)"
        if table.filter_text:
            title += f" · filter: {table.filter_text!r}"
        if table.border_title != title:
            table.border_title = title

    def _theme_changed(self, theme: Theme) -> None:
        self.query_one("#agents", AgentTable).restyle()

    # ------------------------------------------------------------------ selection

    def agent(self, name: str | None) -> AgentView | None:
        return None if name is None else self._agents.get(name)

    @property
    def selected_agent(self) -> AgentView | None:
        return self.agent(self.query_one("#agents", AgentTable).selected_agent)

    def target_gate(self) -> GateView | None:
        """The gate under the cursor when the queue has focus, else the oldest pending one."""
        queue = self.query_one("#gates", GateQueue)
        if self.focused is queue and queue.selected_gate is not None:
            return queue.selected_gate
        gates = queue.gates
        return gates[0] if gates else None

    @on(AgentHighlighted)
    def _agent_highlighted(self, event: AgentHighlighted) -> None:
        self._show_detail(event.agent)

    @on(AgentChosen)
    def _agent_chosen(self, event: AgentChosen) -> None:
        from controlroom.tui.screens.agent import AgentScreen

        self.app.push_screen(AgentScreen(self.control.port, event.agent))

    @on(GateChosen)
    def _gate_chosen(self, event: GateChosen) -> None:
        from controlroom.tui.screens.gate import GateScreen

        self.app.push_screen(
            GateScreen(self.control.port, event.gate, self.agent(event.gate.agent))
        )

    # ------------------------------------------------------------------ filter

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one("#agents", AgentTable).set_filter(event.value)
        self._title_agents()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#agents", AgentTable).focus()

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MUTATING_ACTIONS and self.control.read_only:
            return False
        return True

    def _agent_or_say(self) -> AgentView | None:
        agent = self.selected_agent
        if agent is None:
            self.notify("no agent selected", severity="warning")
        return agent

    def _allowed(self, binding_id: str) -> bool:
        return self.control.debouncer.allow(binding_id)

    def action_open_diff(self) -> None:
        """``d``: what the selected agent really changed."""
        from controlroom.tui.screens.diff import DiffScreen

        if (agent := self._agent_or_say()) is not None:
            self.app.push_screen(DiffScreen(self.control.port, agent.name))

    def action_collisions(self) -> None:
        """``c``: where agents' work collides, and the suggested merge order."""
        from controlroom.tui.screens.collisions import CollisionsScreen

        self.app.push_screen(CollisionsScreen(self.control.port))

    def action_focus_gates(self) -> None:
        queue = self.query_one("#gates", GateQueue)
        queue.focus()
        if queue.row_count == 0:
            self.notify("no gate is waiting", timeout=2)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        box.focus()

    def action_sort(self) -> None:
        self.query_one("#agents", AgentTable).cycle_sort()
        self._title_agents()
        self._remember_view()

    def action_attention_filter(self, number: int) -> None:
        """``1``…``7``: only that attention group; the same key again shows every agent."""
        if 1 <= number <= len(ATTENTION_ORDER):
            self._choose_group(ATTENTION_ORDER[number - 1])

    @on(AttentionChosen)
    def _attention_chosen(self, event: AttentionChosen) -> None:
        self._choose_group(event.group)

    def _choose_group(self, group: Attention | None) -> None:
        table = self.query_one("#agents", AgentTable)
        table.set_group(None if group is table.group else group)
        self.query_one("#attention", AttentionBar).show(table.counts, table.group)
        self._title_agents()
        self._remember_view()

    # ------------------------------------------------------------------ remembered view

    def _recall_view(self, swarm: str) -> None:
        """The first snapshot of a swarm: its remembered sort and group."""
        if swarm and swarm != self._swarm:
            self._swarm = swarm
            choice = self.control.view_memory.recall(swarm)
            table = self.query_one("#agents", AgentTable)
            table.set_sort(choice.sort)
            table.set_group(choice.group)
            self._say_memory_problem()

    def _remember_view(self) -> None:
        if self._swarm is not None:
            table = self.query_one("#agents", AgentTable)
            choice = ViewChoice(sort=table.sort_column, group=table.group)
            self.control.view_memory.remember(self._swarm, choice)
            self._say_memory_problem()

    def _say_memory_problem(self) -> None:
        memory = self.control.view_memory
        if memory.problem:
            self.notify(memory.problem, severity="warning", timeout=10)
            memory.problem = None

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        table = self.query_one("#agents", AgentTable)
        if box.has_class("-shown") or table.filter_text:
            box.value = ""
            box.remove_class("-shown")
            table.set_filter("")
            self._title_agents()
        elif table.group is not None:
            self._choose_group(None)
        table.focus()

    def _gate_or_say(self, binding_id: str) -> GateView | None:
        if not self._allowed(binding_id):
            return None
        gate = self.target_gate()
        if gate is None:
            self.notify("no gate is waiting", severity="warning")
        return gate

    def action_approve_gate(self) -> None:
        if (gate := self._gate_or_say("approve-gate")) is not None:
            self.control.operator.approve(gate.id)

    def action_reject_gate(self) -> None:
        if (gate := self._gate_or_say("reject-gate")) is not None:
            self.control.operator.reject(gate.id)

    def _on_agent(self, binding_id: str, act: Callable[[str], object]) -> None:
        if self._allowed(binding_id) and (agent := self._agent_or_say()) is not None:
            act(agent.name)

    def action_kill_agent(self) -> None:
        self._on_agent("kill-agent", self.control.operator.kill)

    def action_pause_agent(self) -> None:
        self._on_agent("pause-agent", self.control.operator.pause_or_resume)

    def action_restart_agent(self) -> None:
        self._on_agent("restart-agent", self.control.operator.restart)

    def action_reset_breaker(self) -> None:
        self._on_agent("reset-breaker", self.control.operator.reset_breaker)
