"""Dependency manifests and lock files: which dependency a change pins, and how.

Two agents that both touch ``pyproject.toml`` may merge cleanly as text and
still disagree: one pins ``requests==2.31``, the other ``requests>=2.32``.
This module reads a manifest's text into pins (dependency name → what it
asks for) so the radar can name the dependency pinned two ways. Manifests
(what a project asks for) and lock files (what it resolved to) are compared
only with their own kind; a format it cannot parse (``yarn.lock``,
``pnpm-lock.yaml``, anything broken) yields no pins, and the collision is
reported for the file alone.

Pure: text in, plain values out.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ["DependencyKey", "changed_pins", "is_manifest", "pins"]

DependencyKey = tuple[str, str, str]
"""(ecosystem, level, name): ``("python", "manifest", "requests")``."""

_ECOSYSTEMS = {
    "pyproject.toml": "python",
    "setup.cfg": "python",
    "Pipfile": "python",
    "Pipfile.lock": "python",
    "uv.lock": "python",
    "poetry.lock": "python",
    "package.json": "npm",
    "package-lock.json": "npm",
    "npm-shrinkwrap.json": "npm",
    "Cargo.toml": "cargo",
    "Cargo.lock": "cargo",
    "go.mod": "go",
    "go.sum": "go",
}
_LOCKS = frozenset(
    {"Pipfile.lock", "uv.lock", "poetry.lock", "package-lock.json", "npm-shrinkwrap.json"}
    | {"Cargo.lock", "go.sum"}
)
_PEP508_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
_GO_REQUIRE = re.compile(r"^\s*([^\s()]+)\s+(v[^\s]+)")


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def is_manifest(path: str, patterns: Sequence[str]) -> bool:
    """Does ``path`` match a pattern: by its name, or with a ``/`` in it, by its whole path."""
    name = _name(path)
    return any(fnmatch.fnmatchcase(path if "/" in p else name, p) for p in patterns)


def _python_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement(line: str) -> tuple[str, str] | None:
    """``requests[socks] >= 2.31 ; python_version>"3.8"`` → ("requests", ">=2.31;...")."""
    match = _PEP508_NAME.match(line)
    if match is None:
        return None
    return _python_name(match[1]), re.sub(r"\s+", "", match[3]) or "*"


def _requirements(lines: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-", "http:", "https:", "git+")):
            continue
        found = _requirement(line)
        if found is not None:
            out[found[0]] = found[1]
    return out


def _table_pins(table: Any, normalise: Callable[[str], str] = str) -> dict[str, str]:
    """``{name = "1.2"}`` or ``{name = {version = "1.2", ...}}`` tables (poetry, Pipfile, cargo)."""
    if not isinstance(table, dict):
        return {}
    out: dict[str, str] = {}
    for name, value in table.items():
        if isinstance(value, dict):
            value = value.get("version") or json.dumps(value, sort_keys=True)
        out[normalise(str(name))] = re.sub(r"\s+", "", str(value))
    return out


def _pyproject(data: dict[str, Any]) -> dict[str, str]:
    project = data.get("project") or {}
    lines = list(project.get("dependencies") or [])
    for group in (project.get("optional-dependencies") or {}).values():
        lines.extend(group if isinstance(group, list) else [])
    for group in (data.get("dependency-groups") or {}).values():
        if isinstance(group, list):
            lines.extend(g for g in group if isinstance(g, str))
    out = _requirements(str(line) for line in lines)
    poetry = (data.get("tool") or {}).get("poetry") or {}
    out.update(_table_pins(poetry.get("dependencies"), _python_name))
    for group in (poetry.get("group") or {}).values():
        out.update(_table_pins((group or {}).get("dependencies"), _python_name))
    out.pop("python", None)
    return out


def _locked(packages: Any, normalise: Callable[[str], str] = str) -> dict[str, str]:
    """``[[package]]`` name/version lists (uv.lock, poetry.lock, Cargo.lock)."""
    out: dict[str, str] = {}
    for package in packages if isinstance(packages, list) else []:
        if isinstance(package, dict) and "name" in package:
            out[normalise(str(package["name"]))] = str(package.get("version", ""))
    return out


def _npm_lock(data: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for where, entry in (data.get("packages") or {}).items():
        if where and isinstance(entry, dict) and "version" in entry:
            out[where.rsplit("node_modules/", 1)[-1]] = str(entry["version"])
    for name, entry in (data.get("dependencies") or {}).items():  # lockfile v1
        if isinstance(entry, dict) and "version" in entry:
            out.setdefault(name, str(entry["version"]))
    return out


def _package_json(data: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for section in ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies"):
        out.update(_table_pins(data.get(section)))
    return out


def _go(text: str, lock: bool) -> dict[str, str]:
    versions: dict[str, set[str]] = {}
    block = False
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if lock:
            parts = line.split()
            if len(parts) >= 2:
                versions.setdefault(parts[0], set()).add(parts[1].removesuffix("/go.mod"))
            continue
        if line.startswith("require ("):
            block = True
            continue
        if block and line == ")":
            block = False
            continue
        match = _GO_REQUIRE.match(line.removeprefix("require ") if not block else line)
        if (block or line.startswith("require ")) and match:
            versions.setdefault(match[1], set()).add(match[2])
    return {name: ",".join(sorted(v)) for name, v in versions.items()}


def _setup_cfg(text: str) -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return _requirements(parser.get("options", "install_requires", fallback="").splitlines())


def _parse(name: str, text: str) -> dict[str, str] | None:  # noqa: C901 - one branch per format
    if name == "pyproject.toml":
        return _pyproject(tomllib.loads(text))
    if name.startswith("requirements") and name.endswith(".txt"):
        return _requirements(text.splitlines())
    if name == "setup.cfg":
        return _setup_cfg(text)
    if name == "Pipfile":
        data = tomllib.loads(text)
        pins = _table_pins(data.get("packages"), _python_name)
        return pins | _table_pins(data.get("dev-packages"), _python_name)
    if name in ("uv.lock", "poetry.lock", "Cargo.lock"):
        normalise = str if name == "Cargo.lock" else _python_name
        return _locked(tomllib.loads(text).get("package"), normalise)
    if name == "Cargo.toml":
        data = tomllib.loads(text)
        return _table_pins(data.get("dependencies")) | _table_pins(data.get("dev-dependencies"))
    if name in ("package-lock.json", "npm-shrinkwrap.json"):
        return _npm_lock(json.loads(text))
    if name == "package.json":
        return _package_json(json.loads(text))
    if name == "Pipfile.lock":
        data = json.loads(text)
        return {
            _python_name(n): str(e.get("version", ""))
            for section in ("default", "develop")
            for n, e in (data.get(section) or {}).items()
            if isinstance(e, dict)
        }
    if name in ("go.mod", "go.sum"):
        return _go(text, lock=name == "go.sum")
    return None


def pins(path: str, text: str) -> dict[DependencyKey, str] | None:
    """The dependencies a manifest pins, or None when its format is unknown or it is broken."""
    name = _name(path)
    try:
        found = _parse(name, text)
    except (ValueError, TypeError, AttributeError, configparser.Error):
        return None  # tomllib and json errors are ValueErrors
    if found is None:
        return None
    ecosystem = _ECOSYSTEMS.get(name, "python" if name.endswith(".txt") else name)
    level = "lock" if name in _LOCKS else "manifest"
    return {(ecosystem, level, dep): spec for dep, spec in found.items()}


def changed_pins(path: str, base: str | None, now: str | None) -> dict[DependencyKey, str] | None:
    """The pins a change made: dependency → its new pin ("" when it was removed).

    ``base``/``now`` are the file's text before and after (None: absent).
    None when either side cannot be parsed.
    """
    before = pins(path, base) if base is not None else {}
    after = pins(path, now) if now is not None else {}
    if before is None or after is None:
        return None
    changed = {key: spec for key, spec in after.items() if before.get(key) != spec}
    changed.update({key: "" for key in before if key not in after})
    return changed
