"""Which events must reach the operator at once, in words, with a severity.

A toast and the terminal bell for: a gate starting to wait, a budget warning,
a budget stop, a limit the kernel enforced, a breaker opening, a crash, an
orphan of an earlier run, a stream the proxy cut at a cap, an agent whose
own usage report disagrees with the wire, two agents' work colliding (the
same file, a dependency pinned two ways, a merge conflict: ``c`` lists
them), a write into the shared repository that no agent owns, and a
notification ([[notify]]) that did not get through: the pager is down. The kind
is checked first, so the thousands of usage and output events a second cost
one set lookup; only alerts are worded (by ``controlroom.text``, as the
headless log words them).

``AlertBatcher`` coalesces a burst (a swarm of 100 agents crossing 80 % of
a shared cost cap at once) into one toast instead of a hundred.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from controlroom.models.events import Event
from controlroom.models.kinds import EventKind

__all__ = ["ALERT_KINDS", "Alert", "AlertBatcher", "Severity", "alert_for"]

Severity = Literal["information", "warning", "error"]

ALERT_KINDS: Mapping[str, tuple[str, Severity]] = {
    EventKind.GATE_REQUESTED: ("Gate waiting", "warning"),
    EventKind.BUDGET_WARNING: ("Budget warning", "warning"),
    EventKind.BUDGET_EXCEEDED: ("Budget stop", "error"),
    EventKind.LIMIT_EXCEEDED: ("Limit enforced", "error"),
    EventKind.BREAKER_OPENED: ("Breaker open", "error"),
    EventKind.AGENT_CRASHED: ("Agent crashed", "error"),
    EventKind.ORPHAN_FOUND: ("Orphan process", "error"),
    EventKind.STREAM_CUT: ("Stream cut at a cap", "error"),
    EventKind.METER_DISAGREEMENT: ("Meter disagreement", "warning"),
    EventKind.COLLISION: ("Collision", "warning"),
    EventKind.SCOPE_VIOLATION: ("Scope violation", "error"),
    EventKind.NOTIFICATION_FAILED: ("Notification failed", "warning"),
}
"""Event kind → (toast title, severity)."""


@dataclass(frozen=True)
class Alert:
    kind: str
    title: str
    message: str
    severity: Severity


def alert_for(event: Event) -> Alert | None:
    """The alert an event raises, or None (most events raise none)."""
    found = ALERT_KINDS.get(event.kind)
    if found is None:
        return None
    from controlroom.text import describe

    title, severity = found
    text = describe(event)
    return Alert(event.kind, title, f"{event.agent}: {text}" if event.agent else text, severity)


class AlertBatcher:
    """Collects alerts between flushes; a flush of many becomes one summary."""

    def __init__(self, max_separate: int = 3) -> None:
        self.max_separate = max_separate
        self._pending: list[Alert] = []

    def add(self, alert: Alert) -> None:
        self._pending.append(alert)

    def __bool__(self) -> bool:
        return bool(self._pending)

    def flush(self) -> list[Alert]:
        """The alerts to show now: each one, or a single summary of a burst."""
        pending, self._pending = self._pending, []
        if len(pending) <= self.max_separate:
            return pending
        kinds = Counter(a.title for a in pending)
        worst: Severity = "error" if any(a.severity == "error" for a in pending) else "warning"
        summary = ", ".join(f"{n}× {title.lower()}" for title, n in kinds.most_common())
        first = "\n".join(a.message for a in pending[: self.max_separate])
        more = len(pending) - self.max_separate
        return [
            Alert(
                "burst", f"{len(pending)} alerts", f"{summary}\n{first}\n… and {more} more", worst
            )
        ]
