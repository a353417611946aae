"""The handoff timeline: who handed what to whom, and who let it through.

One line per handoff, newest last: time, ``from → to``, the gate's verdict
and who gave it, and the first words of what changed. Re-rendered only when
the list itself changes (a new handoff, a decision), not on every refresh.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from textual.content import Content
from textual.widgets import Static

__all__ = ["HandoffTimeline", "timeline_line"]

_VERDICT_STYLE = {
    "pending": "bold reverse $gate-alert",
    "approved": "$success",
    "auto": "$text-muted",
    "rejected": "$error",
    "expired": "$error",
}


def timeline_line(entry: Mapping[str, Any]) -> Content:
    """One handoff as a line of styled content."""
    clock = time.strftime("%H:%M:%S", time.localtime(float(entry.get("ts") or 0)))
    to = ", ".join(entry.get("to") or ()) or "(end)"
    state = str(entry.get("state") or "?")
    verdict = state if state in ("auto", "pending") else f"{state} by {entry.get('by') or '?'}"
    reason = entry.get("reason")
    if reason and state not in ("auto", "pending"):
        verdict += f": {reason}"
    handoff = entry.get("handoff") or {}
    changed = str(handoff.get("changed") or "").replace("\n", " ")
    attempt = int(entry.get("attempt") or 1)
    return Content.assemble(
        (clock, "$text-muted"),
        " ",
        (str(entry.get("from") or "?"), "bold"),
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
        self._signature: tuple[Any, ...] = ()

    def apply(self, handoffs: Sequence[Mapping[str, Any]]) -> bool:
        """Show ``handoffs`` (oldest first); True when the text had to change."""
        recent = handoffs[-self.limit :]
        signature = tuple(
            (e.get("ts"), e.get("from"), e.get("state"), e.get("by"), e.get("attempt"))
            for e in recent
        )
        if signature == self._signature:
            return False
        self._signature = signature
        if not recent:
            self.update("no handoffs yet")
        else:
            self.update(Content("\n").join(timeline_line(e) for e in recent))
        return True
