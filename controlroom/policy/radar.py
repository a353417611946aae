"""The collision radar: change sets in, collisions, a verdict per branch and a merge order out.

Pure: the swarm measures (change sets, pins read from manifests, ``git
merge-tree`` checks) and this module judges. Two agents are compared only
within one repository and never when they share one working tree (their
writes cannot be told apart). Three kinds of collision:

* ``file``: two agents changed the same file;
* ``manifest``: two agents changed the same dependency manifest or lock
  file, or pinned one dependency two ways across manifests of one
  ecosystem; the dependencies pinned two ways are named where the file
  can be parsed;
* ``conflict``: merging the two branches would conflict in that file.

A collision is identified by its kind, path, dependencies and agents: the
same one found again is not news, and one that no longer holds is cleared.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations

from controlroom.models import ChangeSet, Collision, MergeCheck
from controlroom.policy.manifests import DependencyKey, is_manifest

__all__ = [
    "AgentPins",
    "compare_collisions",
    "comparable",
    "find_collisions",
    "merge_order",
    "overlapping_pairs",
    "pair",
    "verdict",
]

AgentPins = Mapping[str, Mapping[str, Mapping[DependencyKey, str]]]
"""agent → manifest path → the pins its change made there (dependency → new pin)."""


def pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def comparable(a: ChangeSet, b: ChangeSet) -> bool:
    """Same repository, different working trees."""
    return a.repo == b.repo and a.root != b.root and a.agent != b.agent


def _touching(sets: Sequence[ChangeSet]) -> dict[tuple[str, str], list[ChangeSet]]:
    """(repo, path) → the change sets holding it, where two working trees do."""
    found: dict[tuple[str, str], list[ChangeSet]] = defaultdict(list)
    for change_set in sets:
        for path in change_set.paths:
            found[(change_set.repo, path)].append(change_set)
    return {k: v for k, v in found.items() if len({s.root for s in v}) > 1}


def overlapping_pairs(sets: Sequence[ChangeSet]) -> set[tuple[str, str]]:
    """Agent pairs that changed a file in common: the ones a merge check is worth running for."""
    out: set[tuple[str, str]] = set()
    for holders in _touching(sets).values():
        for a, b in combinations(holders, 2):
            if comparable(a, b):
                out.add(pair(a.agent, b.agent))
    return out


def find_collisions(
    sets: Sequence[ChangeSet],
    manifests: Sequence[str],
    pins: AgentPins,
    checks: Iterable[MergeCheck] = (),
) -> list[Collision]:
    """Every collision the change sets, pins and merge checks show, in a stable order."""
    found: list[Collision] = []
    shared_manifests: set[tuple[str, ...]] = set()
    for (_repo, path), holders in sorted(_touching(sets).items()):
        agents = tuple(sorted({s.agent for s in holders}))
        if not is_manifest(path, manifests):
            found.append(Collision(kind="file", path=path, agents=agents, detail=_both(agents)))
            continue
        disputes = _disputes({a: pins.get(a, {}).get(path, {}) for a in agents})
        shared_manifests.add((path, *agents))
        found.append(_manifest(path, agents, disputes))
    found.extend(_cross_file(sets, pins, shared_manifests))
    for check in checks:
        if not check.clean:
            agents = pair(check.left, check.right)
            for path in check.files:
                detail = f"{agents[0]} and {agents[1]} would conflict here when merged"
                found.append(Collision(kind="conflict", path=path, agents=agents, detail=detail))
    return found


def _both(agents: Sequence[str]) -> str:
    return "changed by " + _and(agents)


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _disputes(
    by_agent: Mapping[str, Mapping[DependencyKey, str]],
) -> dict[str, dict[str, str]]:
    """Dependency name → {agent: pin} where the agents' new pins differ."""
    seen: dict[DependencyKey, dict[str, str]] = defaultdict(dict)
    for agent, changes in by_agent.items():
        for key, spec in changes.items():
            seen[key][agent] = spec
    return {
        key[2]: dict(sorted(pinned.items()))
        for key, pinned in sorted(seen.items())
        if len(pinned) > 1 and len(set(pinned.values())) > 1
    }


def _describe(disputes: Mapping[str, Mapping[str, str]]) -> str:
    return "; ".join(
        f"{dep}: " + ", ".join(f"{agent} pins {spec or '(removed)'}" for agent, spec in by.items())
        for dep, by in disputes.items()
    )


