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
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from controlroom._errors import ControlRoomError
from controlroom.control.port import ControlPort
from controlroom.text import duration
from controlroom.tui.host import Decision, Operations, operator_of
from controlroom.tui.keys import MUTATING_ACTIONS, binding
from controlroom.tui.screens.agent import describe_limit, describe_spend
from controlroom.tui.widgets.diff_view import DiffView

__all__ = [
    "GateScreen",
    "describe_discrepancies",
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


def describe_wait(gate: dict[str, Any], now: float | None = None) -> tuple[str, float | None]:
    """``waiting 1m 05s · expires in 58m 55s`` and the seconds left (None: no timeout)."""
    now = time.time() if now is None else now
    created = gate.get("created")
    age = (
        now - float(created)
        if isinstance(created, int | float)
        else float(gate.get("age_seconds") or 0.0)
    )
    text = f"waiting {duration(age)}"
    timeout = gate.get("timeout_seconds")
    if not isinstance(timeout, int | float):
        return text + " · no timeout", None
    left = float(timeout) - age
    if left <= 0:
        return text + " · timeout reached: it expires (a rejection) now", 0.0
    return text + f" · expires in {duration(left)} (then it counts as rejected)", left


def describe_radar(gate: dict[str, Any]) -> str:
    """The radar's verdict for the gate's branch, and its place in the suggested merge order."""
    text = str(gate.get("verdict") or "no verdict yet")
    order = gate.get("merge_order")
    if isinstance(order, int):
        text += f"\nsuggested merge order: {order} (branches waiting, fewest conflicts first)"
    return text


def describe_discrepancies(gate: dict[str, Any]) -> str:
    """Where the handoff's ``changed`` and the diff disagree, one per line (shown, not blocking)."""
    found = [str(d.get("text") or "") for d in gate.get("discrepancies") or []]
    if not found:
        return "none: the handoff's account matches the diff"
    return "\n".join(f"! {text}" for text in found)


def handoff_boxes(handoff: dict[str, Any]) -> list[tuple[str, str]]:
    """The three handoff fields as (box title, text), in the order the agent wrote them."""
    return [(title, str(handoff.get(key) or "")) for key, title in _HANDOFF_TITLES]


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
        gate: dict[str, Any],
        agent: dict[str, Any] | None,
        *,
        clock: Callable[[], float] | None = None,
    ):
        """``clock`` (epoch seconds) ages the gate; default: the app's ``clock``, else time.time."""
        super().__init__()
        self._clock = clock
        self.port = port
        self.gate = dict(gate)
        self.gate_id = str(gate.get("id", ""))
        self.agent = agent
        self.pending = True
        self._diff_of: object = None  # the changed files the diff shown was asked for

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        gate = self.gate
        kind = str(gate.get("kind", ""))
        yield Static(self._title(), id="gate-header", markup=False)
        yield Static("", id="gate-wait", markup=False)
        yield Static(describe_spend(self._meter()), id="gate-spend", markup=False)
        with Horizontal(id="gate-main"):
            yield from self._body(gate, kind)
            if self.shows_diff:
                yield DiffView(id="gate-diff")
        yield Footer()

    @property
    def shows_diff(self) -> bool:
        return self.gate.get("kind") == "handoff"

    def _body(self, gate: dict[str, Any], kind: str) -> ComposeResult:
        with VerticalScroll(id="gate-body"):
            if self.shows_diff:
                verdict = Static(
                    describe_radar(gate), id="gate-verdict", classes="gate-box", markup=False
                )
                verdict.border_title = "radar"
                yield verdict
                found = Static(
                    describe_discrepancies(gate),
                    id="gate-discrepancies",
                    classes="gate-box",
                    markup=False,
                )
                found.border_title = "handoff vs diff"
                found.set_class(not gate.get("discrepancies"), "-none")
                yield found
            if kind == "handoff" and gate.get("handoff"):
                for title, text in handoff_boxes(gate["handoff"]):
                    box = Static(text, classes="gate-box gate-handoff", markup=False)
                    box.border_title = title
                    yield box
            elif kind == "tool" and gate.get("tool"):
                tool = gate["tool"]
                name = Static(str(tool.get("name", "")), id="gate-tool-name", markup=False)
                name.border_title = "tool"
                yield name
                body = Static(
                    json.dumps(tool.get("input", {}), indent=2, ensure_ascii=False),
                    id="gate-tool-input",
                    classes="gate-box",
                    markup=False,
                )
                body.border_title = "input"
                yield body
            else:
                question = Static(
                    str(gate.get("title") or "(no title)"), classes="gate-box", markup=False
                )
                question.border_title = "question"
                yield question
                detail = Static(
                    str(gate.get("detail") or "(no detail)"), classes="gate-box", markup=False
                )
                detail.border_title = "detail"
                yield detail
            yield Static("", id="gate-limits", classes="gate-box", markup=False)

    def _title(self) -> str:
        gate = self.gate
        kind = gate.get("kind", "")
        agent = gate.get("agent", "")
        what = {
            "handoff": f"handoff from {agent}"
            + (f" to {gate['stage']}" if gate.get("stage") else ""),
            "tool": f"tool call by {agent}",
            "agent": f"question from {agent}",
        }.get(str(kind), f"{kind} gate of {agent}")
        title = f" · {gate['title']}" if gate.get("title") and kind == "tool" else ""
        return f"GATE {self.gate_id} · {what}{title}"

    def now(self) -> float:
        """Now, by the clock given, or the app's (a test pins it there), or the system's."""
        clock = self._clock or getattr(self.app, "clock", None) or time.time
        return float(clock())

    def _meter(self) -> dict[str, Any] | None:
        return (self.agent or {}).get("meter")

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
        self._diff_of = self.gate.get("changed_files")
        try:
            found = await self.port.call("diff", {"agent": str(self.gate.get("agent", ""))})
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
        limits = ((self._meter() or {}).get("limits")) or []
        self.query_one("#gate-limits", Static).update(
            "\n".join(describe_limit(lim) for lim in limits) or "no limits"
        )
        self.query_one("#gate-spend", Static).update(
            f"{self.gate.get('agent', '')}: {describe_spend(self._meter())}"
        )

    async def refresh_gate(self) -> None:
        """Countdown, the agent's spend and whether the gate is still pending; re-armed."""
        try:
            if self.app.screen is self:
                snapshot = await self.port.snapshot()
                name = self.gate.get("agent")
                for agent in snapshot.get("agents", []):
                    if agent.get("name") == name:
                        self.agent = agent
                for gate in snapshot.get("gates", []):
                    if gate.get("id") == self.gate_id:
                        self._radar_moved(gate)
                still = any(g.get("id") == self.gate_id for g in snapshot.get("gates", []))
                if self.pending and not still:
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

    def _radar_moved(self, gate: dict[str, Any]) -> None:
        """The live verdict and discrepancies; the diff again when the agent's files changed."""
        if not self.shows_diff:
            return
        for key in ("verdict", "merge_order", "discrepancies"):
            self.gate[key] = gate.get(key)
        self.query_one("#gate-verdict", Static).update(describe_radar(self.gate))
        found = self.query_one("#gate-discrepancies", Static)
        found.update(describe_discrepancies(self.gate))
        found.set_class(not self.gate.get("discrepancies"), "-none")
        if gate.get("changed_files") != self._diff_of:
            self.gate["changed_files"] = gate.get("changed_files")
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
