"""The words of the workspaces: change sets, collisions, merges, and a changed file's line.

Registered for the radar's and the merges' events; ``file_line`` and the
change-set summaries are what the gate screen, ``diff`` and the agent table
print.
"""

from __future__ import annotations

from controlroom.inert import inert_line
from controlroom.models import (
    CollisionCleared,
    CollisionFound,
    FileChange,
    FilesChanged,
    HandoffChecked,
    IntegrationReady,
    MergeCompleted,
    MergeRefused,
    MergeSkipped,
    ScopeViolation,
)
from controlroom.text.numbers import counted
from controlroom.text.registry import colon, one_line, words

__all__ = ["changes_cell", "changes_summary", "file_line"]


def _files(count: int) -> str:
    return counted(count, "file")


@words(FilesChanged)
def _files_changed(e: FilesChanged) -> str:
    if not e.file_count:
        return f"no changes against {e.base[:7]}"
    return f"changed {_files(e.file_count)} (+{e.added} -{e.removed}) against {e.base[:7]}"


@words(HandoffChecked)
def _handoff_checked(e: HandoffChecked) -> str:
    found = len(e.discrepancies)
    claims = counted(found, "discrepancy", "discrepancies") if found else "it matches"
    return f"handoff held against {_files(e.file_count)}: {claims}; {e.verdict}"


@words(MergeRefused)
def _merge_refused(e: MergeRefused) -> str:
    why = f"conflicts in {', '.join(e.conflicts)}" if e.conflicts else one_line(e.reason)
    return f"merge into {e.into} refused: {why}"


_STATUS_MARKS = {"added": "A", "modified": "M", "deleted": "D"}


def file_line(change: FileChange) -> str:
    """``M  src/client.py  +12 -3``: one changed file as the gate screen and ``diff`` list it."""
    mark = _STATUS_MARKS.get(change.status, "?")
    return f"{mark}  {inert_line(change.path)}  {change.counts()}"


def changes_summary(count: int, added: int, removed: int) -> str:
    """``3 files, +52 -3``: the whole of a change set."""
    return f"{_files(count)}, +{added} -{removed}"


def changes_cell(count: int, added: int, removed: int) -> str:
    """``3 +52-3``: the agent table's files-changed cell (``0`` for no change)."""
    return f"{count} +{added}-{removed}" if count else "0"


words(CollisionFound)(lambda e: f"collision ({e.collision_kind}) {e.path}: {one_line(e.detail)}")
words(CollisionCleared)(
    lambda e: f"collision cleared ({e.collision_kind}) {e.path}: {', '.join(e.agents)}"
)
words(ScopeViolation)(lambda e: f"scope violation: {e.path} {one_line(e.detail)}")
words(IntegrationReady)(
    lambda e: f"integration branch {e.branch} {'made' if e.created else 'found'} at {e.commit[:7]}"
)
words(MergeCompleted)(lambda e: f"merged into {e.into} as {e.commit[:7]} ({_files(e.files)})")
words(MergeSkipped)(lambda e: f"approved without merging into {e.into} by {e.by}{colon(e.reason)}")
