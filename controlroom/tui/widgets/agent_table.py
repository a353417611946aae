"""The agent table: one row per agent, redrawn only where a row changed.

A Line API widget (as Textual's ``Log``): it renders only the rows on
screen, and each row's ``Strip`` is cached under the row's data — so a
refresh where 3 of 100 agents changed builds 3 strips, and even a refresh
where every cell changed costs one list of segments per visible row, with no
Rich layout. (The stock ``DataTable`` re-renders every visible cell through
Rich whenever any cell changes: ~50 ms per refresh for 100 agents × 12
columns here; this widget does the same refresh in ~2 ms.)

Rows are keyed by agent name: the cursor (the operator's selection) stays
on the same agent through refreshes, sorts and filters. Colours come from
the theme's CSS variables; the header, cursor and zebra rows are component
classes styled in controlroom.tcss.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from controlroom.models.attention import Attention
from controlroom.models.views import AgentView
from controlroom.policy.attention import count_by_attention
from controlroom.tui.agent_rows import COLUMNS, SORTS, Cell, agent_attention, agent_cells, matches
from controlroom.tui.burn import BurnHistory
from controlroom.tui.keys import binding
from controlroom.tui.messages import AgentChosen, AgentHighlighted

__all__ = ["AgentTable"]

_ROW_WIDTH = sum(width + 2 for _, _, width in COLUMNS)


class AgentTable(ScrollView, can_focus=True):
    """Rows keyed by agent name; ``apply(agents, ts)`` brings it up to date."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "agent-table--header",
        "agent-table--cursor",
        "agent-table--cursor-blurred",
        "agent-table--odd",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        binding("cursor-down", show=False),
        binding("cursor-up", show=False),
        binding("page-down", show=False),
        binding("page-up", show=False),
        binding("first-row", show=False),
        binding("last-row", show=False),
        binding("open-selected"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.burn = BurnHistory()
        self.filter_text = ""
        self.group: Attention | None = None
        self.counts: dict[Attention, int] = count_by_attention(())
        self.sort_index = 0
        self.cursor_row = 0
        self._agents: Sequence[AgentView] = ()
        self._order: list[str] = []
        self._shown: dict[str, AgentView] = {}  # by name: the agents in the table
        self._cells: dict[str, tuple[Cell, ...]] = {}  # by name: the cells last worked out
        self._fresh: set[str] = set()  # whose cells are from the newest snapshot
        self._strips: dict[str, tuple[object, Strip]] = {}
        self._colors: dict[str | None, Style] = {}
        self._row_styles: dict[str, Style] = {}  # by component class ("": the plain row)
        self._cell_styles: dict[tuple[str, str | None], Style] = {}  # by class and colour
        self._header: tuple[object, Strip] | None = None
        self._highlighted: str | None = None

    def on_mount(self) -> None:
        self.virtual_size = Size(_ROW_WIDTH, 1)

    # ------------------------------------------------------------------ queries

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def rows(self) -> list[str]:
        """The agent names shown, in display order."""
        return list(self._order)

    @property
    def selected_agent(self) -> str | None:
        return self._order[self.cursor_row] if self._order else None

    @property
    def sort_column(self) -> str:
        return SORTS[self.sort_index][0]

    def cell_text(self, agent: str, column: str) -> str:
        """The text shown in one cell (for tests and the command palette)."""
        index = [key for key, _, _ in COLUMNS].index(column)
        return self._row_cells(agent)[index][0]

    # ------------------------------------------------------------------ updates

    def apply(self, agents: Sequence[AgentView], ts: float) -> int:
        """Bring the rows up to date with a snapshot's ``agents`` taken at ``ts``.

        Returns how many rows on screen are redrawn (0: nothing to redraw).
        """
        self._agents = agents
        for agent in agents:
            if agent.meter is not None:
                self.burn.observe(agent.name, agent.meter.tokens_per_minute, ts)
        return self._sync()

    def _sync(self) -> int:
        """Order every agent, then bring the rows on screen up to date.

        Every agent is grouped and sorted (the counts and the order need them
        all), but a row's cells are worked out only for the rows on screen:
        a row scrolled out of view gets its cells from the newest snapshot
        when it is drawn (``_row_cells``). Returns how many rows are redrawn.
        """
        selected = self.selected_agent
        sort_key = SORTS[self.sort_index][1]
        groups = {a.name: agent_attention(a) for a in self._agents}
        self.counts = count_by_attention(groups.values())
        shown = {
            a.name: a
            for a in self._agents
            if matches(a, self.filter_text) and (self.group is None or groups[a.name] is self.group)
        }
        keys = {name: sort_key(agent) for name, agent in shown.items()}
        order = sorted(shown, key=keys.__getitem__)
        reordered = order != self._order
        self._shown, self._order = shown, order
        self._fresh.clear()
        for gone in self._cells.keys() - shown.keys():
            del self._cells[gone]
        for gone in self._strips.keys() - shown.keys():
            del self._strips[gone]
        if reordered:
            self.virtual_size = Size(_ROW_WIDTH, len(order) + 1)
            self._place_cursor(selected)
            self.refresh()
            redrawn = len(self._rows_on_screen())
        else:
            changed = [row for row in self._rows_on_screen() if self._renew(order[row])]
            self._refresh_rows(changed)
            redrawn = len(changed)
        self._announce()
        return redrawn

    def _renew(self, name: str) -> bool:
        """Work out ``name``'s cells from the newest snapshot; True when they changed."""
        row = agent_cells(self._shown[name], self.burn.values(name))
        self._fresh.add(name)
        if self._cells.get(name) == row:
            return False
        self._cells[name] = row
        return True

    def _row_cells(self, name: str) -> tuple[Cell, ...]:
        """``name``'s cells as of the newest snapshot (worked out now if not yet)."""
        if name not in self._fresh:
            self._renew(name)
        return self._cells[name]

    def _rows_on_screen(self) -> range:
        top = round(self.scroll_y)
        visible = max(0, self.scrollable_content_region.height - 1)  # under the header line
        return range(top, min(len(self._order), top + visible))

    def _refresh_rows(self, rows: Iterable[int]) -> None:
        """Repaint these rows where they are on screen, and nothing else.

        A row scrolled out of view is not repainted: its line would lie outside
        the table, and the screen would repaint whatever is there (the detail
        pane, the gates, the footer: every widget below the table, each refresh).
        """
        shown = self._rows_on_screen()
        for row in rows:
            if row in shown:
                self.refresh_line(row + 1)

    def _place_cursor(self, selected: str | None) -> None:
        if selected is not None and selected in self._shown:
            self.cursor_row = self._order.index(selected)
        else:
            self.cursor_row = min(self.cursor_row, max(0, len(self._order) - 1))
        self._scroll_to_cursor()

    def cycle_sort(self) -> str:
        """Sort by the next column (the ``s`` key); returns its key."""
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self._header = None
        self._sync()
        self.refresh()
        return self.sort_column

    def set_sort(self, column: str) -> bool:
        """Sort by ``column`` (a key of ``SORTS``); False when there is no such sort."""
        keys = [key for key, _ in SORTS]
        if column not in keys:
            return False
        self.sort_index = keys.index(column)
        self._header = None
        self._sync()
        self.refresh()
        return True

    def set_group(self, group: Attention | None) -> None:
        """Show only the agents of one attention group (None: every group)."""
        self.group = group
        self._sync()

    def set_filter(self, text: str) -> None:
        """Show only agents whose name or state contains ``text`` (case-insensitive)."""
        self.filter_text = text.strip()
        self._sync()

    def restyle(self) -> None:
        """Forget every cached row: the theme changed."""
        self._forget_styles()
        self.refresh()

    # ------------------------------------------------------------------ cursor

    def _move(self, row: int) -> None:
        if not self._order:
            return
        row = max(0, min(row, len(self._order) - 1))
        if row == self.cursor_row:
            return
        old, self.cursor_row = self.cursor_row, row
        self._scroll_to_cursor()
        self._refresh_rows((old, row))
        self._announce()

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False, immediate=True)

    def _announce(self) -> None:
        selected = self.selected_agent
        if selected != self._highlighted:
            self._highlighted = selected
            self.post_message(AgentHighlighted(selected))

    def action_cursor_down(self) -> None:
        self._move(self.cursor_row + 1)

    def action_cursor_up(self) -> None:
        self._move(self.cursor_row - 1)

    def action_page_down(self) -> None:
        self._move(self.cursor_row + max(1, self.scrollable_content_region.height - 2))

    def action_page_up(self) -> None:
        self._move(self.cursor_row - max(1, self.scrollable_content_region.height - 2))

    def action_first_row(self) -> None:
        self._move(0)

    def action_last_row(self) -> None:
        self._move(len(self._order) - 1)

    def action_open_selected(self) -> None:
        if (agent := self.selected_agent) is not None:
            self.post_message(AgentChosen(agent))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        row = round(self.scroll_y) + offset.y - 1
        if 0 <= row < len(self._order):
            self._move(row)
            if event.chain >= 2:
                self.action_open_selected()

    def on_focus(self) -> None:
        self._refresh_rows((self.cursor_row,))

    def on_blur(self) -> None:
        self._refresh_rows((self.cursor_row,))

    # ------------------------------------------------------------------ rendering

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x = round(self.scroll_x)
        if y == 0:
            strip, pad = self._header_strip()
        else:
            index = round(self.scroll_y) + y - 1
            if index >= len(self._order):
                return Strip.blank(width, self._row_style(""))
            strip, pad = self._row_strip(index)
        return strip.crop_extend(scroll_x, scroll_x + width, pad)

    def _header_strip(self) -> tuple[Strip, Style]:
        style = self._row_style("agent-table--header")
        key = (style, self.sort_index)
        if self._header is not None and self._header[0] == key:
            return self._header[1], style
        sorted_by = self.sort_column
        segments = []
        for column, label, width in COLUMNS:
            text = f"{label} ▼" if column == sorted_by else label
            segments.append(Segment(f" {set_cell_size(text, width)} ", style))
        strip = Strip(segments, _ROW_WIDTH)
        self._header = (key, strip)
        return strip, style

    def _row_strip(self, index: int) -> tuple[Strip, Style]:
        """One row as a strip; cells side by side in the same style are one segment."""
        name = self._order[index]
        cells = self._row_cells(name)
        if index == self.cursor_row:
            kind = "agent-table--cursor" if self.has_focus else "agent-table--cursor-blurred"
        else:
            kind = "agent-table--odd" if index % 2 else ""
        row_style = self._row_style(kind)
        key = (cells, kind)
        cached = self._strips.get(name)
        if cached is not None and cached[0] == key:
            return cached[1], row_style
        segments: list[Segment] = []
        run: list[str] = []
        run_style: Style | None = None
        for (text, variable), (_, _, width) in zip(cells, COLUMNS, strict=True):
            style = self._cell_style(kind, variable)
            if style is not run_style and run:
                segments.append(Segment("".join(run), run_style))
                run = []
            run.append(f" {set_cell_size(text, width)} ")
            run_style = style
        segments.append(Segment("".join(run), run_style))
        strip = Strip(segments, _ROW_WIDTH)
        self._strips[name] = (key, strip)
        return strip, row_style

    def _row_style(self, kind: str) -> Style:
        """The widget's style plus component class ``kind`` ("": none), kept until CSS changes
        (``rich_style`` walks every ancestor's styles: per line, a third of drawing the table)."""
        style = self._row_styles.get(kind)
        if style is None:
            style = self.rich_style
            if kind:
                style += self.get_component_rich_style(kind)
            self._row_styles[kind] = style
        return style

    def _cell_style(self, kind: str, variable: str | None) -> Style:
        style = self._cell_styles.get((kind, variable))
        if style is None:
            style = self._row_style(kind) + self._color(variable)
            self._cell_styles[kind, variable] = style
        return style

    def notify_style_update(self) -> None:
        """CSS was applied again (focus, theme, a parent's style): forget the styles worked out."""
        super().notify_style_update()
        self._forget_styles()

    def _forget_styles(self) -> None:
        self._row_styles.clear()
        self._cell_styles.clear()
        self._colors.clear()
        self._strips.clear()
        self._header = None

    def _color(self, variable: str | None) -> Style:
        style = self._colors.get(variable)
        if style is None:
            color = self.app.theme_variables.get(variable) if variable else None
            try:
                style = Style(color=color) if color else Style()
            except Exception:  # noqa: BLE001 - a colour Rich cannot parse: leave it plain
                style = Style()
            self._colors[variable] = style
        return style
