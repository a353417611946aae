"""Every key that works right now, grouped by section, dangerous ones flagged.

Like k9s's ``?``: the help reads the live bindings of the screen below it
(its focused widget, the screen and the app, as Textual resolves them, so a
user keymap and ``--read-only`` are reflected), groups them by the section
``controlroom.tui.keys.SECTIONS`` gives their id (unknown ids under
"Other"), and marks each id in ``DESTRUCTIVE`` with a red "!" and
"(confirm)": those always ask before acting.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from controlroom.tui.keys import DESTRUCTIVE, KEYS, SECTION_ORDER, SECTIONS

__all__ = ["OTHER", "HelpEntry", "HelpRow", "HelpScreen", "collect_help"]

OTHER = "Other"


@dataclass(frozen=True)
class HelpEntry:
    """One line of help: the key as shown, what it does, and how much to fear it."""

    binding_id: str | None
    key: str
    description: str
    tooltip: str
    section: str
    destructive: bool


def collect_help(screen: Screen[Any] | None, app_bindings: list[Binding]) -> list[HelpEntry]:
    """The help entries for ``screen`` (its active bindings) plus ``app_bindings``, deduplicated.

    Our bindings (ids in ``KEYS``) win over inherited ones doing the same
    thing: Textual's own ctrl+q "Quit" must not hide our ``q`` "Quit".
    """
    from textual.app import App

    bindings: list[Binding] = []
    if screen is not None:
        bindings.extend(active.binding for active in screen.active_bindings.values())
    bindings.extend(app_bindings)
    bindings.sort(key=lambda item: item.id not in KEYS)  # stable: ours first, order kept
    entries: list[HelpEntry] = []
    seen: dict[tuple[str, str], int] = {}  # identity -> its entry's index
    ours: set[tuple[str, str]] = set()  # (action, description) of our bindings
    app: App[Any] | None = screen.app if screen is not None else None
    for item in bindings:
        if item.system or not (item.description or item.tooltip):
            continue
        identity = (item.id or item.action, item.description)
        doing = (item.action, item.description)
        key = app.get_key_display(item) if app is not None else (item.key_display or item.key)
        if identity in seen:  # another key of the same binding (a keymap's "A,ctrl+a")
            first = entries[seen[identity]]
            shown = first.key.split("/")
            more = [part for part in key.split("/") if part not in shown]
            if more:
                entries[seen[identity]] = replace(first, key="/".join([*shown, *more]))
            continue
        if item.id not in KEYS and doing in ours:
            continue
        seen[identity] = len(entries)
        if item.id in KEYS:
            ours.add(doing)
        entries.append(
            HelpEntry(
                binding_id=item.id,
                key=key,
                description=item.description,
                tooltip=item.tooltip,
                section=SECTIONS.get(item.id or "", OTHER),
                destructive=(item.id or "") in DESTRUCTIVE,
            )
        )
    return entries


class HelpScreen(ModalScreen[None]):
    """The keys of the screen below, by section; esc, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,q,question_mark",
            "close",
            "Close",
            key_display="esc",
            id="help-close",
            tooltip="Close the help",
        ),
    ]

    def compose(self) -> ComposeResult:
        stack = self.app.screen_stack
        below = stack[-2] if len(stack) >= 2 else None
        app_bindings = [] if below is not None else _app_bindings(self)
        entries = collect_help(below, app_bindings)
        sections = [*SECTION_ORDER, OTHER]
        with VerticalScroll(id="help-dialog"):
            yield Static("Keys", id="help-title")
            for section in sections:
                rows = [e for e in entries if e.section == section]
                if not rows:
                    continue
                slug = section.lower().replace(" ", "-")
                with Vertical(classes="help-section", id=f"help-section-{slug}") as box:
                    box.border_title = section
                    for entry in rows:
                        yield HelpRow(entry)
            yield Static("! = destructive: always asks first", classes="help-legend")

    def action_close(self) -> None:
        self.dismiss(None)


def _app_bindings(screen: Screen[Any]) -> list[Binding]:
    return [binding for _, binding in screen.app._bindings]


class HelpRow(Horizontal):
    """One binding: the "!" flag, the key, and what it does."""

    def __init__(self, entry: HelpEntry) -> None:
        super().__init__(classes="help-row -destructive" if entry.destructive else "help-row")
        self.entry = entry

    def compose(self) -> ComposeResult:
        entry = self.entry
        text = entry.description
        if entry.tooltip and entry.tooltip != entry.description:
            text += f" — {entry.tooltip}"
        if entry.destructive:
            text += " (confirm)"
        yield Static("!" if entry.destructive else " ", classes="help-flag", markup=False)
        yield Static(entry.key, classes="help-key", markup=False)
        yield Static(text, classes="help-text", markup=False)
