"""The operator's own keys: ``keymap.toml`` in the user config dir (posting's ``set_keymap``).

Every binding of the dashboard has an id (``keys.KEYS``); a keymap file maps
ids to the keys the operator wants instead, one per line::

    # $XDG_CONFIG_HOME/controlroom/keymap.toml (default ~/.config/controlroom/)
    kill-agent = "K"               # one key
    approve-gate = "A,ctrl+a"      # or several, comma-separated
    reject-gate = ["shift+r", "f2"]

The keys replace the defaults of that binding on every screen that binds it;
help and the footer show the effective keys. A line with an unknown binding id
or a key Textual cannot name is skipped and reported as a problem naming the
file, the line and the key (the dashboard shows each one; nothing else fails).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from difflib import get_close_matches
from pathlib import Path

from textual.keys import Keys, _character_to_key, key_to_character

from controlroom._errors import ConfigError, ConfigProblem
from controlroom._tomllines import TomlKeyLines, read_toml
from controlroom.tui.keys import KEYS

__all__ = ["KEYMAP_FILE", "load_keymap", "user_keymap_path", "valid_key"]

KEYMAP_FILE = "keymap.toml"

_MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
_NAMED = frozenset(
    {k.value for k in Keys if "+" not in k.value and not k.value.startswith("<")}
    | {_character_to_key(chr(c)) for c in range(32, 127)}
)


def user_keymap_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/controlroom/keymap.toml``; a relative or empty XDG value is ignored."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "controlroom" / KEYMAP_FILE


def valid_key(key: str) -> bool:
    """Whether Textual can bind ``key``: modifiers, then one character or a key name."""
    *modifiers, name = key.strip().split("+")
    if not name or any(m not in _MODIFIERS for m in modifiers):
        return False
    return len(name) == 1 or name in _NAMED or key_to_character(name) is not None


def load_keymap(path: Path | None = None) -> tuple[dict[str, str], list[ConfigProblem]]:
    """The binding id → keys overrides of ``path`` (default the user's), and every problem.

    A missing file is an empty keymap. Good lines apply even when others are
    wrong, so one typo never costs the operator the rest of their keys.
    """
    path = user_keymap_path() if path is None else path
    if not path.is_file():
        return {}, []
    try:
        text, data = read_toml(path)
    except ConfigError as exc:
        return {}, list(exc.problems)
    lines = TomlKeyLines(text)
    keymap: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for binding_id, value in data.items():

        def problem(message: str, binding_id: str = binding_id) -> None:
            line = lines.line_of((binding_id,))
            problems.append(ConfigProblem(str(path), line, binding_id, message))

        if binding_id not in KEYS:
            near = get_close_matches(binding_id, KEYS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else " (see the help screen, '?')"
            problem(f"no binding has this id{hint}")
            continue
        keys = value.split(",") if isinstance(value, str) else value
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            problem('expected a key, e.g. "K", "ctrl+k" or "K,f2" (or a list of them)')
            continue
        bad = [k for k in keys if not valid_key(k)]
        if bad:
            problem(f"not a key: {', '.join(repr(k) for k in bad)}")
            continue
        keymap[binding_id] = ",".join(k.strip() for k in keys)
    return keymap, problems
