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

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from textual.app import App
from textual.theme import Theme

from controlroom._errors import ConfigError, ConfigProblem
from controlroom._tomllines import TomlKeyLines
from controlroom.tui.theme_file import load_theme_file
from controlroom.tui.theme_spec import (
    COLOR_NAMES,
    CSS_VARIABLES,
    DEFAULT_THEME,
    OWN_VARIABLES,
    STATUS_NAMES,
    ThemeSpec,
    status_variable,
    theme_order,
)

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
