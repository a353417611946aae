"""Every key of the dashboard, by id: what it does, its help section, its danger.

Screens declare their ``BINDINGS`` with :func:`binding` so a key has one
definition (key, action, description, tooltip) wherever it is bound — the
main screen and the agent screen both bind ``kill-agent`` and must agree.
The help screen groups bindings by :data:`SECTIONS` and flags
:data:`DESTRUCTIVE` ones; ``--read-only`` hides and refuses :data:`MUTATING`
ones; :class:`Debouncer` makes sure a held or bouncing key acts once (as
dolphie's ``KeyEventManager`` does with 300 ms).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from textual.binding import Binding

from controlroom.models.attention import ATTENTION_ORDER

__all__ = [
    "DEBOUNCE_SECONDS",
    "DESTRUCTIVE",
    "KEYS",
    "MUTATING",
    "MUTATING_ACTIONS",
    "READ_ONLY_REFUSALS",
    "REPLAY",
    "SECTION_ORDER",
    "SECTIONS",
    "Debouncer",
    "KeySpec",
    "binding",
    "section_of",
]


@dataclass(frozen=True)
class KeySpec:
    """One key's definition; ``action`` is relative to the screen that binds it.

    ``command`` is the control API command the key's action sends (through the
    Operator), for a key that changes the swarm; None for every other key.
    """

    key: str
    action: str
    description: str
    tooltip: str
    section: str
    key_display: str | None = None
    command: str | None = None


NAVIGATION: Final = "Navigation"
GATES: Final = "Gates"
AGENTS: Final = "Agents"
EMERGENCY: Final = "Emergency"
VIEW: Final = "View"
REPLAY: Final = "Replay"

SECTION_ORDER: Final[tuple[str, ...]] = (NAVIGATION, GATES, AGENTS, EMERGENCY, VIEW, REPLAY)
"""Sections in the order the help screen shows them."""

KEYS: Final[dict[str, KeySpec]] = {
    # Navigation
    "cursor-down": KeySpec(
        "j,down", "cursor_down", "Down", "Select the next row", NAVIGATION, "j/↓"
    ),
    "cursor-up": KeySpec("k,up", "cursor_up", "Up", "Select the previous row", NAVIGATION, "k/↑"),
    "page-down": KeySpec("pagedown", "page_down", "Page down", "Select a page further", NAVIGATION),
    "page-up": KeySpec("pageup", "page_up", "Page up", "Select a page back", NAVIGATION),
    "first-row": KeySpec("home", "first_row", "First", "Select the first row", NAVIGATION),
    "last-row": KeySpec("end,G", "last_row", "Last", "Select the last row", NAVIGATION),
    "open-selected": KeySpec(
        "enter", "open_selected", "Open", "Open the selected agent or gate", NAVIGATION, "⏎"
    ),
    "focus-gates": KeySpec(
        "g", "focus_gates", "Gates", "Jump to the pending-gate queue", NAVIGATION
    ),
    "focus-agents": KeySpec(
        "tab", "focus_next", "Next pane", "Move focus to the next pane", NAVIGATION
    ),
    "filter": KeySpec(
        "slash", "filter", "Filter", "Filter agents by name or state", NAVIGATION, "/"
    ),
    "sort": KeySpec("s", "sort", "Sort", "Cycle the agent table's sort column", NAVIGATION),
    **{
        f"attention-{number}": KeySpec(
            str(number),
            f"attention_filter({number})",
            f"Only {group}",
            f"Show only the agents in the '{group}' group (again: every agent)",
            NAVIGATION,
        )
        for number, group in enumerate(ATTENTION_ORDER, start=1)
    },
    "back": KeySpec(
        "escape", "back", "Back", "Close this screen / clear the filter", NAVIGATION, "esc"
    ),
    # Gates
    "approve-gate": KeySpec(
        "a",
        "approve_gate",
        "Approve",
        "Approve the selected gate (else the oldest pending one)",
        GATES,
        command="approve",
    ),
    "approve-gate-note": KeySpec(
        "A",
        "approve_with_reason",
        "Approve + note",
        "Approve this gate with a note for the audit log",
        GATES,
        command="approve",
    ),
    "reject-gate": KeySpec(
        "r",
        "reject_gate",
        "Reject",
        "Reject the selected gate, with a required reason",
        GATES,
        command="reject",
    ),
    # Agents
    "kill-agent": KeySpec(
        "x", "kill_agent", "Kill", "Kill the selected agent (asks first)", AGENTS, command="kill"
    ),
    "pause-agent": KeySpec(
        "p",
        "pause_agent",
        "Pause",
        "Pause or resume the selected agent",
        AGENTS,
        command="pause",
    ),
    "restart-agent": KeySpec(
        "R",
        "restart_agent",
        "Restart",
        "Restart the selected agent (new budget if it ran out)",
        AGENTS,
        command="restart",
    ),
    "reset-breaker": KeySpec(
        "b",
        "reset_breaker",
        "Reset breaker",
        "Close the selected agent's circuit breaker",
        AGENTS,
        command="reset_breaker",
    ),
    # Emergency
    "stop-all": KeySpec(
        "X",
        "stop_all",
        "STOP ALL",
        "EMERGENCY: stop every agent of the swarm",
        EMERGENCY,
        command="stop_all",
    ),
    # ctrl+x is bound apart, with priority, so it works even while an Input has focus
    # (where a plain X is text): the emergency stop must never be one wrong focus away.
    "stop-all-now": KeySpec(
        "ctrl+x",
        "stop_all",
        "STOP ALL",
        "EMERGENCY: stop every agent (from anywhere)",
        EMERGENCY,
        "^x",
        command="stop_all",
    ),
    # View
    "audit-log": KeySpec("l", "audit_log", "Audit log", "Open the live audit log", VIEW),
    "open-diff": KeySpec(
        "d", "open_diff", "Diff", "Show what the selected agent really changed (its diff)", VIEW
    ),
    "collisions": KeySpec(
        "c",
        "collisions",
        "Collisions",
        "Where agents' work collides, and the suggested merge order",
        VIEW,
    ),
    "cycle-theme": KeySpec("t", "cycle_theme", "Theme", "Switch to the next colour theme", VIEW),
    "help": KeySpec("question_mark", "help", "Help", "Show every key, by section", VIEW, "?"),
    "command-palette": KeySpec(
        "ctrl+p", "command_palette", "Commands", "Search every command", VIEW, "^p"
    ),
    "quit": KeySpec("q", "quit", "Quit", "Quit (asks what to do with running agents)", VIEW),
    # Replay (controlroom replay: the time bar)
    "replay-back": KeySpec("left", "replay_step(-1)", "Back", "One event back", REPLAY, "←"),
    "replay-forward": KeySpec(
        "right", "replay_step(1)", "Forward", "One event forward", REPLAY, "→"
    ),
    "replay-back-10s": KeySpec(
        "left_square_bracket", "replay_jump(-10)", "-10 s", "Ten seconds back", REPLAY, "["
    ),
    "replay-forward-10s": KeySpec(
        "right_square_bracket", "replay_jump(10)", "+10 s", "Ten seconds forward", REPLAY, "]"
    ),
    "replay-play": KeySpec("space", "replay_play", "Play", "Play or pause the replay", REPLAY),
    "replay-faster": KeySpec(
        "plus", "replay_speed(1)", "Faster", "Play faster (1×, 10×, 100×)", REPLAY, "+"
    ),
    "replay-slower": KeySpec(
        "minus", "replay_speed(-1)", "Slower", "Play slower (100×, 10×, 1×)", REPLAY, "-"
    ),
    "replay-start": KeySpec("home", "replay_edge(0)", "Start", "The run's first event", REPLAY),
    "replay-end": KeySpec("end", "replay_edge(1)", "End", "The run's last event", REPLAY),
}
"""Every binding id of the dashboard and its definition."""

SECTIONS: Final[dict[str, str]] = {binding_id: spec.section for binding_id, spec in KEYS.items()}
"""binding id → help section (one of :data:`SECTION_ORDER`)."""

DESTRUCTIVE: Final[frozenset[str]] = frozenset(
    {"kill-agent", "stop-all", "stop-all-now", "reject-gate", "restart-agent"}
)
"""Binding ids whose action cannot be undone: flagged in help, always confirmed."""

MUTATING: Final[frozenset[str]] = frozenset(i for i, spec in KEYS.items() if spec.command)
"""Binding ids that change the swarm (they send a command): hidden and refused read-only."""

READ_ONLY_REFUSALS: Final[dict[str, str]] = {
    spec.action: spec.command for spec in KEYS.values() if spec.command
}
"""Every action that changes the swarm (on any screen) → the control API command it sends.

