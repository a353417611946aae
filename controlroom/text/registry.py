"""How an event becomes words: one describer per event type, registered, and the fallback.

The sentences themselves live in the modules that register them (events,
workspace, notices); ``describe`` finds them here, and makes each inert.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from controlroom.inert import inert_line
from controlroom.models import EVENT_ADAPTER, EventBase

__all__ = [
    "BASE_KEYS",
    "WORDS",
    "colon",
    "describe",
    "describe_payload",
    "exit_text",
    "one_line",
    "words",
]

BASE_KEYS = frozenset({"run", "seq", "ts", "agent", "kind"})
"""Keys every stored event has; the rest are the event's own fields."""


def one_line(value: Any, limit: int = 160) -> str:
    """``value`` on one line (JSON for data), inert, cut at ``limit`` characters with ``…``."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = inert_line(" ⏎ ".join(part.strip() for part in text.strip().splitlines()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def exit_text(returncode: int | None, signal: str | None) -> str:
    """``killed by SIGTERM`` or ``exit code 3``."""
    return f"killed by {signal}" if signal else f"exit code {returncode}"


def colon(value: str) -> str:
    return f": {one_line(value)}" if value else ""


E = TypeVar("E", bound=EventBase)
WORDS: dict[type[EventBase], Callable[[Any], str]] = {}


def words(kind: type[E]) -> Callable[[Callable[[E], str]], Callable[[E], str]]:
    def register(describer: Callable[[E], str]) -> Callable[[E], str]:
        WORDS[kind] = describer
        return describer

    return register


def describe(event: EventBase) -> str:
    """The event in words: one line of plain English, inert whatever the agent wrote."""
    describer = WORDS.get(type(event))
    if describer is None:  # a kind without a sentence yet: its fields, as data
        fields = event.model_dump(mode="json", exclude=set(BASE_KEYS))
        return one_line({k: fields[k] for k in sorted(fields)})
    return inert_line(describer(event))


def describe_payload(data: Mapping[str, Any]) -> str:
    """A stored payload or control-API event dict in words (parsed into its event first)."""
    try:
        event = EVENT_ADAPTER.validate_python(dict(data))
    except ValidationError:  # not a current event (an older or damaged record): its fields
        return one_line({k: data[k] for k in sorted(data) if k not in BASE_KEYS})
    return describe(event)
