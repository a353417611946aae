"""What the control API says about agents' changes: diffs, a gate's radar, the collisions.

These are the radar's answers in the shape screens and scripts read them
(``controlroom diff``, ``controlroom gates --format jsonl``, the gate
screen, the collisions panel). They are built in ``control.radarviews``
from the live radar; an agent whose workspace is not tracked (no git
repository, or the radar is off) still gets a value, ``tracked=False``
with the reason, so a script never has to guess why a key is missing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from controlroom.models.changes import CollisionKind, Discrepancy, FileChange

__all__ = [
    "AgentDiff",
    "ChangeCounts",
    "CollisionView",
    "Conflict",
    "GateRadar",
    "GateRadarFields",
    "RadarView",
]


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChangeCounts(_View):
    """How much an agent changed: the agent table's files-changed column."""

    tracked: bool = False
    files: int = 0
    added: int = 0
    removed: int = 0


class Conflict(_View):
    """Merging this agent's work with ``other``'s would conflict in ``files``."""

    other: str
    files: list[str] = Field(default_factory=list)


class GateRadarFields(BaseModel):
    """The radar's six keys of a gate, declared once: ``GateRadar`` and the gate view carry them."""

    changed_files: list[FileChange] = Field(default_factory=list)
    file_count: int = 0
    conflicts: list[Conflict] = Field(default_factory=list)
    discrepancies: list[Discrepancy] = Field(default_factory=list)
    verdict: str = ""
    merge_order: int | None = None


class GateRadar(GateRadarFields, _View):
    """The radar's part of a handoff gate: what changed, what conflicts, what the handoff missed.

    These are keys of every gate the control API returns (empty for a tool
    or question gate; ``verdict`` says ``not tracked: …`` for a handoff
    whose workspace the radar does not track). ``merge_order`` is this
    gate's place (1 first) in the suggested order for merging the branches
    waiting at gates: fewest conflicts first.
    """


class AgentDiff(_View):
    """One agent's work against its base: files with counts, the verdict, and the diff itself.

    ``diff`` is git's unified diff (committed and uncommitted work, new
    files included), cut at ``DIFF_LIMIT`` characters (``truncated``).
    """

    agent: str
    tracked: bool = False
    why: str = ""  # why it is not tracked
    branch: str = ""
    base: str = ""
    files: list[FileChange] = Field(default_factory=list)
    added: int = 0
    removed: int = 0
    verdict: str = ""
    discrepancies: list[Discrepancy] = Field(default_factory=list)
    diff: str = ""
    truncated: bool = False


class CollisionView(_View):
    """A collision as the collisions panel lists it; ``since`` is epoch seconds."""

    kind: CollisionKind
    path: str
    agents: list[str]
    dependency: str = ""
    detail: str = ""
    since: float


class RadarView(_View):
    """The swarm's collisions now, and the order to merge the branches waiting at gates."""

    enabled: bool = False
    collisions: list[CollisionView] = Field(default_factory=list)
    merge_order: list[str] = Field(default_factory=list)
    changes: dict[str, ChangeCounts] = Field(default_factory=dict)