In ``--read-only`` their bindings are hidden (``check_action`` → False) and
a press is answered with that command's read-only refusal, in the control
API's words (``read-only: kill is not allowed``), instead of silence: the
same on every screen.
"""

MUTATING_ACTIONS: Final[frozenset[str]] = frozenset(READ_ONLY_REFUSALS)
"""The action names of :data:`MUTATING` bindings, for ``check_action`` in ``--read-only``."""

DEBOUNCE_SECONDS: Final = 0.3


def section_of(binding_id: str | None) -> str:
    """The help section of a binding id; bindings we don't know go under View."""
    return SECTIONS.get(binding_id or "", VIEW)


def binding(
    binding_id: str,
    *,
    action: str | None = None,
    show: bool = True,
    priority: bool = False,
) -> Binding:
    """The Textual ``Binding`` for ``binding_id`` (``action`` overrides the spec's)."""
    spec = KEYS[binding_id]
    return Binding(
        spec.key,
        action or spec.action,
        spec.description,
        show=show,
        key_display=spec.key_display,
        priority=priority,
        tooltip=spec.tooltip,
        id=binding_id,
    )


class Debouncer:
    """Lets an action through once per burst of presses.

    A press is refused when the previous press of the same action (refused or
    not) came less than ``interval`` seconds before: a held key repeats every
    ~30 ms, so it acts once and then not again until it is released for
    ``interval``. Two different actions never block each other.
    """

    def __init__(
        self, interval: float = DEBOUNCE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}

    def allow(self, action: str) -> bool:
        """True when ``action`` may run now; records the press either way."""
        now = self._clock()
        previous = self._last.get(action)
        self._last[action] = now
        return previous is None or now - previous >= self.interval
