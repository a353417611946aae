"""The native protocol's hot path: usage, status and tool lines in one pass each.

Why: an agent may print tens of thousands of usage lines a second, and the
reference way (``native.py``: ``json.loads``, a hand check per field, then a
pydantic model validated from the result) cost about 11 µs a line on the CI
machine, most of the supervisor's per-line work: ``json.loads`` 2.3 µs, the
field checks 3 µs, ``Usage(...)`` 2.5 µs (its own validation of values
already checked).

How: one pydantic-core validator parses and checks a line in Rust in one
pass (``validate_json`` into a tagged union of typed dicts: strict
non-negative ints, strict strings, an object for a tool's input, and no
other key), 0.7 µs; the event is then made from the checked values without
validating them a second time (``Trusted``, 1 µs). A line it refuses (any
other type, an extra key, a null, a float where a count goes, JSON that
``json.loads`` would read differently, such as a lone surrogate or NaN) goes
the reference way, which names the field that is wrong. So the fast path
only ever takes lines the reference way turns into the same event; the
tests compare the two on a corpus of lines, field by field.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from time import time
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from pydantic_core import SchemaValidator, ValidationError
from pydantic_core import core_schema as cs

from controlroom.models import Event, StatusEvent, ToolCall, Usage

__all__ = ["COUNT_FIELDS", "FastNative", "Trusted"]

COUNT_FIELDS: tuple[str, ...] = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)

M = TypeVar("M", bound=BaseModel)

_new = BaseModel.__new__
# The slots every model instance has, set through their descriptors: a lookup
# less each than object.__setattr__ (four of them per event made here).
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
_IMMUTABLE = (str, int, float, bool, type(None), tuple, frozenset)


class Trusted(Generic[M]):
    """Makes ``model`` instances from values already checked, as ``model_construct`` does.

    ``model_construct`` does this too, but walks the fields in Python on every
    call (11 µs for a ``Usage``); the defaults are worked out here once. The
    caller vouches for every value: its type and bounds are what the field
    declares (the tests check the result equals a validated instance).
    """

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self._defaults: dict[str, Any] = {}
        self._factories: list[tuple[str, Callable[[], Any]]] = []
        self._copied: list[str] = []
        self._required: frozenset[str] = frozenset()
        for name, field in model.model_fields.items():
            self._defaults[name] = None  # every field in place: a validated instance's order
            if field.is_required():
                self._required |= {name}
            elif field.default_factory is not None:
                self._factories.append((name, field.default_factory))  # type: ignore[arg-type]
            else:
                self._defaults[name] = field.default
                if not isinstance(field.default, _IMMUTABLE):
                    self._copied.append(name)

    def __call__(self, fields: dict[str, Any]) -> M:
        if not fields.keys() >= self._required:
            missing = ", ".join(sorted(self._required - fields.keys()))
            raise TypeError(f"{self.model.__name__} needs {missing}")
        values = self._defaults.copy()
        for name, factory in self._factories:
            if name not in fields:
                values[name] = factory()
        for name in self._copied:
            if name not in fields:
                values[name] = copy.deepcopy(values[name])
        values.update(fields)
        return self.build(values, set(fields))

    def defaults(self, **fixed: Any) -> dict[str, Any]:
        """Every field's default (None where a factory or the caller fills it), and ``fixed``."""
        return {**self._defaults, **fixed}

    def build(self, values: dict[str, Any], fields_set: set[str]) -> M:
        """The instance holding ``values``: every field, in the model's order, each vouched for."""
        made = _new(self.model)
        _set_dict(made, values)
        _set_fields_set(made, fields_set)
        _set_extra(made, None)
        _set_private(made, None)
        return made


def _count() -> cs.TypedDictField:
    return cs.typed_dict_field(cs.int_schema(ge=0, strict=True), required=False)


def _text(*, required: bool = True) -> cs.TypedDictField:
    return cs.typed_dict_field(cs.str_schema(strict=True), required=required)


def _line(kind: str, fields: dict[str, cs.TypedDictField]) -> cs.TypedDictSchema:
    return cs.typed_dict_schema(
        {"type": cs.typed_dict_field(cs.literal_schema([kind])), **fields},
        extra_behavior="forbid",
    )


_VALIDATOR = SchemaValidator(
    cs.tagged_union_schema(
        {
            "usage": _line(
                "usage",
                {
                    **{name: _count() for name in COUNT_FIELDS},
                    "cache_creation_1h_input_tokens": _count(),
                    "turns": _count(),
                    "model": _text(required=False),
                },
            ),
            "status": _line("status", {"text": _text()}),
            "tool": _line(
                "tool",
                {
                    "name": _text(),
                    "input": cs.typed_dict_field(
                        cs.dict_schema(cs.str_schema(), cs.any_schema(), strict=True),
                        required=False,
                    ),
                },
            ),
        },
        discriminator="type",
    )
)

_USAGE: Trusted[Usage] = Trusted(Usage)
_USAGE_SET: set[str] = {
    *COUNT_FIELDS,
    *("cache_creation_1h_input_tokens", "agent", "model", "turns", "source", "extra"),
}
"""The fields a usage line sets (as the reference way's ``Usage(...)`` does); each event
gets a copy, which pydantic adds to when a field is assigned."""
_STATUS: Trusted[StatusEvent] = Trusted(StatusEvent)
_TOOL: Trusted[ToolCall] = Trusted(ToolCall)


class FastNative:
    """The fast path of one agent's native adapter: an event, or None (go the reference way)."""

    def __init__(self, agent: str) -> None:
        self.agent = agent
        # A usage event's values before the line's own: the defaults, this agent, from the agent.
        self._usage_values = _USAGE.defaults(agent=agent, source="agent")

    def event(self, line: str) -> Event | None:
        """The line's event, or None: the reference way takes it (and names what is wrong).

        A usage line's values go over the agent's defaults (0 counts, 1 turn,
        no model), made here rather than in a method of their own: it is the
        line a flood is made of, and a call is a tenth of its Python.
        """
        try:
            data: dict[str, Any] = _VALIDATOR.validate_json(line)
        except ValidationError:
            return None
        kind = data.pop("type")
        if kind == "usage":
            if data.keys().isdisjoint(COUNT_FIELDS):
                return None  # not one count: malformed, and the reference way names it
            values = self._usage_values.copy()
            values.update(data)
            values["ts"] = time()
            values["extra"] = {}
            written = values["cache_creation_input_tokens"]
            if values["cache_creation_1h_input_tokens"] > written:
                values["cache_creation_1h_input_tokens"] = written
            return _USAGE.build(values, _USAGE_SET.copy())
        if kind == "status":
            return _STATUS({"agent": self.agent, "text": data["text"]})
        name = data["name"]
        if not name.strip():
            return None  # an empty name: the reference way says so
        return _TOOL({"agent": self.agent, "name": name, "input": data.get("input", {})})
