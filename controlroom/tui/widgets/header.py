"""The strip across the top: the swarm at a glance, and what needs the operator.

Swarm name, agents running of total, tokens, cost against the swarm cap (a
bar), burn rate, and the pending-gate count — which turns loud (``-alert``:
``$gate-alert``, reverse, bold, in controlroom.tcss) whenever anything
waits. A second line carries the app's banner (the emergency stop's result,
a lost connection) while it lasts. Labels are only touched when their text
changes, and laid out again only when its width does.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label

from controlroom.models.views import SwarmView
from controlroom.text import money, rate_per_hour, tokens_short
from controlroom.tui.cells import bar, meter_level

__all__ = ["SwarmHeader"]

_LEVELS = ("-ok", "-warn", "-over")


class SwarmHeader(Vertical):
    """Totals from a snapshot; ``set_banner`` for the operator's attention."""

    def __init__(self, *, read_only: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.read_only = read_only
        self._texts: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(id="hdr-line"):
            yield Label("controlroom", id="hdr-swarm")
            yield Label("READ-ONLY", id="hdr-readonly", classes="" if self.read_only else "-hidden")
            yield Label("starting…", id="hdr-agents")
            yield Label("", id="hdr-tokens")
            yield Label("", id="hdr-cost")
            yield Label("", id="hdr-burn")
            yield Label("", id="hdr-collisions", classes="-hidden")
            yield Label("no gates waiting", id="hdr-gates")
        yield Label("", id="hdr-banner", classes="-hidden")

    def _set(self, widget_id: str, text: str) -> None:
        """Show ``text``; a full layout only when its width changes (the totals tick 4×/s)."""
        old = self._texts.get(widget_id)
        if old != text:
            self._texts[widget_id] = text
            resized = old is None or cell_len(old) != cell_len(text)
            self.query_one(f"#{widget_id}", Label).update(text, layout=resized)

    def update_from(self, snapshot: SwarmView) -> None:
        """Show the totals of a snapshot; touches only labels whose text changed.

        The main screen calls it after the frame that paints the rest of a
        refresh: Textual repaints the box around everything dirty in a frame,
        and the top line changing with the table and the detail pane made that
        box the whole screen, every widget in it repainted (the header's ten
        and the attention bar's eight included). Two frames paint ~10 % less.
        """
        totals = snapshot.totals
        self._set("hdr-swarm", f"◉ {snapshot.swarm}")
        self._set("hdr-agents", f"agents {totals.running}/{totals.agents} running")
        self._set("hdr-tokens", f"tokens {tokens_short(totals.total_tokens)}")
        cost = totals.cost_usd
        cap = totals.max_cost_usd
        if cap:
            fraction = cost / cap
            text = f"{money(cost)} of {money(cap)} {bar(fraction, 10)} {fraction:4.0%}"
            level = f"-{meter_level(fraction)}"
        else:
            text, level = f"{money(cost)} (no swarm cap)", "-ok"
        self._set("hdr-cost", text)
        cost_label = self.query_one("#hdr-cost", Label)
        if not cost_label.has_class(level):
            cost_label.remove_class(*_LEVELS).add_class(level)
        self._set("hdr-burn", f"burn {rate_per_hour(totals.cost_per_hour)}")
        collisions = totals.collisions  # the radar's, now (c lists them)
        plural = "" if collisions == 1 else "s"
        self._set("hdr-collisions", f"{collisions} collision{plural} (c)" if collisions else "")
        self.query_one("#hdr-collisions", Label).set_class(not collisions, "-hidden")
        gates = totals.pending_gates
        label = (
            "no gates waiting"
            if gates == 0
            else f" {gates} GATE{'S' if gates > 1 else ''} WAITING (g) "
        )
        self._set("hdr-gates", label)
        self.query_one("#hdr-gates", Label).set_class(gates > 0, "-alert")

    def set_banner(self, text: str | None, severity: str = "warning") -> None:
        """A line under the strip (None hides it); severity picks its colour class."""
        key = f"{severity}:{text}" if text else ""
        if self._texts.get("hdr-banner") == key:
            return
        self._texts["hdr-banner"] = key
        banner = self.query_one("#hdr-banner", Label)
        banner.remove_class("-warning", "-error", "-information")
        if text:
            banner.update(text)
            banner.add_class(f"-{severity}")
        banner.set_class(not text, "-hidden")
