"""Pydantic's validation errors in an operator's words: one phrase after the key path.

``must be greater than 0 (got 0)``, ``unknown key; did you mean 'max_turns'?``:
the message a hand-edited config.toml deserves, with the bounds written as
TOML would write them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from inspect import isclass
from typing import Any

from annotated_types import Le
from pydantic import BaseModel

__all__ = ["bound", "fields_at", "got", "message", "num", "unknown_key", "upper_bound"]


def num(value: Any) -> str:
    """A number as an operator reads it: 5 not 5.0, 1e+308 not 309 digits."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    text = str(value)
    if len(text) > 24:
        return f"{text[:8]}… ({len(text.lstrip('-'))} digits)"
    return text


def bound(value: Any) -> str:
    """A limit in a message, written as TOML would: 10_000_000_000."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:_}" if isinstance(value, int) else num(value)


def got(value: Any) -> str:
    if isinstance(value, bool):
        return f" (got {str(value).lower()})"
    if isinstance(value, str):
        return f" (got {value!r})"
    if isinstance(value, int | float):
        return f" (got {num(value)})"
    return ""


def unknown_key(key: str, known: Sequence[str] | None) -> str:
    if not known:
        return "unknown key"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean '{close[0]}'?"
    return "unknown key; expected one of: " + ", ".join(known)


TYPE_MESSAGES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "list_type": "must be an array",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
}


def message(
    error: Mapping[str, Any], known: Sequence[str] | None, upper: float | None = None
) -> str:
    """One pydantic error → the phrase an operator reads after the key path.

    ``upper`` is the field's upper bound, if it has one: an integer too big
    to be a float is out of that range, not of the wrong type.
    """
    kind: str = error["type"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    tail = got(value)
    if kind == "float_type" and upper is not None and type(value) is int and value > upper:
        return f"must be at most {bound(upper)}{tail}"
    if kind == "extra_forbidden":
        return unknown_key(str(error["loc"][-1]), known)
    if kind == "missing":
        return "is required"
    if kind == "greater_than":
        return f"must be greater than {num(ctx['gt'])}{tail}"
    if kind == "greater_than_equal":
        return f"must be at least {num(ctx['ge'])}{tail}"
    if kind == "less_than_equal":
        return f"must be at most {bound(ctx['le'])}{tail}"
    if kind == "finite_number":
        return f"must be a finite number{tail}"
    if kind == "literal_error":
        head, _, last = str(ctx["expected"]).rpartition(" or ")
        return f"must be one of {head + ', ' + last if head else last}{tail}"
    if kind == "string_pattern_mismatch":
        if error["loc"][-1] == "name":
            return (
                "must be a safe agent name: up to 64 letters, digits, '.', '_' or '-',"
                f" starting with a letter or digit{tail}"
            )
        return f"must match {ctx['pattern']}{tail}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind in TYPE_MESSAGES:
        return TYPE_MESSAGES[kind] + ("" if kind.endswith("too_short") else tail)
    msg = str(error["msg"])
    return msg[:1].lower() + msg[1:] + tail


def fields_at(model: type[BaseModel], loc: Iterable[str | int]) -> list[str] | None:
    """The keys a model accepts at ``loc`` (for 'did you mean' hints)."""
    current: type[BaseModel] = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        annotation = field.annotation if field is not None else None
        if not (isclass(annotation) and issubclass(annotation, BaseModel)):
            return None
        current = annotation
    return list(current.model_fields)


def upper_bound(model: type[BaseModel], loc: Sequence[str | int]) -> float | None:
    """The ``le`` bound of the field at ``loc``, or None."""
    if not loc or fields_at(model, loc[:-1]) is None:
        return None
    current: type[BaseModel] = model
    for part in loc[:-1]:
        if isinstance(part, str):
            annotation = current.model_fields[part].annotation
            assert isclass(annotation) and issubclass(annotation, BaseModel)
            current = annotation
    field = current.model_fields.get(str(loc[-1]))
    metadata = field.metadata if field is not None else []
    bounds = [m.le for m in metadata if isinstance(m, Le) and isinstance(m.le, int | float)]
    return float(bounds[0]) if bounds else None
