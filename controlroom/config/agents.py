"""Reading ``[[agents]]``: each merged over ``[defaults]``, checked, then the graph they form.

Every key of a merged agent remembers where it came from (its own table or
``[defaults]``), so a problem points at the line the operator wrote.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from typing import Any

from controlroom._tomllines import KeyPath
from controlroom.config.messages import got
from controlroom.config.reader import ENV_NAME, Origin, Reader, under
from controlroom.config.stages import cycles
from controlroom.models import AgentSpec

__all__ = ["MERGED_TABLES", "AgentsReader", "merge_agent"]

MERGED_TABLES = ("budget", "breaker", "limits")
"""Agent keys whose tables merge key by key over their ``[defaults.…]`` table."""
NAMED_WORKSPACES = ("worktree", "shared")
HOST_ENTRY = re.compile(
    r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(:[0-9]{1,5})?$"
)
"""An ``allow_hosts`` entry: a host name or address, with an optional port."""


class AgentsReader:
    """Reads the agents of one config, noting problems on its ``Reader``."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def read(self, defaults: dict[str, Any], entries: Any) -> list[AgentSpec]:
        """``[[agents]]`` merged over ``[defaults]``, each checked, then the graph they form."""
        defaults = self.check_defaults(defaults)
        if not isinstance(entries, list):
            self.reader.add(("agents",), "must be an array of tables ([[agents]])" + got(entries))
            return []
        specs: list[AgentSpec] = []
        origins: dict[str, Origin] = {}
        merged_all: list[tuple[dict[str, Any], Origin] | None] = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                self.reader.add(("agents", index), "must be a table" + got(entry))
                merged_all.append(None)
                continue
            merged, origin = merge_agent(index, defaults, entry)
            merged_all.append((merged, origin))
            spec = self.reader.validate(AgentSpec, merged, origin)
            if spec is not None:
                specs.append(self.finish_agent(spec, origin))
                origins.setdefault(spec.name, origin)
        self.check_graph(merged_all)
        self.check_merges(specs, origins)
        return specs

    def check_merges(self, specs: list[AgentSpec], origins: Mapping[str, Origin]) -> None:
        """``on_approve = "merge"`` happens at a human gate: some agent after it must have one."""
        for spec in specs:
            humans = [s for s in specs if spec.name in s.after and s.gate == "human"]
            if spec.on_approve == "merge" and not humans:
                self.reader.add(
                    origins[spec.name](("on_approve",)),
                    f"'merge' merges when {spec.name}'s handoff is approved at a gate, and no "
                    f'agent after {spec.name} has gate = "human"',
                )

    def check_defaults(self, defaults: dict[str, Any]) -> dict[str, Any]:
        """Validate ``[defaults]`` on its own, so its problems show even with no agents."""
        defaults = dict(defaults)
        if "name" in defaults:
            self.reader.add(
                ("defaults", "name"), "cannot have a default: give each agent its own name"
            )
            del defaults["name"]
        placeholder = {"name": "defaults", "command": ["defaults"], **defaults}
        self.reader.validate(AgentSpec, placeholder, under(("defaults",)), skip=("name",))
        return defaults

    def finish_agent(self, spec: AgentSpec, origin: Origin) -> AgentSpec:
        for key in ("env", "secret_env"):
            for index, name in enumerate(getattr(spec, key)):
                if not ENV_NAME.match(name):
                    self.reader.add(
                        origin((key, index)), f"{name!r} is not an environment variable name"
                    )
        spec = spec.model_copy(update={"binds": self.sandbox_keys(spec, origin)})
        if spec.workspace in NAMED_WORKSPACES:
            return spec
        if not spec.workspace.strip():
            self.reader.add(origin(("workspace",)), "must be 'worktree', 'shared' or a path")
            return spec
        return spec.model_copy(
            update={"workspace": self.reader.path(origin(("workspace",)), spec.workspace)}
        )

    def sandbox_keys(self, spec: AgentSpec, origin: Origin) -> list[str]:
        """Check ``allow_hosts``, ``tools`` and ``binds``; the binds as absolute ``PATH:MODE``."""
        for key in ("allow_hosts", "binds", "tools"):
            if getattr(spec, key) and spec.sandbox != "workspace":
                self.reader.add(origin((key,)), 'has no effect without sandbox = "workspace"')
        for index, host in enumerate(spec.allow_hosts):
            if not HOST_ENTRY.match(host):
                self.reader.add(
                    origin(("allow_hosts", index)), f"{host!r} is not a host name or address"
                )
        for index, tool in enumerate(spec.tools):
            if not tool.strip() or "/" in tool:
                self.reader.add(
                    origin(("tools", index)), f"{tool!r} is not a program name (no '/')"
                )
        binds: list[str] = []
        for index, bind in enumerate(spec.binds):
            path, _, mode = (
                bind.rpartition(":") if bind.endswith((":ro", ":rw")) else (bind, "", "ro")
            )
            where = origin(("binds", index))
            full = self.reader.path(where, path)
            if path.strip() and not os.path.exists(full):
                self.reader.add(where, f"no such file or directory: {full}")
            binds.append(f"{full}:{mode}")
        return binds

    def check_graph(self, merged: list[tuple[dict[str, Any], Origin] | None]) -> None:
        """Unique names, ``after`` naming existing other agents, and no cycles."""
        first: dict[str, int] = {}
        for index, item in enumerate(merged):
            name = item[0].get("name") if item else None
            if not isinstance(name, str):
                continue
            if name in first:
                other = first[name]
                line = self.reader.lines.line_of(("agents", other, "name"))
                at = f", line {line}" if line is not None else ""
                self.reader.add(
                    ("agents", index, "name"),
                    f"duplicate agent name {name!r} (also agents[{other}]{at})",
                )
            else:
                first[name] = index
        deps: dict[str, list[str]] = {}
        for index, item in enumerate(merged):
            if item is None:
                continue
            spec, origin = item
            name, after = spec.get("name"), spec.get("after", [])
            if not isinstance(after, list):
                continue
            good: list[str] = []
            for position, dep in enumerate(after):
                if not isinstance(dep, str):
                    continue
                if dep == name:
                    self.reader.add(origin(("after", position)), "an agent cannot run after itself")
                elif dep not in first:
                    hint = difflib.get_close_matches(dep, list(first), n=1)
                    tail = f"; did you mean {hint[0]!r}?" if hint else ""
                    self.reader.add(origin(("after", position)), f"unknown agent {dep!r}{tail}")
                else:
                    good.append(dep)
            if isinstance(name, str) and first.get(name) == index:
                deps[name] = good
        for cycle in cycles(list(first), deps):
            item = merged[first[cycle[0]]]
            assert item is not None
            self.reader.add(
                item[1](("after",)), "dependency cycle: " + " → ".join(cycle + cycle[:1])
            )


def merge_agent(
    index: int, defaults: Mapping[str, Any], entry: Mapping[str, Any]
) -> tuple[dict[str, Any], Origin]:
    """``[defaults]`` under one ``[[agents]]`` entry, and where each merged key came from."""
    here: KeyPath = ("agents", index)
    merged: dict[str, Any] = dict(defaults)
    tables: dict[str, KeyPath] = {key: ("defaults",) for key in defaults}
    sub: dict[str, dict[str, KeyPath]] = {
        key: {k: ("defaults", key) for k in value}
        for key, value in defaults.items()
        if key in MERGED_TABLES and isinstance(value, dict)
    }
    for key, value in entry.items():
        tables[key] = here
        if key in sub and isinstance(value, dict):
            merged[key] = {**merged[key], **value}
            sub[key].update({k: here + (key,) for k in value})
        else:
            merged[key] = value
            sub.pop(key, None)

    def origin(loc: KeyPath) -> KeyPath:
        head = loc[0] if loc else None
        if isinstance(head, str) and len(loc) > 1 and head in sub and loc[1] in sub[head]:
            return sub[head][str(loc[1])] + loc[1:]
        if isinstance(head, str):
            return tables.get(head, here) + loc
        return here + loc

    return merged, origin