def _manifest(path: str, agents: tuple[str, ...], disputes: dict[str, dict[str, str]]) -> Collision:
    detail = _describe(disputes) if disputes else f"dependency manifest {_both(agents)}"
    return Collision(
        kind="manifest", path=path, agents=agents, dependency=", ".join(disputes), detail=detail
    )


def _cross_file(
    sets: Sequence[ChangeSet], pins: AgentPins, shared: set[tuple[str, ...]]
) -> list[Collision]:
    """One dependency pinned two ways in different manifests (requirements.txt vs pyproject)."""
    by_key: dict[DependencyKey, list[tuple[ChangeSet, str, str]]] = defaultdict(list)
    for change_set in sets:
        for path, changes in pins.get(change_set.agent, {}).items():
            for key, spec in changes.items():
                by_key[key].append((change_set, path, spec))
    found: list[Collision] = []
    for key, entries in sorted(by_key.items()):
        for (a, path_a, spec_a), (b, path_b, spec_b) in combinations(entries, 2):
            if path_a == path_b or spec_a == spec_b or not comparable(a, b):
                continue
            agents = pair(a.agent, b.agent)
            disputes = {key[2]: dict(sorted({a.agent: spec_a, b.agent: spec_b}.items()))}
            paths = ", ".join(sorted({path_a, path_b}))
            found.append(
                Collision(
                    kind="manifest",
                    path=paths,
                    agents=agents,
                    dependency=key[2],
                    detail=_describe(disputes) + f" (in {paths})",
                )
            )
    return found


def compare_collisions(
    known: Mapping[tuple[str, str, str, tuple[str, ...]], Collision], now: Iterable[Collision]
) -> tuple[list[Collision], list[Collision]]:
    """What is new in ``now`` and what of ``known`` no longer holds: (raised, cleared)."""
    current = {c.key: c for c in now}
    raised = [c for key, c in current.items() if key not in known]
    cleared = [c for key, c in known.items() if key not in current]
    return raised, cleared


def _check_of(checks: Mapping[tuple[str, str], MergeCheck], a: str, b: str) -> MergeCheck | None:
    return checks.get(pair(a, b))


def verdict(
    agent: str,
    sets: Sequence[ChangeSet],
    checks: Mapping[tuple[str, str], MergeCheck],
    integration: tuple[str, MergeCheck | None] | None = None,
) -> str:
    """``merges cleanly with implementer; conflicts with tester in src/client.py``.

    ``checks`` is keyed by ``pair(a, b)``; ``integration`` is the integration
    branch's name and the check of this agent's work against it.
    """
    mine = next((s for s in sets if s.agent == agent), None)
    if mine is None:
        return "not tracked: its workspace is not in a git repository"
    if not mine.files:
        return "no changes against its base"
    clean: list[str] = []
    parts: list[str] = []
    unchecked: list[str] = []
    for other in sorted((s for s in sets if comparable(mine, s) and s.files), key=_agent):
        if not (mine.paths & other.paths):
            clean.append(other.agent)
            continue
        check = _check_of(checks, agent, other.agent)
        if check is None:
            unchecked.append(other.agent)
        elif check.clean:
            clean.append(other.agent)
        else:
            parts.append(f"conflicts with {other.agent} in {', '.join(check.files)}")
    if clean:
        parts.insert(0, f"merges cleanly with {_and(clean)}")
    if unchecked:
        parts.append(f"not yet checked against {_and(unchecked)}")
    if integration is not None:
        parts.append(_into(*integration))
    return "; ".join(parts) or "no other agent has changes"


def _agent(change_set: ChangeSet) -> str:
    return change_set.agent


def _into(branch: str, check: MergeCheck | None) -> str:
    if check is None:
        return f"not yet checked against {branch}"
    if check.clean:
        return f"merges cleanly into {branch}"
    return f"conflicts with {branch} in {', '.join(check.files)}"


def merge_order(waiting: Sequence[str], checks: Mapping[tuple[str, str], MergeCheck]) -> list[str]:
    """Waiting branches in the order to merge them: fewest conflicts with the rest first.

    Greedy: take the branch that conflicts with the fewest of those still
    waiting (ties: by name), then recount without it.
    """
    left = sorted(set(waiting))
    order: list[str] = []

    def conflicts(agent: str) -> int:
        return sum(
            1
            for other in left
            if other != agent
            and (check := _check_of(checks, agent, other)) is not None
            and not check.clean
        )

    while left:
        best = min(left, key=lambda a: (conflicts(a), a))
        order.append(best)
        left.remove(best)
    return order
