"""One pending gate in full, to decide it with the whole picture in view.

A handoff gate shows its three fields each in its own titled box (what
changed, what the next agent needs, what risks remain); a tool gate shows
the tool and its input as indented JSON; an agent's own gate its title and
detail. Above them: who asks, for which stage, how long it has waited and
how long until it expires (an expired gate is a rejection), and what the
agent has spent against its budget. ``a`` approves, ``A`` approves with a
note, ``r`` rejects with a required reason (it is recorded, and a retrying
agent receives it): through the app's one Operator (``tui.actions``), so a
decision is asked, sent and reported as from the main screen, and a key
pressed on both sends one decision. If someone else decided the gate
meanwhile the control API refuses (``GateAlreadyDecided``); the Operator
says so and the screen closes.

A handoff gate also shows what the agent really changed: beside the three
fields, its diff against its base (``DiffView``: the files with +/- counts,
then the diff, scrollable; ``tab`` moves there), and above them the radar's
verdict for its branch with its place in the suggested merge order, and
where the handoff's account and the diff disagree. The verdict follows the
swarm live; the diff is asked again when the agent's files change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from controlroom._errors import ControlRoomError
from controlroom.control import calls
from controlroom.control.port import ControlPort
from controlroom.models.changes import FileChange
from controlroom.models.handoff import Handoff
from controlroom.models.state import GateKind
from controlroom.models.views import AgentView, GateView, MeterView
from controlroom.text import duration
from controlroom.tui.host import Decision, Operations, operator_of
from controlroom.tui.keys import MUTATING_ACTIONS, binding
from controlroom.tui.screens.agent import describe_limit, describe_spend
from controlroom.tui.widgets.diff_view import DiffView

__all__ = [
    "GateScreen",
    "describe_discrepancies",
    "describe_gate",
    "describe_radar",
    "describe_wait",
    "handoff_boxes",
]

REFRESH_SECONDS = 0.5
URGENT_SECONDS = 60.0

_HANDOFF_TITLES = (
    ("changed", "changed — what was done"),
    ("next_needs", "next needs — what the next agent must know"),
    ("risks", "risks — what may still go wrong"),
)


def describe_wait(gate: GateView, now: float | None = None) -> tuple[str, float | None]:
    """``waiting 1m 05s · expires in 58m 55s`` and the seconds left (None: no timeout)."""
    age = (time.time() if now is None else now) - gate.created
    text = f"waiting {duration(age)}"
    if gate.timeout_seconds is None:
        return text + " · no timeout", None
    left = gate.timeout_seconds - age
    if left <= 0:
        return text + " · timeout reached: it expires (a rejection) now", 0.0
    return text + f" · expires in {duration(left)} (then it counts as rejected)", left


def describe_radar(gate: GateView) -> str:
    """The radar's verdict for the gate's branch, and its place in the suggested merge order."""
    text = gate.verdict or "no verdict yet"
    if gate.merge_order is not None:
        text += (
            f"\nsuggested merge order: {gate.merge_order} "
            "(branches waiting, fewest conflicts first)"
        )
    return text


def describe_discrepancies(gate: GateView) -> str:
    """Where the handoff's ``changed`` and the diff disagree, one per line (shown, not blocking)."""
    if not gate.discrepancies:
        return "none: the handoff's account matches the diff"
    return "\n".join(f"! {found.text}" for found in gate.discrepancies)


def handoff_boxes(handoff: Handoff) -> list[tuple[str, str]]:
    """The three handoff fields as (box title, text), in the order the agent wrote them."""
    return [(title, str(getattr(handoff, key))) for key, title in _HANDOFF_TITLES]


def describe_gate(gate: GateView) -> str:
    """``GATE g-1a2b · handoff from planner to implementer`` — the screen's header."""
    agent = gate.agent
    what = {
        GateKind.HANDOFF: f"handoff from {agent}" + (f" to {gate.stage}" if gate.stage else ""),
        GateKind.TOOL: f"tool call by {agent}",
        GateKind.AGENT: f"question from {agent}",
    }.get(gate.kind, f"{gate.kind} gate of {agent}")
    title = f" · {gate.title}" if gate.title and gate.kind == GateKind.TOOL else ""
    return f"GATE {gate.id} · {what}{title}"


