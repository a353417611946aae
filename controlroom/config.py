"""config.toml → a validated ``SwarmConfig``; every error names the file, line and key.

An operator edits this file by hand, so a mistake must point at itself:
``config.toml:23: agents[2].budget.max_tokens: must be greater than 0 (got 0)``.
tomllib reports no line numbers for values, so ``TomlKeyLines`` scans the text
once and remembers on which line each key path is written. Validation never
stops at the first problem: everything found is raised together in one
``ConfigError`` so one edit-check round fixes the whole file.

Merging: ``[defaults]`` holds defaults for any agent key; an agent's ``budget``,
``breaker`` and ``limits`` tables are merged key by key over ``[defaults.budget]``,
``[defaults.breaker]`` and ``[defaults.limits]``. ``[pricing."model"]`` is merged
key by key over the built-in ``DEFAULT_PRICING`` entry of that model; cache
prices not given are derived from the input price (a tenth to read, 1.25 times
to write for five minutes, twice for an hour), as Anthropic prices them, so a
custom model never meters cache tokens as free.

Paths (``swarm.audit_db``, ``swarm.run_dir``, ``swarm.anchor_file``, a
workspace that is a path) are resolved relative to the config file's
directory; they, and ``proxy.upstream``, may use ``~`` and ``${NAME}`` from
the environment.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from inspect import isclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from annotated_types import Le
from pydantic import BaseModel, ValidationError

from controlroom._errors import ConfigError, ConfigProblem
from controlroom._tomllines import KeyPath, TomlKeyLines, format_key_path, read_toml
from controlroom.models import (
    DEFAULT_PRICING,
    AgentSpec,
    MetricsSettings,
    NotifySpec,
    Pricing,
    ProxySettings,
    SwarmConfig,
    SwarmSettings,
)

__all__ = [
    "KeyPath",
    "TomlKeyLines",
    "find_config",
    "format_key_path",
    "load_config",
    "pipeline_stages",
]

TOP_LEVEL_KEYS = ("swarm", "proxy", "defaults", "agents", "pricing", "metrics", "notify")
MERGED_TABLES = ("budget", "breaker", "limits")
"""Agent keys whose tables merge key by key over their ``[defaults.…]`` table."""
NAMED_WORKSPACES = ("worktree", "shared")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HOST_ENTRY = re.compile(
    r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(:[0-9]{1,5})?$"
)
"""An ``allow_hosts`` entry: a host name or address, with an optional port."""
ENV_REFERENCE = re.compile(r"\$\{([^}]*)\}")

_M = TypeVar("_M", bound=BaseModel)


# --------------------------------------------------------------------------- messages


def _num(value: Any) -> str:
    """A number as an operator reads it: 5 not 5.0, 1e+308 not 309 digits."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    text = str(value)
    if len(text) > 24:
        return f"{text[:8]}… ({len(text.lstrip('-'))} digits)"
    return text


