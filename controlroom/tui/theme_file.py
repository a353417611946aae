"""Reading one theme file: every problem found (file, line, key), then one ``ConfigError``.

A theme is operator-written TOML; each colour is parsed as Textual would
(``Color.parse``), status colours must be opaque, and an unknown key comes
with the nearest known one, so a typo is one clear line and the rest loads.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.css.tokenize import tokenize_values
from textual.css.tokenizer import TokenError
from textual.design import ColorSystem

from controlroom._errors import ConfigError, ConfigProblem
from controlroom._tomllines import KeyPath, TomlKeyLines, format_key_path, read_toml
from controlroom.models import AgentState
from controlroom.tui.theme_spec import (
    COLOR_NAMES,
    OWN_VARIABLES,
    STATUS_NAMES,
    ThemeSpec,
)

__all__ = ["load_theme_file"]

# own variable → the [status] key (an agent state) or [colors] key it defaults to
_DERIVED_FROM: dict[str, tuple[str, str]] = {
    "gate-alert": ("status", AgentState.GATED),
    "meter-ok": ("status", AgentState.RUNNING),
    "meter-warn": ("status", AgentState.GATED),
    "meter-over": ("status", AgentState.FAILED),
    "sparkline": ("colors", "primary"),
}


_TOP_KEYS = ("name", "dark", "description", "colors", "status", "variables")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def load_theme_file(path: str | Path) -> ThemeSpec:
    """Read and validate one theme file; ``ConfigError`` lists every problem in it."""
    file = str(path)
    text, data = read_toml(path)
    return _ThemeReader(file, TomlKeyLines(text)).read(data)


@cache
def _textual_variables() -> frozenset[str]:
    """The CSS variable names Textual's own design system defines."""
    return frozenset(ColorSystem(primary="#000000").generate())


class _ThemeReader:
    """Validates one parsed theme file, collecting every problem before raising."""

    def __init__(self, file: str, lines: TomlKeyLines) -> None:
        self.file = file
        self.lines = lines
        self.problems: list[ConfigProblem] = []

    def problem(self, path: KeyPath, message: str) -> None:
        where = self.lines.line_of(path)
        self.problems.append(ConfigProblem(self.file, where, format_key_path(path), message))

    def read(self, data: dict[str, Any]) -> ThemeSpec:
        self.unknown_keys((), data, _TOP_KEYS)
        name = self.string(data, "name", required=True)
        if name and not _NAME.match(name):
            allowed = "letters, digits, '-', '_', '.'"
            self.problem(("name",), f"{name!r} is not a theme name ({allowed})")
        dark = data.get("dark")
        if dark is None:
            self.problem(("dark",), "required key is missing (true or false)")
        elif not isinstance(dark, bool):
            self.problem(("dark",), _wanted("true or false", dark))
        description = self.string(data, "description", required=False)
        colors = self.colors(self.table(data, "colors", required=True))
        status = self.status(self.table(data, "status", required=True))
        variables = self.variables(self.table(data, "variables", required=False) or {})
        if self.problems:
            raise ConfigError(sorted(self.problems, key=lambda p: p.line or 0))
        for own, (section, key) in _DERIVED_FROM.items():
            if own not in variables:
                variables[own] = status[key] if section == "status" else _hex6(colors[key])
        return ThemeSpec(
            name=name,
            dark=bool(dark),
            colors=colors,
            status=status,
            variables=variables,
            description=description,
            source=self.file,
        )

    # -- shapes

    def unknown_keys(self, at: KeyPath, table: Mapping[str, Any], known: Iterable[str]) -> None:
        known = tuple(known)
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
                self.problem(at + (key,), f"unknown key{hint}")

    def string(self, data: Mapping[str, Any], key: str, *, required: bool) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.problem((key,), "required key is missing")
            return ""
        if not isinstance(value, str):
            self.problem((key,), _wanted("a string", value))
            return ""
        return value

    def table(self, data: Mapping[str, Any], key: str, *, required: bool) -> dict[str, Any] | None:
        """The table ``key``; ``None`` (reported if required) when absent or not a table."""
        value = data.get(key)
        if value is None:
            if required:
                self.problem((key,), f"required table [{key}] is missing")
            return None
        if not isinstance(value, dict):
            self.problem((key,), _wanted(f"a table [{key}]", value))
            return None
        return value

    # -- sections

    def colors(self, table: Mapping[str, Any] | None) -> dict[str, str]:
        if table is None:
            return {}
        self.unknown_keys(("colors",), table, COLOR_NAMES)
        if "primary" not in table:
            self.problem(("colors", "primary"), "required key is missing")
        out: dict[str, str] = {}
        for key in COLOR_NAMES:
            if key in table and self.color(("colors", key), table[key], opaque=False):
                out[key] = table[key]
        return out

    def status(self, table: Mapping[str, Any] | None) -> dict[str, str]:
        if table is None:
            return {}
        self.unknown_keys(("status",), table, STATUS_NAMES)
        out: dict[str, str] = {}
        for state in STATUS_NAMES:
            if state not in table:
                self.problem(("status", state), "required key is missing (every agent state)")
            elif color := self.color(("status", state), table[state], opaque=True):
                out[state] = color
        return out

    def variables(self, table: Mapping[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in table.items():
            path: KeyPath = ("variables", key)
            if key.startswith("status-"):
                self.problem(path, "status colours belong in [status]")
            elif key in OWN_VARIABLES:
                if color := self.color(path, value, opaque=True):
                    out[key] = color
            elif key not in _textual_variables():
                close = difflib.get_close_matches(key, [*OWN_VARIABLES, *_textual_variables()], 1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.problem(path, f"not a controlroom or Textual CSS variable{hint}")
            elif not isinstance(value, str) or not value.strip():
                self.problem(path, _wanted("a CSS value string", value))
            else:
                try:
                    tokenize_values({key: value})
                except TokenError:
                    self.problem(path, f"{value!r} is not a CSS value")
                else:
                    out[key] = value
        return out

    def color(self, path: KeyPath, value: object, *, opaque: bool) -> str:
        """``value`` as ``#rrggbb`` (or as written, when alpha is allowed); "" if invalid."""
        if not isinstance(value, str):
            self.problem(path, _wanted("a colour string", value))
            return ""
        try:
            color = Color.parse(value)
        except ColorParseError as exc:
            hint = f"; did you mean {exc.suggested_color!r}?" if exc.suggested_color else ""
            self.problem(path, f'{value!r} is not a colour (use "#rrggbb"){hint}')
            return ""
        if color.ansi is not None:
            self.problem(path, f'{value!r} is an ANSI colour; use "#rrggbb"')
            return ""
        if opaque and color.a < 1:
            self.problem(path, f"{value!r} is translucent; status colours must be opaque")
            return ""
        return color.hex6.lower() if opaque else value


def _wanted(what: str, value: object) -> str:
    return f"expected {what}, got {type(value).__name__} {value!r}"


def _hex6(value: str) -> str:
    return Color.parse(value).hex6.lower()
