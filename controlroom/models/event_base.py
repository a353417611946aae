"""What every event carries: its run, its place in the run, its time, its agent.

The base of every event model (events_*.py); apart from them so each group
of events imports only this and the data it names.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EventBase"]


class EventBase(BaseModel):
    """Fields every event carries.

    ``run`` and ``seq`` are stamped by whoever publishes the event (the
    supervisor's bus, or the audit store when used alone); ``agent`` is None
    for swarm-level events. ``ts`` is seconds since the epoch (UTC).
    """

    model_config = ConfigDict(extra="forbid")

    run: str = ""
    seq: int = 0
    ts: float = Field(default_factory=time.time)
    agent: str | None = None
