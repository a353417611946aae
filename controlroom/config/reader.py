"""The config reader's tools: validate a table, note a problem by file, line and key, expand paths.

Shared by the loader (tables of the swarm) and the agents' reader, so every
problem is one ``ConfigProblem`` with the file, the line and the key path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from controlroom._errors import ConfigProblem
from controlroom._tomllines import KeyPath, TomlKeyLines, format_key_path
from controlroom.config.messages import fields_at, got, message, upper_bound

__all__ = ["ENV_NAME", "ENV_REFERENCE", "Origin", "Reader", "under"]

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_REFERENCE = re.compile(r"\$\{([^}]*)\}")

_M = TypeVar("_M", bound=BaseModel)

Origin = Callable[[KeyPath], KeyPath]
"""Maps a key path inside a table to where the file says it."""


def under(prefix: KeyPath) -> Callable[[KeyPath], KeyPath]:
    """Maps a key path inside a table to its path in the file."""
    return lambda loc: prefix + loc


class Reader:
    """Collects every problem of one parsed config (by file, line and key) before raising."""

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
                known = fields_at(model, loc[:-1])
                if known is not None:
                    known = [k for k in known if k not in skip]
                self.add(origin(loc), message(error, known, upper_bound(model, loc)))
            return None

    def table(self, data: Mapping[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.add((key,), "must be a table" + got(value))
            return {}
        return value

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
