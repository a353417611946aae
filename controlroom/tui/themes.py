"""Dashboard colour themes, kept as data files and turned into Textual themes.

Colours never live in widgets or ``.tcss`` files: a theme is a TOML file, so an
operator can add or adjust one without touching code. The built-in themes ship
in the wheel as ``controlroom/_themes`` (``themes/`` in a source checkout);
user themes live in ``$XDG_CONFIG_HOME/controlroom/themes`` (default
``~/.config/controlroom/themes``) and replace a built-in theme of the same name.

A theme file::

    name = "control-room"         # letters, digits, '-', '_', '.'
    dark = true                   # dark or light background
    description = "…"             # optional
    [colors]                      # Textual's theme colours; primary is required,
    primary = "#4fa3ff"           # Textual derives any other one left out:
    ...                           # secondary accent foreground background surface
                                  # panel boost warning error success
    [status]                      # required: one opaque colour per agent state
    running = "#5fd38d"           # (every value of controlroom.models.AgentState)
    ...
    [variables]                   # optional CSS variables: controlroom's own
    gate-alert = "#ffc940"        # (gate-alert, meter-ok, meter-warn, meter-over,
    ...                           # sparkline) or any of Textual's

Each status colour becomes the CSS variable ``$status-<state>`` (``_`` written
``-``: ``$status-budget-stopped``), so the dashboard's ``.tcss`` says
``color: $status-running;``. Every theme provides every name in
``CSS_VARIABLES``: a missing status colour is an error, a missing controlroom
variable is derived from the theme's own colours (gate-alert and meter-warn
from gated, meter-ok from running, meter-over from failed, sparkline from
primary) so it always suits that theme's background.

A bad file is reported as ``ConfigProblem`` (file, line, key, message) and
skipped; it never stops the dashboard, which falls back to the default theme.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from textual.app import App
from textual.color import Color, ColorParseError
from textual.css.tokenize import tokenize_values
from textual.css.tokenizer import TokenError
from textual.design import ColorSystem
from textual.theme import Theme

from controlroom._errors import ConfigError, ConfigProblem
from controlroom._tomllines import KeyPath, TomlKeyLines, format_key_path, read_toml
from controlroom.models import AgentState

__all__ = [
    "COLOR_NAMES",
    "CSS_VARIABLES",
    "DEFAULT_THEME",
    "OWN_VARIABLES",
    "STATUS_NAMES",
    "ThemeSpec",
    "builtin_theme_dir",
    "css_variable_defaults",
    "load_theme_file",
    "load_themes",
    "next_theme",
    "register_themes",
    "resolve_theme",
    "status_variable",
    "theme_dirs",
    "theme_order",
    "to_textual",
    "user_theme_dir",
]

DEFAULT_THEME = "control-room"

COLOR_NAMES = (
    "primary", "secondary", "accent", "foreground", "background",
    "surface", "panel", "boost", "warning", "error", "success",
)  # fmt: skip
"""The keys of ``[colors]``: Textual's theme colours."""

STATUS_NAMES: tuple[str, ...] = tuple(
    value for key, value in vars(AgentState).items() if key.isupper() and isinstance(value, str)
)
"""The keys of ``[status]``: every agent state, each required."""

OWN_VARIABLES = ("gate-alert", "meter-ok", "meter-warn", "meter-over", "sparkline")
"""controlroom's own CSS variables besides the status colours."""

_DERIVED_FROM = {  # own variable → the [status] key (or [colors] key) it defaults to
    "gate-alert": ("status", "gated"),
    "meter-ok": ("status", "running"),
    "meter-warn": ("status", "gated"),
    "meter-over": ("status", "failed"),
    "sparkline": ("colors", "primary"),
}

_TOP_KEYS = ("name", "dark", "description", "colors", "status", "variables")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def status_variable(state: str) -> str:
    """The CSS variable of ``state``'s colour: ``budget_stopped`` → ``status-budget-stopped``."""
    return "status-" + state.replace("_", "-")


CSS_VARIABLES: tuple[str, ...] = tuple(status_variable(s) for s in STATUS_NAMES) + OWN_VARIABLES
"""Every CSS variable a controlroom theme defines, so ``.tcss`` may use any of them."""


@dataclass(frozen=True)
class ThemeSpec:
    """One validated theme file. ``status`` and own ``variables`` hold ``#rrggbb`` colours."""

    name: str
    dark: bool
    colors: Mapping[str, str]
    status: Mapping[str, str]
    variables: Mapping[str, str]
    description: str = ""
    source: str = field(default="", compare=False)

    def css_variables(self) -> dict[str, str]:
        """The CSS variables this theme adds to Textual's: status colours, then ``variables``."""
        out = {status_variable(state): color for state, color in self.status.items()}
        out.update(self.variables)
        return out


# --------------------------------------------------------------------------- where themes live


