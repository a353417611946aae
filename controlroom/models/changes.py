"""What an agent really changed, and where changes collide: plain values shared by every layer.

A ``ChangeSet`` is one agent's work measured against the commit its
workspace started from (committed or not, untracked files included, ignored
files left out, as ``git status`` sees it). The radar compares change sets
and names ``Collision``s; the gate holds a handoff's account of its work
against the change set and lists ``Discrepancy``s. Paths are POSIX paths
relative to the repository's top level, so two worktrees of one repository
name the same file the same way.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChangeSet",
    "Collision",
    "CollisionKind",
    "Discrepancy",
    "DiscrepancyKind",
    "FileChange",
    "FileStatus",
    "MergeCheck",
]

FileStatus = Literal["added", "modified", "deleted"]
CollisionKind = Literal["file", "manifest", "conflict"]
DiscrepancyKind = Literal["claimed_untouched", "claimed_empty", "unmentioned"]


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileChange(_Value):
    """One changed file; ``added``/``removed`` are lines (None for a binary file)."""

    path: str
    status: FileStatus = "modified"
    added: int | None = 0
    removed: int | None = 0

    def counts(self) -> str:
        """``+12 -3``, or ``binary``."""
        if self.added is None or self.removed is None:
            return "binary"
        return f"+{self.added} -{self.removed}"


class ChangeSet(_Value):
    """One agent's change set against its base commit.

    ``repo`` identifies the repository (its common git directory) and ``root``
    the working tree the agent owns: two agents are compared only within one
    repository, and never when they share one working tree (their writes
    cannot be told apart).
    """

    agent: str
    repo: str
    root: str
    branch: str = ""
    base: str = ""
    files: tuple[FileChange, ...] = ()

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(f.path for f in self.files)

    @property
    def added(self) -> int:
        return sum(f.added or 0 for f in self.files)

    @property
    def removed(self) -> int:
        return sum(f.removed or 0 for f in self.files)

    def file(self, path: str) -> FileChange | None:
        return next((f for f in self.files if f.path == path), None)


class Collision(_Value):
    """Two or more agents heading for the same place.

    ``file``: they changed the same file. ``manifest``: they pinned one
    dependency two ways (``dependency``; ``path`` lists the manifests).
    ``conflict``: their branches would conflict in ``path`` when merged.
    """

    kind: CollisionKind
    path: str
    agents: tuple[str, ...]
    dependency: str = ""
    detail: str = ""

    @property
    def key(self) -> tuple[str, str, str, tuple[str, ...]]:
        """What makes two reports the same collision (its detail may change)."""
        return (self.kind, self.path, self.dependency, self.agents)


class MergeCheck(_Value):
    """Would merging ``left`` and ``right`` conflict (``git merge-tree``), and in which files."""

    left: str
    right: str
    clean: bool
    files: tuple[str, ...] = ()


class Discrepancy(_Value):
    """Where a handoff's ``changed`` field and the diff disagree (shown, never blocking)."""

    kind: DiscrepancyKind
    path: str = ""
    text: str = Field(min_length=1)
