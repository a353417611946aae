"""Facts read back from the audit log that other layers act on (the store reads, process acts)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RecordedProcess"]


@dataclass(frozen=True)
class RecordedProcess:
    """An agent process an earlier run recorded (``agent_spawned``): pid plus create time."""

    run: str
    agent: str
    pid: int
    create_time: float
