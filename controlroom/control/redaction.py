"""What the control API hands out, redacted: no view it returns holds a secret.

A view holds what agents wrote (a gate's detail, a status reason, a handoff),
so every one passes the bus's ``Redactor`` on its way out. Most hold no
secret, and that common case is settled by one substring scan of the view's
JSON text (serialized by pydantic-core, escaped as canonical JSON is); only
a view that holds one is rebuilt from its redacted JSON.

The scan reads only the fields that can hold text. Redaction changes strings
(and the keys of dicts) and nothing else, so a field typed as a number, a
boolean or None can neither hold a secret nor be changed by redacting it:
leaving those out of the scanned JSON changes no answer. They are most of a
snapshot (every agent's meter: counts, costs, rates), and serializing them
for the scan was two thirds of its cost (bench/tui_load.py, 100 agents).
"""

from __future__ import annotations

import types
import typing
from functools import cache
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from controlroom.store.redact import Redactor

__all__ = ["redacted", "text_fields_only"]

_T = TypeVar("_T")

_NO_TEXT = (int, float, bool, type(None))

Exclude = dict[str, Any]


def redacted(redactor: Redactor, value: _T) -> _T:
    """``value`` with every secret redacted: a view, a list of views, or JSON-like data.

    A clean view is returned as it is (the common case); one that holds a
    secret is rebuilt from its redacted JSON.
    """
    if isinstance(value, BaseModel):
        scanned = value.model_dump_json(exclude=text_fields_only(type(value)) or None)
        if not redactor.might_contain(scanned):
            return value
        data = value.model_dump(mode="json")
        clean = redactor.redact_value(data)
        return value if clean is data else cast("_T", type(value).model_validate(clean))
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return cast("_T", [redacted(redactor, item) for item in value])
    return cast("_T", redactor.redact_value(value))


@cache
def text_fields_only(cls: type[BaseModel]) -> Exclude:
    """The ``exclude`` that leaves only the fields of ``cls`` that can hold text (nested too)."""
    exclude: Exclude = {}
    for name, field in cls.model_fields.items():
        part = _exclude_for(field.annotation)
        if part is not None:
            exclude[name] = part
    return exclude


def _exclude_for(annotation: Any) -> bool | Exclude | None:
    """True: no text can be in a value of this type; a dict: only parts of it; None: keep it."""
    if annotation in _NO_TEXT:
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return None  # ours, but a string on the wire: scanned, as before
    if origin in (typing.Union, types.UnionType):
        if all(arg in _NO_TEXT for arg in args):
            return True
        models = [arg for arg in args if _is_model(arg)]
        if len(models) == 1 and all(arg in _NO_TEXT or arg is models[0] for arg in args):
            return text_fields_only(models[0]) or None  # Model | None
        return None
    if origin is list and len(args) == 1 and _is_model(args[0]):
        inner = text_fields_only(args[0])
        return {"__all__": inner} if inner else None
    if _is_model(annotation):
        return text_fields_only(annotation) or None
    return None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