def _bound(value: Any) -> str:
    """A limit in a message, written as TOML would: 10_000_000_000."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:_}" if isinstance(value, int) else _num(value)


def _got(value: Any) -> str:
    if isinstance(value, bool):
        return f" (got {str(value).lower()})"
    if isinstance(value, str):
        return f" (got {value!r})"
    if isinstance(value, int | float):
        return f" (got {_num(value)})"
    return ""


def _unknown_key(key: str, known: Sequence[str] | None) -> str:
    if not known:
        return "unknown key"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean '{close[0]}'?"
    return "unknown key; expected one of: " + ", ".join(known)


_TYPE_MESSAGES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "list_type": "must be an array",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
}


def _message(
    error: Mapping[str, Any], known: Sequence[str] | None, upper: float | None = None
) -> str:
    """One pydantic error → the phrase an operator reads after the key path.

    ``upper`` is the field's upper bound, if it has one: an integer too big
    to be a float is out of that range, not of the wrong type.
    """
    kind: str = error["type"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    got = _got(value)
    if kind == "float_type" and upper is not None and type(value) is int and value > upper:
        return f"must be at most {_bound(upper)}{got}"
    if kind == "extra_forbidden":
        return _unknown_key(str(error["loc"][-1]), known)
    if kind == "missing":
        return "is required"
    if kind == "greater_than":
        return f"must be greater than {_num(ctx['gt'])}{got}"
    if kind == "greater_than_equal":
        return f"must be at least {_num(ctx['ge'])}{got}"
    if kind == "less_than_equal":
        return f"must be at most {_bound(ctx['le'])}{got}"
    if kind == "finite_number":
        return f"must be a finite number{got}"
    if kind == "literal_error":
        head, _, last = str(ctx["expected"]).rpartition(" or ")
        return f"must be one of {head + ', ' + last if head else last}{got}"
    if kind == "string_pattern_mismatch":
        if error["loc"][-1] == "name":
            return (
                "must be a safe agent name: up to 64 letters, digits, '.', '_' or '-',"
                f" starting with a letter or digit{got}"
            )
        return f"must match {ctx['pattern']}{got}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind] + ("" if kind.endswith("too_short") else got)
    msg = str(error["msg"])
    return msg[:1].lower() + msg[1:] + got


def _fields_at(model: type[BaseModel], loc: Iterable[str | int]) -> list[str] | None:
    """The keys a model accepts at ``loc`` (for 'did you mean' hints)."""
    current: type[BaseModel] = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        annotation = field.annotation if field is not None else None
        if not (isclass(annotation) and issubclass(annotation, BaseModel)):
            return None
        current = annotation
    return list(current.model_fields)


def _upper_bound(model: type[BaseModel], loc: Sequence[str | int]) -> float | None:
    """The ``le`` bound of the field at ``loc``, or None."""
    if not loc or _fields_at(model, loc[:-1]) is None:
        return None
    current: type[BaseModel] = model
    for part in loc[:-1]:
        if isinstance(part, str):
            annotation = current.model_fields[part].annotation
            assert isclass(annotation) and issubclass(annotation, BaseModel)
            current = annotation
    field = current.model_fields.get(str(loc[-1]))
    metadata = field.metadata if field is not None else []
    bounds = [m.le for m in metadata if isinstance(m, Le) and isinstance(m.le, int | float)]
    return float(bounds[0]) if bounds else None


# --------------------------------------------------------------------------- loading


def find_config(arg: str | None) -> Path:
    """The config to use: ``arg`` (a file, or a folder holding config.toml), else ./config.toml."""
    path = Path(arg) if arg else Path("config.toml")
    if path.is_dir():
        path = path / "config.toml"
    if not path.is_file():
        hint = "" if arg else " (pass the config file, or run where ./config.toml is)"
        raise ConfigError([ConfigProblem(str(path), None, "", f"no such config file{hint}")])
    return path


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> SwarmConfig:
    """Read, merge and validate a swarm config; raise ``ConfigError`` listing every problem.

    ``environ`` (default ``os.environ``) supplies ``${NAME}`` and ``~`` in paths.
    """
    file = str(path)
    text, data = read_toml(path)
    loader = _Loader(
        file, TomlKeyLines(text), Path(path), os.environ if environ is None else environ
    )
    return loader.build(data)


def _under(prefix: KeyPath) -> Callable[[KeyPath], KeyPath]:
    """Maps a key path inside a table to its path in the file."""
    return lambda loc: prefix + loc


class _Loader:
    """Validates one parsed config, collecting every problem before raising."""

    def __init__(self, file: str, lines: TomlKeyLines, path: Path, environ: Mapping[str, str]):
        self.file = file
        self.lines = lines
        self.source = os.path.normpath(path.absolute())
        self.base = Path(self.source).parent
        self.environ = environ
        self.problems: list[ConfigProblem] = []

    def add(self, path: KeyPath, message: str) -> None:
        problem = ConfigProblem(self.file, self.lines.line_of(path), format_key_path(path), message)
        if problem not in self.problems:  # a bad default is met once per agent
            self.problems.append(problem)

    def validate(
        self,
        model: type[_M],
        data: Any,
        origin: Callable[[KeyPath], KeyPath],
        skip: Iterable[str] = (),
    ) -> _M | None:
        try:
            return model.model_validate(data, strict=True)
        except ValidationError as exc:
            for error in exc.errors():
                loc: KeyPath = tuple(error["loc"])
                known = _fields_at(model, loc[:-1])
                if known is not None:
                    known = [k for k in known if k not in skip]
                self.add(origin(loc), _message(error, known, _upper_bound(model, loc)))
            return None

    def table(self, data: Mapping[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.add((key,), "must be a table" + _got(value))
            return {}
        return value

    def build(self, data: Mapping[str, Any]) -> SwarmConfig:
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                self.add((key,), _unknown_key(key, TOP_LEVEL_KEYS))
        swarm = self.validate(SwarmSettings, self.table(data, "swarm"), _under(("swarm",)))
        proxy = self.validate(ProxySettings, self.table(data, "proxy"), _under(("proxy",)))
        pricing = self.pricing(self.table(data, "pricing"))
        agents = self.agents(self.table(data, "defaults"), data.get("agents", []))
        metrics = self.validate(MetricsSettings, self.table(data, "metrics"), _under(("metrics",)))
        notify = self.notify(data.get("notify", []))
        if swarm is not None:
            swarm = swarm.model_copy(
                update={
                    "audit_db": self.path(("swarm", "audit_db"), swarm.audit_db),
                    "run_dir": self.path(("swarm", "run_dir"), swarm.run_dir),
                    "anchor_file": None
                    if swarm.anchor_file is None
                    else self.path(("swarm", "anchor_file"), swarm.anchor_file),
                }
            )
        if proxy is not None:
            if not ENV_NAME.match(proxy.upstream_key_env):
                self.add(("proxy", "upstream_key_env"), "must be an environment variable name")
            upstream = self.expand(("proxy", "upstream"), proxy.upstream)
            parsed = urlsplit(upstream)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                message = "must be an http:// or https:// URL (the proxy's only upstream)"
                self.add(("proxy", "upstream"), message + _got(upstream))
            proxy = proxy.model_copy(update={"upstream": upstream})
        if self.problems or swarm is None or proxy is None or pricing is None or metrics is None:
            in_file = sorted(self.problems, key=lambda p: (p.line is None, p.line or 0))
            raise ConfigError(in_file)
        return SwarmConfig(
            swarm=swarm,
            proxy=proxy,
            agents=agents,
            pricing=pricing,
            metrics=metrics,
            notify=notify,
            source=self.source,
        )

    # -- operations out

    def notify(self, entries: Any) -> list[NotifySpec]:
        """``[[notify]]``: each entry valid, and with what its channel needs."""
        if not isinstance(entries, list):
            self.add(("notify",), "must be an array of tables ([[notify]])" + _got(entries))
            return []
        specs: list[NotifySpec] = []
        for index, entry in enumerate(entries):
            here: KeyPath = ("notify", index)
            spec = self.validate(NotifySpec, entry, _under(here))
            if spec is None:
                continue
            if spec.channel == "webhook":
                url = self.expand(here + ("url",), spec.url)
                parsed = urlsplit(url)
                if parsed.scheme not in ("http", "https") or not parsed.hostname:
                    message = 'channel = "webhook" needs an http:// or https:// url'
                    self.add(here + ("url",), message + _got(url))
                spec = spec.model_copy(update={"url": url})
            elif spec.channel == "command" and (not spec.command or not spec.command[0].strip()):
                self.add(here + ("command",), 'channel = "command" needs a command (an argv array)')
            fits = {"webhook": ("json", "slack"), "terminal": ("osc9", "osc777"), "command": ()}
            if spec.format is not None and spec.format not in fits[spec.channel]:
                allowed = " or ".join(repr(f) for f in fits[spec.channel]) or "no format"
                message = f'channel = "{spec.channel}" takes {allowed}{_got(spec.format)}'
                self.add(here + ("format",), message)
            specs.append(spec)
        return specs

    # -- values from the environment

    def expand(self, path: KeyPath, value: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match[1]
            if not ENV_NAME.match(name):
                self.add(path, f"'${{{name}}}' is not a valid environment variable reference")
            elif name not in self.environ:
                self.add(path, f"environment variable {name} is not set")
            return self.environ.get(name, "")

        value = ENV_REFERENCE.sub(replace, value)
        if value == "~" or value.startswith("~/"):
            value = self.environ.get("HOME", str(Path.home())) + value[1:]
        return value

    def path(self, path: KeyPath, value: str) -> str:
        """A path from the config, absolute, relative to the config file's folder."""
        if not value.strip():
            self.add(path, "must not be empty")
            return value
        return os.path.normpath(self.base / self.expand(path, value))

    # -- pricing

    def pricing(self, table: Mapping[str, Any]) -> dict[str, Pricing] | None:
        prices = dict(DEFAULT_PRICING)
        ok = True
        for model, entry in table.items():
            if not isinstance(entry, dict):
                self.add(("pricing", model), "must be a table" + _got(entry))
                ok = False
                continue
            merged: dict[str, Any] = {}
            if model in DEFAULT_PRICING:
                merged.update(DEFAULT_PRICING[model].model_dump())
            merged.update(entry)
            inp = entry.get("input_per_mtok")
            # derive only from a sane price: validation names the range of any other
            if isinstance(inp, int | float) and not isinstance(inp, bool) and 0 <= inp < 1e300:
                if "cache_read_per_mtok" not in entry:
                    merged["cache_read_per_mtok"] = inp / 10
                if "cache_write_per_mtok" not in entry:
                    merged["cache_write_per_mtok"] = inp * 1.25
                if "cache_write_1h_per_mtok" not in entry:
                    merged["cache_write_1h_per_mtok"] = inp * 2
            price = self.validate(Pricing, merged, _under(("pricing", model)))
            if price is None:
                ok = False
            else:
                prices[model] = price
        return prices if ok else None

    # -- agents

    def agents(self, defaults: dict[str, Any], entries: Any) -> list[AgentSpec]:
        defaults = self.check_defaults(defaults)
        if not isinstance(entries, list):
            self.add(("agents",), "must be an array of tables ([[agents]])" + _got(entries))
            return []
        specs: list[AgentSpec] = []
        origins: dict[str, Callable[[KeyPath], KeyPath]] = {}
        merged_all: list[tuple[dict[str, Any], Callable[[KeyPath], KeyPath]] | None] = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                self.add(("agents", index), "must be a table" + _got(entry))
                merged_all.append(None)
                continue
            merged, origin = _merge_agent(index, defaults, entry)
            merged_all.append((merged, origin))
            spec = self.validate(AgentSpec, merged, origin)
            if spec is not None:
                specs.append(self.finish_agent(spec, origin))
                origins.setdefault(spec.name, origin)
        self.check_graph(merged_all)
        self.check_merges(specs, origins)
        return specs

    def check_merges(
        self, specs: list[AgentSpec], origins: Mapping[str, Callable[[KeyPath], KeyPath]]
    ) -> None:
        """``on_approve = "merge"`` happens at a human gate: some agent after it must have one."""
        for spec in specs:
            humans = [s for s in specs if spec.name in s.after and s.gate == "human"]
            if spec.on_approve == "merge" and not humans:
                self.add(
                    origins[spec.name](("on_approve",)),
                    f"'merge' merges when {spec.name}'s handoff is approved at a gate, and no "
                    f'agent after {spec.name} has gate = "human"',
                )

    def check_defaults(self, defaults: dict[str, Any]) -> dict[str, Any]:
        """Validate ``[defaults]`` on its own, so its problems show even with no agents."""
        defaults = dict(defaults)
        if "name" in defaults:
            self.add(("defaults", "name"), "cannot have a default: give each agent its own name")
            del defaults["name"]
        placeholder = {"name": "defaults", "command": ["defaults"], **defaults}
        self.validate(AgentSpec, placeholder, _under(("defaults",)), skip=("name",))
        return defaults

    def finish_agent(self, spec: AgentSpec, origin: Callable[[KeyPath], KeyPath]) -> AgentSpec:
        for key in ("env", "secret_env"):
            for index, name in enumerate(getattr(spec, key)):
                if not ENV_NAME.match(name):
                    self.add(origin((key, index)), f"{name!r} is not an environment variable name")
        spec = spec.model_copy(update={"binds": self.sandbox_keys(spec, origin)})
        if spec.workspace in NAMED_WORKSPACES:
            return spec
        if not spec.workspace.strip():
            self.add(origin(("workspace",)), "must be 'worktree', 'shared' or a path")
            return spec
        return spec.model_copy(
            update={"workspace": self.path(origin(("workspace",)), spec.workspace)}
        )

    def sandbox_keys(self, spec: AgentSpec, origin: Callable[[KeyPath], KeyPath]) -> list[str]:
        """Check ``allow_hosts``, ``tools`` and ``binds``; the binds as absolute ``PATH:MODE``."""
        for key in ("allow_hosts", "binds", "tools"):
            if getattr(spec, key) and spec.sandbox != "workspace":
                self.add(origin((key,)), 'has no effect without sandbox = "workspace"')
        for index, host in enumerate(spec.allow_hosts):
            if not HOST_ENTRY.match(host):
                self.add(origin(("allow_hosts", index)), f"{host!r} is not a host name or address")
        for index, tool in enumerate(spec.tools):
            if not tool.strip() or "/" in tool:
                self.add(origin(("tools", index)), f"{tool!r} is not a program name (no '/')")
        binds: list[str] = []
        for index, bind in enumerate(spec.binds):
            path, _, mode = (
                bind.rpartition(":") if bind.endswith((":ro", ":rw")) else (bind, "", "ro")
            )
            where = origin(("binds", index))
            full = self.path(where, path)
            if path.strip() and not os.path.exists(full):
                self.add(where, f"no such file or directory: {full}")
            binds.append(f"{full}:{mode}")
        return binds

    def check_graph(
        self, merged: list[tuple[dict[str, Any], Callable[[KeyPath], KeyPath]] | None]
    ) -> None:
        """Unique names, ``after`` naming existing other agents, and no cycles."""
        first: dict[str, int] = {}
        for index, item in enumerate(merged):
            name = item[0].get("name") if item else None
            if not isinstance(name, str):
                continue
            if name in first:
                other = first[name]
                line = self.lines.line_of(("agents", other, "name"))
                at = f", line {line}" if line is not None else ""
                self.add(
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
                    self.add(origin(("after", position)), "an agent cannot run after itself")
                elif dep not in first:
                    hint = difflib.get_close_matches(dep, list(first), n=1)
                    tail = f"; did you mean {hint[0]!r}?" if hint else ""
                    self.add(origin(("after", position)), f"unknown agent {dep!r}{tail}")
                else:
                    good.append(dep)
            if isinstance(name, str) and first.get(name) == index:
                deps[name] = good
        for cycle in _cycles(list(first), deps):
            item = merged[first[cycle[0]]]
            assert item is not None
            self.add(item[1](("after",)), "dependency cycle: " + " → ".join(cycle + cycle[:1]))


def _merge_agent(
    index: int, defaults: Mapping[str, Any], entry: Mapping[str, Any]
) -> tuple[dict[str, Any], Callable[[KeyPath], KeyPath]]:
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


# --------------------------------------------------------------------------- pipeline order


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


def _cycles(names: Sequence[str], deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
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
            for c in _cycles(names, deps)
        ] or [
            ConfigProblem(cfg.source, None, "agents", f"{n!r} runs after an unknown agent")
            for n in names
            if n in stuck
        ]
        raise ConfigError(problems)
    return layers
