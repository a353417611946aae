"""The collisions panel: where agents' work collides now, oldest first.

One row per collision the radar holds (the control API's ``radar`` query):
the file, the agents, how they collide (``file``: both changed it;
``manifest``: a dependency pinned two ways, named; ``conflict``: their
branches would conflict there when merged), since when, and the detail.
Rows are keyed by the collision's identity and updated in place, so the
cursor stays on the row it was on while the radar moves; a collision that
no longer holds leaves the panel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.widgets import DataTable

from controlroom.inert import inert_line
from controlroom.models.radarviews import CollisionView
from controlroom.text import duration
from controlroom.tui.keys import binding

__all__ = ["CollisionsPanel", "collision_cells", "collision_key"]

_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("path", "File", 32),
    ("agents", "Agents", 24),
    ("kind", "Kind", 9),
    ("since", "Since", 10),
    ("detail", "Detail", 60),
)

def collision_key(collision: CollisionView) -> str:
    """What makes two reports one collision: kind, path, dependency and agents."""
    agents = ",".join(collision.agents)
    return f"{collision.kind}|{collision.path}|{collision.dependency}|{agents}"


def collision_cells(collision: CollisionView, now: float) -> tuple[str, ...]:
    """A collision's row as text (one entry per column); ``now`` in epoch seconds."""
    detail = collision.detail
    if collision.dependency and not detail:
        detail = f"{collision.dependency} pinned two ways"
    return (
        inert_line(collision.path),
        inert_line(", ".join(collision.agents)),
        collision.kind,
        f"{duration(max(0.0, now - collision.since))} ago",
        inert_line(detail),
    )


class CollisionsPanel(DataTable[Text]):
    """Collisions, oldest first; ``apply(collisions, now)`` brings it up to date."""

    BINDINGS: ClassVar[list[BindingType]] = [
        binding("cursor-down", show=False),
        binding("cursor-up", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._shown: dict[str, tuple[str, ...]] = {}

    def on_mount(self) -> None:
        for key, label, width in _COLUMNS:
            self.add_column(label, key=key, width=width)

    @property
    def shown(self) -> list[tuple[str, ...]]:
        """The rows as text, in display order (for tests and the command palette)."""
        return [self._shown[str(row.key.value)] for row in self.ordered_rows]

    def apply(self, collisions: Sequence[CollisionView], now: float) -> None:
        """Show exactly ``collisions`` (oldest first), touching only what changed."""
        wanted = {collision_key(c): c for c in collisions}
        for stale in [key for key in self._shown if key not in wanted]:
            self.remove_row(stale)
            del self._shown[stale]
        for key, collision in sorted(wanted.items(), key=lambda kv: kv[1].since):
            cells = collision_cells(collision, now)
            shown = self._shown.get(key)
            if shown is None:
                self.add_row(*(Text(c, no_wrap=True) for c in cells), key=key)
            else:
                for (column, _, _), new, old in zip(_COLUMNS, cells, shown, strict=True):
                    if new != old:
                        self.update_cell(key, column, Text(new, no_wrap=True))
            self._shown[key] = cells
