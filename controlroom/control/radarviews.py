"""The radar as the control API shows it: diffs, each gate's radar, collisions, a merge order.

The radar (``swarm.radar``) keeps its state in the form it computes with;
this module turns it into the typed views of ``models.radarviews`` for the
API's ``diff`` and ``radar`` queries and the extra keys of every gate and
agent. Reading costs nothing but a look at memory, except ``agent_diff``,
which asks git (an operator opening a diff wants it exact).
"""

from __future__ import annotations

from collections.abc import Iterable

from controlroom._errors import AgentNotFound
from controlroom.models.changes import MergeCheck
from controlroom.models.radarviews import (
    AgentDiff,
    ChangeCounts,
    CollisionView,
    Conflict,
    GateRadar,
    RadarView,
)
from controlroom.models.state import GateKind
from controlroom.policy.radar import merge_order
from controlroom.swarm.gates import Gate
from controlroom.swarm.radar import Radar
from controlroom.swarm.supervisor import Supervisor
from controlroom.text import refusals

__all__ = [
    "DIFF_LIMIT",
    "agent_diff",
    "change_counts",
    "gate_radar",
    "radar_view",
    "waiting_order",
]

DIFF_LIMIT = 1_000_000
"""Characters of diff one answer carries (a socket line stays well under its 16 MiB)."""

_RADAR_OFF = "the radar is off ([swarm] radar = false)"


def _untracked_why(sup: Supervisor, agent: str) -> str:
    if sup.radar is None:
        return _RADAR_OFF
    return sup.radar.untracked.get(agent, "its workspace is not in a git repository")


async def agent_diff(sup: Supervisor, agent: str) -> AgentDiff:
    """``agent``'s diff against its base, asked of git now; unknown agents are refused."""
    if agent not in sup.runners:
        raise AgentNotFound(refusals.unknown_agent(agent, sup.runners))
    radar = sup.radar
    change_set = None if radar is None else await radar.settle(agent)
    if radar is None or change_set is None:
        return AgentDiff(agent=agent, why=_untracked_why(sup, agent))
    text = await radar.diff(agent)
    checked = radar.checked.get(agent)
    return AgentDiff(
        agent=agent,
        tracked=True,
        branch=change_set.branch,
        base=change_set.base,
        files=list(change_set.files),
        added=change_set.added,
        removed=change_set.removed,
        verdict=radar.verdict(agent),
        discrepancies=list(checked.discrepancies) if checked is not None else [],
        diff=text[:DIFF_LIMIT],
        truncated=len(text) > DIFF_LIMIT,
    )


def change_counts(sup: Supervisor, agent: str) -> ChangeCounts:
    """The files-changed column: how many files, lines added and removed."""
    change_set = None if sup.radar is None else sup.radar.change_set(agent)
    if change_set is None:
        return ChangeCounts()
    return ChangeCounts(
        tracked=True,
        files=len(change_set.files),
        added=change_set.added,
        removed=change_set.removed,
    )


def _conflicts(radar: Radar, agent: str) -> list[Conflict]:
    found = []
    for (a, b), check in sorted(radar.checks.known().items()):
        if agent in (a, b) and not check.clean:
            found.append(Conflict(other=b if a == agent else a, files=list(check.files)))
    return found


def waiting_order(sup: Supervisor, gates: Iterable[Gate] | None = None) -> list[str]:
    """Agents whose handoffs wait at gates, in the order to merge them (fewest conflicts first)."""
    if sup.radar is None:
        return []
    pending = sup.gates.pending() if gates is None else gates
    tracked = sup.radar.by_agent
    waiting = [g.agent for g in pending if g.kind == GateKind.HANDOFF and g.agent in tracked]
    checks: dict[tuple[str, str], MergeCheck] = sup.radar.checks.known()
    return merge_order(waiting, checks)


def gate_radar(sup: Supervisor, gate: Gate, order: list[str]) -> GateRadar:
    """The radar's keys of one gate (empty and untracked for a tool or question gate)."""
    if gate.kind != GateKind.HANDOFF:
        return GateRadar()
    radar = sup.radar
    change_set = None if radar is None else radar.change_set(gate.agent)
    if radar is None or change_set is None:
        return GateRadar(verdict=f"not tracked: {_untracked_why(sup, gate.agent)}")
    checked = radar.checked.get(gate.agent)
    return GateRadar(
        changed_files=list(change_set.files),
        file_count=len(change_set.files),
        conflicts=_conflicts(radar, gate.agent),
        discrepancies=list(checked.discrepancies) if checked is not None else [],
        verdict=radar.verdict(gate.agent),
        merge_order=order.index(gate.agent) + 1 if gate.agent in order else None,
    )


def radar_view(sup: Supervisor) -> RadarView:
    """Every collision that holds now (with since when), the merge order, every agent's counts."""
    radar = sup.radar
    if radar is None:
        return RadarView()
    collisions = [
        CollisionView(
            kind=c.kind,
            path=c.path,
            agents=list(c.agents),
            dependency=c.dependency,
            detail=c.detail,
            since=since,
        )
        for c, since in sorted(radar.collisions.values(), key=lambda entry: entry[1])
    ]
    return RadarView(
        enabled=True,
        collisions=collisions,
        merge_order=waiting_order(sup),
        changes={name: change_counts(sup, name) for name in sup.runners},
    )
