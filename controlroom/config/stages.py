"""Pipeline order: agents in stages by their ``after``, and the cycles that forbid one.

Used twice: by the loader, to name every cycle in the file, and by the
swarm and ``check``, to run the stages in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from controlroom._errors import ConfigError, ConfigProblem
from controlroom.models import SwarmConfig

__all__ = ["cycles", "pipeline_stages"]


def _layers(
    names: Sequence[str], deps: Mapping[str, Sequence[str]]
) -> tuple[list[list[str]], set[str]]:
    """Kahn's algorithm in layers; the second value holds agents stuck behind a cycle."""
    done: set[str] = set()
    left = list(names)
    layers: list[list[str]] = []
    while left:
        layer = [n for n in left if all(d in done for d in deps.get(n, ()))]
        if not layer:
            break
        layers.append(layer)
        done.update(layer)
        left = [n for n in left if n not in done]
    return layers, set(left)


def cycles(names: Sequence[str], deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Each distinct cycle once, starting at its member that comes first in the config."""
    _, stuck = _layers(names, deps)
    order = {name: i for i, name in enumerate(names)}
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for start in names:
        if start not in stuck:
            continue
        walk: list[str] = []
        node: str | None = start
        while node is not None and node not in walk:
            walk.append(node)
            node = next((d for d in deps.get(node, ()) if d in stuck), None)
        if node is None:  # stuck behind an unknown agent, not a cycle
            continue
        cycle = walk[walk.index(node) :]
        if frozenset(cycle) in seen:
            continue
        seen.add(frozenset(cycle))
        first = min(range(len(cycle)), key=lambda i: order[cycle[i]])
        found.append(cycle[first:] + cycle[:first])
    return found


def pipeline_stages(cfg: SwarmConfig) -> list[list[str]]:
    """Agents in stages: each stage runs after everything it names in ``after``.

    Stage 0 holds the agents with no ``after``; within a stage, config order.
    """
    names = [spec.name for spec in cfg.agents]
    deps = {spec.name: list(spec.after) for spec in cfg.agents}
    layers, stuck = _layers(names, deps)
    if stuck:
        problems = [
            ConfigProblem(cfg.source, None, "agents", "dependency cycle: " + " → ".join(c + c[:1]))
            for c in cycles(names, deps)
        ] or [
            ConfigProblem(cfg.source, None, "agents", f"{n!r} runs after an unknown agent")
            for n in names
            if n in stuck
        ]
        raise ConfigError(problems)
    return layers
