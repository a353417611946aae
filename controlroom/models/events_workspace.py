"""Events of the workspaces: what agents changed, where they collide, what was merged.

Published by the radar and the merge steps (swarm/radar.py, integration.py)
from what git itself reports.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from controlroom.models.changes import Collision, CollisionKind, Discrepancy, FileChange
from controlroom.models.event_base import EventBase

__all__ = [
    "CollisionCleared",
    "CollisionFound",
    "FILES_LISTED",
    "FilesChanged",
    "HandoffChecked",
    "IntegrationReady",
    "MergeCompleted",
    "MergeRefused",
    "MergeSkipped",
    "ScopeViolation",
]


class FilesChanged(EventBase):
    """An agent's change set moved: every file it changed against ``base``, with line counts.

    ``files`` lists at most ``FILES_LISTED`` files (``file_count`` is the
    whole count). ``confirmed`` says git itself computed it (``git status``
    and ``git diff --numstat``), not the watcher's quick look at the files
    that moved.
    """

    kind: Literal["files_changed"] = "files_changed"
    branch: str = ""
    base: str = ""
    files: list[FileChange] = Field(default_factory=list)
    file_count: int = 0
    added: int = 0
    removed: int = 0
    confirmed: bool = False


FILES_LISTED = 500
"""How many files one ``files_changed`` event lists (the rest is counted)."""


class CollisionFound(EventBase):
    """Agents heading for the same place: the same file, a dependency, or a merge conflict."""

    kind: Literal["collision"] = "collision"
    collision_kind: CollisionKind
    path: str
    agents: list[str]
    dependency: str = ""
    detail: str = ""

    @classmethod
    def of(cls, collision: Collision) -> CollisionFound:
        return cls(
            collision_kind=collision.kind,
            path=collision.path,
            agents=list(collision.agents),
            dependency=collision.dependency,
            detail=collision.detail,
        )


class CollisionCleared(EventBase):
    """A collision no longer holds (an agent reverted, or the merge became clean)."""

    kind: Literal["collision_cleared"] = "collision_cleared"
    collision_kind: CollisionKind
    path: str
    agents: list[str]
    dependency: str = ""

    @classmethod
    def of(cls, collision: Collision) -> CollisionCleared:
        return cls(
            collision_kind=collision.kind,
            path=collision.path,
            agents=list(collision.agents),
            dependency=collision.dependency,
        )


class ScopeViolation(EventBase):
    """A write into the shared repository where no agent may write (``path`` names it)."""

    kind: Literal["scope_violation"] = "scope_violation"
    path: str
    detail: str = ""


class HandoffChecked(EventBase):
    """A handoff held against its agent's diff before it reached a gate."""

    kind: Literal["handoff_checked"] = "handoff_checked"
    gate_id: str = ""
    file_count: int = 0
    discrepancies: list[Discrepancy] = Field(default_factory=list)
    verdict: str = ""


class IntegrationReady(EventBase):
    """The branch approved work is merged into, ready at ``commit`` (``created`` this run)."""

    kind: Literal["integration_ready"] = "integration_ready"
    branch: str
    commit: str
    created: bool = False


class MergeCompleted(EventBase):
    """An approved agent's work merged into the integration branch as ``commit``."""

    kind: Literal["merge_completed"] = "merge_completed"
    gate_id: str = ""
    into: str
    commit: str
    source: str  # the commit merged: the agent's branch head, or its work snapshot
    by: str = ""
    files: int = 0


class MergeRefused(EventBase):
    """A merge not attempted because it would conflict; the gate waits for the operator."""

    kind: Literal["merge_refused"] = "merge_refused"
    gate_id: str = ""
    into: str
    conflicts: list[str] = Field(default_factory=list)
    by: str = ""
    reason: str = ""


class MergeSkipped(EventBase):
    """A gate approved without merging its agent's work (the operator's choice)."""

    kind: Literal["merge_skipped"] = "merge_skipped"
    gate_id: str = ""
    into: str
    by: str = ""
    reason: str = ""
