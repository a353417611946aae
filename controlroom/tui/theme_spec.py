"""What a dashboard theme is: its colour names, status colours, CSS variables and order.

The vocabulary the theme loader checks files against and the app registers
with Textual, apart from both so either can be read alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from controlroom.models import AgentState

__all__ = [
    "COLOR_NAMES",
    "CSS_VARIABLES",
    "DEFAULT_THEME",
    "OWN_VARIABLES",
    "STATUS_NAMES",
    "ThemeSpec",
    "status_variable",
    "theme_order",
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


def theme_order(themes: Iterable[str]) -> list[str]:
    """The stable order themes are shown and cycled in: the default first, then alphabetical."""
    return sorted(themes, key=lambda name: (name != DEFAULT_THEME, name.casefold(), name))
