"""Structured handoffs: the one fixed shape context travels in between agents.

A handoff is exactly three non-empty strings (``changed``, ``next_needs``,
``risks``), each at most ``handoff_max_chars`` characters. Anything else is
rejected with the offending field named — never trimmed, never silently
truncated — so the agent (or the operator) can fix the cause.

Agents hand off in one of two ways: a native ``{"type": "handoff", ...}`` line,
or (Claude Code and other free-text agents) a fenced ```json block in their
final message, found here by ``parse_handoff_text``.
"""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from controlroom._errors import HandoffError
from controlroom.models import Handoff

__all__ = [
    "json_type",
    "DEFAULT_MAX_CHARS",
    "HANDOFF_FIELDS",
    "parse_handoff_text",
    "validate_handoff",
]

HANDOFF_FIELDS: tuple[str, ...] = ("changed", "next_needs", "risks")
DEFAULT_MAX_CHARS = 2000

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)
_JSON_FENCE_TAGS = frozenset({"", "json"})


def json_type(value: object) -> str:
    """The JSON name of a value's type, for messages an operator reads."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def validate_handoff(data: object, max_chars: int = DEFAULT_MAX_CHARS) -> Handoff:
    """Check ``data`` against every handoff rule and return the ``Handoff``.

    Raises ``HandoffError(field, message)`` naming the first field that breaks
    a rule (extra fields are reported before missing ones, so a misspelt key
    is named as what it is). Lengths are counted in characters.
    """
    if not isinstance(data, dict):
        raise HandoffError(
            "",
            "a handoff must be a JSON object with the fields "
            f"{', '.join(HANDOFF_FIELDS)}; got {json_type(data)}",
        )
    extra = sorted(str(key) for key in data if key not in HANDOFF_FIELDS)
    if extra:
        raise HandoffError(
            extra[0],
            "not a handoff field; only " + ", ".join(HANDOFF_FIELDS) + " are accepted",
        )
    for name in HANDOFF_FIELDS:
        if name not in data:
            raise HandoffError(name, "missing")
        value = data[name]
        if not isinstance(value, str):
            raise HandoffError(name, f"must be a string, got {json_type(value)}")
        if not value.strip():
            raise HandoffError(name, "empty")
        if len(value) > max_chars:
            raise HandoffError(name, f"{len(value)} characters, limit {max_chars}")
    try:
        return Handoff(changed=data["changed"], next_needs=data["next_needs"], risks=data["risks"])
    except ValidationError as exc:  # unreachable after the checks above; kept as a guard
        raise HandoffError("", str(exc)) from exc


def _handoff_like(value: object) -> bool:
    return isinstance(value, dict) and any(key in value for key in HANDOFF_FIELDS)


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def parse_handoff_text(text: str) -> dict[str, object] | None:
    """Find the handoff object in an agent's free-text final message.

    Looks at fenced ```json (or untagged ```) blocks first and takes the last
    one that is a JSON object with any of the three handoff keys; failing that,
    the whole text if it is such an object. Returns the raw object, to be
    checked by ``validate_handoff`` (so a partial handoff is reported with the
    missing field named, not ignored). Returns None when there is no attempt
    at a handoff at all.

    Raises ``HandoffError`` when the last fenced block that mentions a handoff
    key is not valid JSON: the agent tried to hand off and got the syntax
    wrong, which the operator should see rather than "no handoff".
    """
    found: dict[str, object] | None = None
    broken: str | None = None
    for match in _FENCE.finditer(text):
        if match.group(1).lower() not in _JSON_FENCE_TAGS:
            continue
        body = match.group(2).strip()
        value = _loads(body)
        if _handoff_like(value):
            assert isinstance(value, dict)
            found = value
            broken = None
        elif value is None and any(f'"{key}"' in body for key in HANDOFF_FIELDS):
            broken = body
    if broken is not None:
        try:
            json.loads(broken)
        except (ValueError, RecursionError) as exc:
            raise HandoffError("", f"the handoff block is not valid JSON: {exc}") from exc
    if found is not None:
        return found
    whole = _loads(text.strip())
    if _handoff_like(whole):
        assert isinstance(whole, dict)
        return whole
    return None
