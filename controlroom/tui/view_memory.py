"""The agent table's sort and attention filter, remembered per swarm across sessions.

An operator who watches only the gated agents of ``feature-x`` should find
that view again tomorrow, without it leaking into another swarm. One small
JSON file in the user's state directory (``$XDG_STATE_HOME/controlroom/
views.json``, by default ``~/.local/state``) maps a swarm's name to its
choice. The file is a convenience: one that cannot be read or written never
stops the dashboard, it is only reported (naming the file) and forgotten.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from controlroom.models.attention import Attention

__all__ = ["ViewChoice", "ViewMemory", "default_path"]


@dataclass(frozen=True)
class ViewChoice:
    """What the operator picked: a sort column and at most one attention group."""

    sort: str = "attention"
    group: Attention | None = None


def default_path() -> Path:
    """``$XDG_STATE_HOME/controlroom/views.json`` (``~/.local/state`` when unset)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "controlroom" / "views.json"


class ViewMemory:
    """Reads and writes the per-swarm choices; ``problem`` says what went wrong, if anything."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.problem: str | None = None

    def _load(self) -> dict[str, dict[str, str | None]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            self.problem = f"{self.path}: view memory unreadable, ignored ({exc})"
            return {}
        swarms = data.get("swarms") if isinstance(data, dict) else None
        if not isinstance(swarms, dict):
            self.problem = f"{self.path}: view memory has no 'swarms' object, ignored"
            return {}
        return {k: v for k, v in swarms.items() if isinstance(v, dict)}

    def recall(self, swarm: str) -> ViewChoice:
        """The choice last made for ``swarm`` (the default when none, or unreadable)."""
        entry = self._load().get(swarm) or {}
        sort = entry.get("sort")
        group = entry.get("group")
        return ViewChoice(
            sort=sort if isinstance(sort, str) else ViewChoice.sort,
            group=Attention(group) if group in tuple(Attention) else None,
        )

    def remember(self, swarm: str, choice: ViewChoice) -> None:
        """Store ``choice`` for ``swarm`` (atomically: a crash never leaves half a file)."""
        swarms = self._load()
        swarms[swarm] = {"sort": choice.sort, "group": choice.group}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp = self.path.with_suffix(f".{os.getpid()}.tmp")
            temp.write_text(json.dumps({"swarms": swarms}, indent=1), encoding="utf-8")
            temp.replace(self.path)
        except OSError as exc:
            self.problem = f"{self.path}: view memory not saved ({exc})"
