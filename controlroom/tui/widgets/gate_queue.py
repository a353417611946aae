"""The pending-gate queue: what waits for the operator, oldest first, with its age.

Rows are keyed by gate id and updated in place like the agent table (only
changed cells; the age column ticks), so ``a`` with the queue focused
approves exactly the gate under the cursor, not one that slid into its place.
A handoff whose branch the radar tracks shows its place in the suggested
merge order (``merge #1``: fewest conflicts with the other waiting branches).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.widgets import DataTable

from controlroom.models.views import GateView
from controlroom.text import duration
from controlroom.tui.keys import binding
from controlroom.tui.messages import GateChosen

__all__ = ["GateQueue", "gate_cells"]

_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("age", "Age/timeout", 15),  # "1:02:05/2:00:00" whole
    ("agent", "Agent", 12),
    ("title", "What", 32),
    ("id", "Gate", 11),
)


def gate_cells(gate: GateView) -> tuple[str, ...]:
    """A gate's row as text (one entry per column)."""
    timeout = gate.timeout_seconds
    age = duration(gate.age_seconds)
    title = gate.title
    if gate.kind == "tool" and gate.tool:
        title = title or f"{gate.tool.get('name', 'tool')} call"
    order = gate.merge_order
    merge = f"merge #{order} · " if order is not None else ""  # the radar's suggestion
    return (
        f"{age}/{duration(timeout)}" if timeout else age,
        gate.agent or "-",
        f"[{gate.kind}] {merge}" + title.replace("\n", " ")[:80],
        gate.id,
    )


class GateQueue(DataTable[Text]):
    """Pending gates, oldest first; ``apply(gates)`` brings it up to date."""

    BINDINGS: ClassVar[list[BindingType]] = [
        binding("cursor-down", show=False),
        binding("cursor-up", show=False),
        binding("open-selected", action="select_cursor"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self._shown: dict[str, tuple[str, ...]] = {}
        self._gates: dict[str, GateView] = {}

    def on_mount(self) -> None:
        for key, label, width in _COLUMNS:
            self.add_column(label, key=key, width=width)

    @property
    def gates(self) -> list[GateView]:
        """The pending gates, oldest first."""
        return [self._gates[str(row.key.value)] for row in self.ordered_rows]

    @property
    def selected_gate(self) -> GateView | None:
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return self._gates.get(str(row_key.value))

    def apply(self, gates: Sequence[GateView]) -> None:
        """Show exactly ``gates``, oldest first, touching only what changed."""
        self._gates = {g.id: g for g in gates}
        selected = self.selected_gate
        for stale in [gid for gid in self._shown if gid not in self._gates]:
            self.remove_row(stale)
            del self._shown[stale]
        added = False
        for gid, gate in sorted(self._gates.items(), key=lambda item: item[1].created):
            cells = gate_cells(gate)
            shown = self._shown.get(gid)
            if shown is None:
                self.add_row(*(Text(c, no_wrap=True) for c in cells), key=gid)
                added = True
            else:
                for (column, _, _), new, old in zip(_COLUMNS, cells, shown, strict=True):
                    if new != old:
                        self.update_cell(gid, column, Text(new, no_wrap=True))
            self._shown[gid] = cells
        if added:  # a new gate is the youngest, but keep the order honest anyway
            created = {gid: g.created for gid, g in self._gates.items()}
            self.sort("id", key=lambda cell: (created.get(cell.plain, 0.0), cell.plain))
        if selected is not None and selected.id in self._shown:
            index = self.get_row_index(selected.id)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        gate = self._gates.get(str(event.row_key.value))
        if gate is not None:
            self.post_message(GateChosen(gate))
