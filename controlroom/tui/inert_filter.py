"""The dashboard's last line of defence: no line it draws carries a control sequence.

Rich strips a few control characters from text (BEL, backspace, CR) but
writes ESC through: an agent's gate title holding ``ESC]0;…`` retitled the
operator's window from the gate queue, ``ESC]52;…`` wrote the clipboard,
and ``ESC[1G ESC[K fake: gate approved`` drew over the detail pane. Every
widget shows agent text somewhere (rows, gate queue, detail pane, log
tails, toasts, the command palette), so instead of trusting each of them
the app installs ``InertFilter`` as a Textual line filter: every segment of
every line passes ``controlroom.inert`` on its way to the terminal. Textual's
own control segments (cursor moves) are left alone; what goes is zero-width,
so the layout does not move.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.color import Color
from textual.filter import LineFilter

from controlroom.inert import inert

__all__ = ["InertFilter"]


class InertFilter(LineFilter):
    """Strips control and escape sequences from the text of every segment."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        cleaned: list[Segment] | None = None
        for index, segment in enumerate(segments):
            text = segment.text
            if segment.is_control or not text:
                continue
            safe = inert(text)
            if safe is text:
                continue
            if cleaned is None:
                cleaned = list(segments)
            cleaned[index] = Segment(safe, segment.style, segment.control)
        return segments if cleaned is None else cleaned
