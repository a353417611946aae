"""The words of notifications: what was sent to whom, what failed, and what a notice says.

``notice_text`` is the one sentence a webhook, a command or a terminal
receives about an event.
"""

from __future__ import annotations

from controlroom.inert import inert_line
from controlroom.models import (
    EventBase,
    NotificationFailed,
    NotificationSent,
)
from controlroom.text.numbers import counted, duration
from controlroom.text.registry import colon, describe, one_line, words

__all__ = ["notice_text"]


def _tries(attempts: int) -> str:
    return counted(attempts, "attempt")


def _by(channel: str, target: str) -> str:
    return f"{channel} {target}" if target and target != channel else channel


words(NotificationSent)(
    lambda e: (
        f"notified {e.notice} by {_by(e.channel, e.target)} ({e.notify}; "
        f"{_tries(e.attempts)}, {e.duration_ms:.0f} ms)"
    )
)
words(NotificationFailed)(
    lambda e: (
        f"notification of {e.notice} by {_by(e.channel, e.target)} FAILED after "
        f"{_tries(e.attempts)} ({e.notify}){colon(one_line(e.error))}"
    )
)


def notice_text(swarm: str, notice: str, event: EventBase, waited: float | None = None) -> str:
    """What a notification says: ``[swarm] agent: gate_waiting for 5:00: gate g-1 requested…``."""
    who = f"{event.agent}: " if event.agent else ""
    wait = f" for {duration(waited)}" if waited is not None else ""
    return inert_line(f"[{swarm}] {who}{notice.replace('_', ' ')}{wait}: {describe(event)}")
