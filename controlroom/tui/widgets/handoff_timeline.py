"""The handoff timeline: who handed what to whom, and who let it through.

One line per handoff, newest last: time, ``from → to``, the gate's verdict
and who gave it, and the first words of what changed. Re-rendered only when
the list itself changes (a new handoff, a decision), not on every refresh.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from textual.content import Content
from textual.widgets import Static

from controlroom.models.views import HandoffView

__all__ = ["HandoffTimeline", "timeline_line"]

_VERDICT_STYLE = {
    "pending": "bold reverse $gate-alert",
    "approved": "$success",
    "auto": "$text-muted",
    "rejected": "$error",
    "expired": "$error",
}


def timeline_line(entry: HandoffView) -> Content:
    """One handoff as a line of styled content."""
    clock = time.strftime("%H:%M:%S", time.localtime(entry.ts))
    to = ", ".join(entry.to) or "(end)"
    state = entry.state
    verdict = state if state in ("auto", "pending") else f"{state} by {entry.by or '?'}"
    if entry.reason and state not in ("auto", "pending"):
        verdict += f": {entry.reason}"
    changed = entry.handoff.changed.replace("\n", " ")
    attempt = entry.attempt
    return Content.assemble(
        (clock, "$text-muted"),
        " ",
        (entry.from_ or "?", "bold"),
        " → ",
        (to, "bold"),
        f" (try {attempt}) " if attempt > 1 else " ",
        (f"[{verdict}]", _VERDICT_STYLE.get(state, "")),
        " ",
        (changed[:120], "$text-muted"),
    )


class HandoffTimeline(Static):
    """The last ``limit`` handoffs from a snapshot."""

    def __init__(self, *, limit: int = 50, id: str | None = None) -> None:
        super().__init__("no handoffs yet", id=id)
        self.limit = limit
        self._signature: tuple[tuple[float, str, str, str, int], ...] = ()

    def apply(self, handoffs: Sequence[HandoffView]) -> bool:
        """Show ``handoffs`` (oldest first); True when the text had to change."""
        recent = handoffs[-self.limit :]
        signature = tuple((e.ts, e.from_, e.state, e.by, e.attempt) for e in recent)
        if signature == self._signature:
            return False
        self._signature = signature
        if not recent:
            self.update("no handoffs yet")
        else:
            self.update(Content("\n").join(timeline_line(e) for e in recent))
        return True