class GateScreen(Screen[str | None]):
    """Dismisses with "approved", "rejected", or None (esc, or decided elsewhere)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        binding("approve-gate"),
        binding("approve-gate-note"),
        binding("reject-gate"),
        binding("back"),
    ]
    AUTO_FOCUS = "#gate-body"

    def __init__(
        self,
        port: ControlPort,
        gate: GateView,
        agent: AgentView | None,
        *,
        clock: Callable[[], float] | None = None,
    ):
        """``clock`` (epoch seconds) ages the gate; default: the app's ``clock``, else time.time."""
        super().__init__()
        self._clock = clock
        self.port = port
        self.gate = gate
        self.gate_id = self.gate.id
        self.agent = agent
        self.pending = True
        self._diff_of: list[FileChange] | None = None  # the changed files the diff shown is of

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static(describe_gate(self.gate), id="gate-header", markup=False)
        yield Static("", id="gate-wait", markup=False)
        yield Static(describe_spend(self._meter()), id="gate-spend", markup=False)
        with Horizontal(id="gate-main"):
            yield from self._body(self.gate)
            if self.shows_diff:
                yield DiffView(id="gate-diff")
        yield Footer()

    @property
    def shows_diff(self) -> bool:
        return self.gate.kind == GateKind.HANDOFF

    def _body(self, gate: GateView) -> ComposeResult:
        with VerticalScroll(id="gate-body"):
            if self.shows_diff:
                yield _box(describe_radar(gate), "radar", id="gate-verdict")
                found = _box(
                    describe_discrepancies(gate), "handoff vs diff", id="gate-discrepancies"
                )
                found.set_class(not gate.discrepancies, "-none")
                yield found
            if gate.kind == GateKind.HANDOFF and gate.handoff is not None:
                for title, text in handoff_boxes(gate.handoff):
                    yield _box(text, title, classes="gate-box gate-handoff")
            elif gate.kind == GateKind.TOOL and gate.tool is not None:
                name = Static(str(gate.tool.get("name", "")), id="gate-tool-name", markup=False)
                name.border_title = "tool"
                yield name
                tool_input = json.dumps(gate.tool.get("input", {}), indent=2, ensure_ascii=False)
                yield _box(tool_input, "input", id="gate-tool-input")
            else:
                yield _box(gate.title or "(no title)", "question")
                yield _box(gate.detail or "(no detail)", "detail")
            yield Static("", id="gate-limits", classes="gate-box", markup=False)

    def now(self) -> float:
        """Now, by the clock given, or the app's (a test pins it there), or the system's."""
        clock = self._clock or getattr(self.app, "clock", None) or time.time
        return float(clock())

    def _meter(self) -> MeterView | None:
        return None if self.agent is None else self.agent.meter

    def on_mount(self) -> None:
        self.query_one("#gate-limits", Static).border_title = "budget"
        self._show_live()
        self.set_timer(REFRESH_SECONDS, self.refresh_gate)
        if self.shows_diff:
            self.load_diff()

    @work(exclusive=True, group="gate-diff", exit_on_error=False, description="gate screen: diff")
    async def load_diff(self) -> None:
        """Ask the control API for the agent's diff (git, now) and draw it."""
        view = self.query_one("#gate-diff", DiffView)
        self._diff_of = self.gate.changed_files
        try:
            found = await self.port.call(calls.DIFF(self.gate.agent))
        except (ControlRoomError, OSError) as exc:
            view.show_error(str(exc))
            return
        view.show(found)

    # ------------------------------------------------------------------ live refresh

    def _show_live(self) -> None:
        wait, left = describe_wait(self.gate, self.now())
        line = self.query_one("#gate-wait", Static)
        if self.pending:
            line.update(wait)
        line.set_class(self.pending and left is not None and left < URGENT_SECONDS, "-urgent")
        meter = self._meter()
        limits = [] if meter is None else meter.limits
        self.query_one("#gate-limits", Static).update(
            "\n".join(describe_limit(lim) for lim in limits) or "no limits"
        )
        self.query_one("#gate-spend", Static).update(f"{self.gate.agent}: {describe_spend(meter)}")

    async def refresh_gate(self) -> None:
        """Countdown, the agent's spend and whether the gate is still pending; re-armed."""
        try:
            if self.app.screen is self:
                swarm = await self.port.snapshot()
                self.agent = swarm.agent(self.gate.agent) or self.agent
                gate = next((g for g in swarm.gates if g.id == self.gate_id), None)
                if gate is not None:
                    self._radar_moved(gate)
                elif self.pending:
                    self.pending = False
                    self.query_one("#gate-wait", Static).update(
                        "no longer pending: decided (or expired) elsewhere — esc to go back"
                    )
                    self.query_one("#gate-header", Static).add_class("-decided")
                self._show_live()
        except (ControlRoomError, OSError) as exc:
            self.query_one("#gate-wait", Static).update(str(exc))
        finally:
            if self.is_attached:
                self.set_timer(REFRESH_SECONDS, self.refresh_gate)

    def _radar_moved(self, gate: GateView) -> None:
        """The live verdict and discrepancies; the diff again when the agent's files changed."""
        if not self.shows_diff:
            return
        self.gate = gate
        self.query_one("#gate-verdict", Static).update(describe_radar(gate))
        found = self.query_one("#gate-discrepancies", Static)
        found.update(describe_discrepancies(gate))
        found.set_class(not gate.discrepancies, "-none")
        if gate.changed_files != self._diff_of:
            self.load_diff()

    # ------------------------------------------------------------------ decisions

    @property
    def operator(self) -> Operations:
        """The app's Operator: one decision per gate, whichever screen's key asked for it."""
        return operator_of(self.app)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MUTATING_ACTIONS and self.operator.read_only:
            return False
        return True

    def action_approve_gate(self) -> None:
        self.operator.approve(self.gate_id, then=self.decided)

    def action_approve_with_reason(self) -> None:
        self.operator.approve(self.gate_id, note=True, then=self.decided)

    def action_reject_gate(self) -> None:
        self.operator.reject(self.gate_id, then=self.decided)

    def action_back(self) -> None:
        self.dismiss(None)

    def decided(self, decision: Decision) -> None:
        """The decision asked for here ended: close with it (None: decided elsewhere)."""
        self.pending = False
        if self.is_attached and self.app.screen is self:
            self.dismiss(None if decision == "decided elsewhere" else decision)


def _box(text: str, title: str, *, id: str | None = None, classes: str = "gate-box") -> Static:
    """One titled box of the gate's body."""
    box = Static(text, id=id, classes=classes, markup=False)
    box.border_title = title
    return box