def builtin_theme_dir() -> Path:
    """``controlroom/_themes`` in an installed wheel, else the checkout's ``themes/``."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "_themes"
    return packaged if packaged.is_dir() else package.parent / "themes"


def user_theme_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/controlroom/themes``; a relative or empty XDG value is ignored."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "controlroom" / "themes"


def theme_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where themes are looked for, lowest precedence first: built-in, then the user's."""
    return [builtin_theme_dir(), user_theme_dir(environ)]


# --------------------------------------------------------------------------- loading


def load_theme_file(path: str | Path) -> ThemeSpec:
    """Read and validate one theme file; ``ConfigError`` lists every problem in it."""
    file = str(path)
    text, data = read_toml(path)
    return _ThemeReader(file, TomlKeyLines(text)).read(data)


def load_themes(
    dirs: Iterable[Path] | None = None,
) -> tuple[dict[str, ThemeSpec], list[ConfigProblem]]:
    """Every valid theme in ``dirs`` (default ``theme_dirs()``), by name, and the problems.

    A later directory's theme replaces an earlier one of the same name (the
    user's over the built-in); two files of one name in one directory are a
    problem. Missing directories are simply empty. Names come in ``theme_order``.
    """
    themes: dict[str, ThemeSpec] = {}
    problems: list[ConfigProblem] = []
    for folder in theme_dirs() if dirs is None else dirs:
        if not folder.is_dir():
            continue
        here: dict[str, ThemeSpec] = {}
        for path in sorted(folder.glob("*.toml")):
            try:
                spec = load_theme_file(path)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            if spec.name in here:
                problems.append(_duplicate(spec, here[spec.name]))
                continue
            here[spec.name] = spec
        themes.update(here)
    return {name: themes[name] for name in theme_order(themes)}, problems


def _duplicate(spec: ThemeSpec, first: ThemeSpec) -> ConfigProblem:
    lines = TomlKeyLines(Path(spec.source).read_text(encoding="utf-8-sig"))
    message = f"theme {spec.name!r} is already defined by {first.source}; this file is skipped"
    return ConfigProblem(spec.source, lines.line_of(("name",)), "name", message)


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


# --------------------------------------------------------------------------- using themes


def to_textual(spec: ThemeSpec) -> Theme:
    """The Textual ``Theme`` for ``spec``, carrying every name in ``CSS_VARIABLES``."""
    colors = spec.colors
    return Theme(
        name=spec.name,
        primary=colors["primary"],
        secondary=colors.get("secondary"),
        accent=colors.get("accent"),
        foreground=colors.get("foreground"),
        background=colors.get("background"),
        surface=colors.get("surface"),
        panel=colors.get("panel"),
        boost=colors.get("boost"),
        warning=colors.get("warning"),
        error=colors.get("error"),
        success=colors.get("success"),
        dark=spec.dark,
        variables=spec.css_variables(),
    )


def register_themes(app: App[Any], themes: Mapping[str, ThemeSpec]) -> None:
    """Register every theme with ``app`` so ``app.theme = name`` works for each."""
    for spec in themes.values():
        app.register_theme(to_textual(spec))


def css_variable_defaults(themes: Mapping[str, ThemeSpec]) -> dict[str, str]:
    """controlroom's CSS variables from the default theme, for ``App.get_theme_variable_defaults``.

    Textual's own themes (nord, gruvbox, … in the command palette) know nothing
    of ``$status-running``; with these defaults the CSS still resolves under them.
    """
    order = theme_order(themes)
    spec = themes.get(DEFAULT_THEME) or (themes[order[0]] if order else None)
    if spec is None:
        return {}
    variables = spec.css_variables()
    return {name: variables[name] for name in CSS_VARIABLES}


def theme_order(themes: Iterable[str]) -> list[str]:
    """The stable order themes are shown and cycled in: the default first, then alphabetical."""
    return sorted(themes, key=lambda name: (name != DEFAULT_THEME, name.casefold(), name))


def resolve_theme(
    name: str | None, themes: Mapping[str, ThemeSpec]
) -> tuple[ThemeSpec, str | None]:
    """The theme called ``name`` (``None``/"" = the default), or the default and a warning.

    ``ConfigError`` only when no theme at all could be loaded.
    """
    wanted = name or DEFAULT_THEME
    if wanted in themes:
        return themes[wanted], None
    order = theme_order(themes)
    if not order:
        folders = ", ".join(str(d) for d in theme_dirs())
        message = f"no theme could be loaded (looked in {folders}); is the install complete?"
        raise ConfigError([ConfigProblem("themes", None, "", message)])
    fallback = themes[order[0]]
    known = ", ".join(order)
    return fallback, f"unknown theme {wanted!r}; using {fallback.name!r} (known: {known})"


def next_theme(current: str, themes: Iterable[str]) -> str:
    """The theme after ``current`` in ``theme_order``, wrapping round (the ``t`` key)."""
    order = theme_order(themes)
    if not order:
        return current
    if current not in order:
        return order[0]
    return order[(order.index(current) + 1) % len(order)]
