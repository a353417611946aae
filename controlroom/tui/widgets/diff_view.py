"""An agent's diff against its base: the files with their +/- counts, then the diff, coloured.

Shown at a handoff gate beside the three fields, so the reviewer approves
the change and not only its account. The data is the control API's
``diff`` answer (``models.radarviews.AgentDiff``). The diff is
highlighted by Rich's ``Syntax`` with the diff lexer, in a syntax theme
made from the app's theme (added lines in ``$success``, removed in
``$error``, hunks in ``$accent``), so a theme switch recolours it. What
the agent wrote is made inert before it is drawn (and the app's
``InertFilter`` still applies). A very long diff is cut at ``MAX_LINES``:
``controlroom diff AGENT`` prints the whole of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pygments.token import Generic, Token
from rich.style import Style
from rich.syntax import ANSISyntaxTheme, Syntax
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.theme import Theme
from textual.widgets import Static

from controlroom.inert import inert, inert_line
from controlroom.models.radarviews import AgentDiff
from controlroom.text import changes_summary, file_line

__all__ = ["MAX_LINES", "DiffView", "diff_syntax"]

MAX_LINES = 4000
"""Lines of diff drawn at a gate (the rest: ``controlroom diff AGENT``)."""


def diff_syntax(text: str, colors: Mapping[str, str]) -> Syntax:
    """``text`` (a unified diff) highlighted with ``colors`` (CSS variables of the app's theme)."""

    def style(name: str, **extra: Any) -> Style:
        return Style(color=colors.get(name), **extra)

    theme = ANSISyntaxTheme(
        {
            Token: Style(color=colors.get("foreground")),
            Generic.Inserted: style("success"),
            Generic.Deleted: style("error"),
            Generic.Subheading: style("accent"),
            Generic.Heading: style("primary", bold=True),
            Generic.Strong: style("primary", bold=True),
        }
    )
    return Syntax(text, "diff", theme=theme, word_wrap=False, tab_size=4)


class DiffView(VerticalScroll, can_focus=True):
    """The files an agent changed and its diff; scroll with the arrows and page keys."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.found: AgentDiff | None = None
        self.shown_lines = 0

    def compose(self) -> ComposeResult:
        yield Static("asking git for the diff…", id="diff-summary", markup=False)
        yield Static("", id="diff-files", markup=False)
        yield Static("", id="diff-text", markup=False)

    def on_mount(self) -> None:
        self.border_title = "diff against its base"
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def show(self, found: AgentDiff) -> None:
        """Draw a ``diff`` answer: summary, file list, the diff."""
        self.found = found
        summary = self.query_one("#diff-summary", Static)
        if not found.tracked:
            summary.update(f"not tracked: {inert_line(found.why)}")
            self.query_one("#diff-files", Static).update("")
            self.query_one("#diff-text", Static).update("")
            return
        files = found.files
        if not files:
            summary.update("no changes against its base")
        else:
            counts = changes_summary(len(files), found.added, found.removed)
            summary.update(f"{counts} against {found.base[:12]} on {inert_line(found.branch)}")
        self.query_one("#diff-files", Static).update("\n".join(file_line(f) for f in files))
        self._draw_diff()

    def show_error(self, text: str) -> None:
        self.query_one("#diff-summary", Static).update(f"no diff: {inert_line(text)}")

    def _draw_diff(self) -> None:
        found = self.found
        if found is None:
            return
        lines = inert(found.diff).splitlines()
        cut = len(lines) - MAX_LINES
        text = "\n".join(lines[:MAX_LINES])
        if cut > 0 or found.truncated:
            more = f"{cut} more lines" if cut > 0 else "more"
            text += f"\n… {more}: controlroom diff {inert_line(found.agent)}"
        self.shown_lines = min(len(lines), MAX_LINES)
        self.query_one("#diff-text", Static).update(
            diff_syntax(text, self.app.get_css_variables()) if text else ""
        )

    def _theme_changed(self, theme: Theme) -> None:
        if self.found is not None and self.found.tracked:
            self._draw_diff()
