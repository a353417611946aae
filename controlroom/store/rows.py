"""Events → chained audit rows: serialise, redact, hash.

Pure and synchronous. An event is rendered when it is appended, on the event
loop's thread (``pending_row``: its indexed columns and payload as a plain
tuple of strings and numbers), and the audit writer's thread runs
``chain_rows`` once per batch: redact, hash, lay out. Why render early: the
writer's thread shares the GIL with the loop, and Python run flat out there
makes every system call of the loop's (a pipe read, the kill's signal) wait
for the GIL; and a queue of pending rows holds no model, no dict and no set
for the garbage collector to walk (a young collection under a flood walked
~37,000 objects of pending events: 20-50 ms with the loop held). An event
that may still be withdrawn (``tentative.py``) is queued as itself and
rendered in the writer's thread. Each event's payload is exactly
``canonical_json`` (sorted keys, no whitespace), then redacted, then hashed
into the chain as ``sha256(prev_hash + payload)``.

``model_dump`` plus a generic JSON encoder cost most of a small event's
time, so flat events (every field a plain scalar, an empty ``dict`` or a
list of strings: ``Usage``, ``AgentOutput``, ``StatusEvent``…) are rendered
straight from their ``__dict__`` into a per-class template that holds the
sorted keys already encoded, each value through the C function the JSON
encoder itself would call (``c_encode_basestring``, ``int.__repr__``,
``float.__repr__``). That is only done when every value has exactly the type
its field declares, because pydantic's serialiser coerces the rest (an
``int`` in a ``float`` field is written ``1.0``, a ``bool`` in an ``int``
field ``1``) and the text must not change; anything else (a nested model, a
non-empty ``extra``, NaN, a custom serialiser) goes through ``model_dump``.
The tests check the two agree byte for byte for every event kind.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import operator
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, Literal

from controlroom.models import EventBase, Usage
from controlroom.store.connection import ChainHead
from controlroom.store.redact import Redactor, canonical_dumps

__all__ = [
    "COLUMNS",
    "PendingRow",
    "canonical_json",
    "chain_rows",
    "event_payload",
    "pending_row",
    "pending_usage",
]

COLUMNS = 9
"""Values per row: id, run, seq, ts, agent, kind, payload, prev_hash, hash."""


def canonical_json(event: EventBase) -> str:
    """Sorted keys, no whitespace: the exact text that is hashed into the chain."""
    return json.dumps(
        event.model_dump(mode="json"),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


_NONE = type(None)
_UNSEEN: Any = object()
_MAX_SIGNATURES = 32
"""Value-type combinations remembered per class (a handful occur: optional fields)."""

_encode_str: Callable[[str], str] = (
    getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring
)


def _dump(event: EventBase) -> dict[str, Any]:
    """The event as JSON data; never raises, so one odd event cannot block the log."""
    try:
        return event.model_dump(mode="json")
    except Exception:  # a value pydantic cannot serialise, e.g. in an ``extra`` dict
        pass
    try:
        return event.model_dump(mode="json", fallback=repr)
    except Exception:
        return {
            "run": event.run,
            "seq": event.seq,
            "ts": event.ts,
            "agent": event.agent,
            "kind": str(getattr(event, "kind", "unknown")),
            "unserializable": repr(event),
        }


class _NotFlat(Exception):
    """A value the template cannot render exactly as ``canonical_json`` would."""


def _empty_dict_json(value: dict[str, Any]) -> str:
    if value:
        raise _NotFlat
    return "{}"


def _str_list_json(value: list[str]) -> str:
    if any(type(item) is not str for item in value):
        raise _NotFlat
    return "[" + ",".join(map(_encode_str, value)) + "]"


_RENDER: dict[type, Callable[[Any], str]] = {
    str: _encode_str,
    int: int.__repr__,
    float: float.__repr__,  # NaN and infinities are refused after rendering: see _NON_FINITE
    bool: {True: "true", False: "false"}.__getitem__,
    _NONE: {None: "null"}.__getitem__,
}

_NON_FINITE = frozenset({"nan", "inf", "-inf"})
"""``float.__repr__`` of the values ``canonical_json`` writes as NaN / Infinity."""

_SCALARS = (str, int, float, bool)


def _scalar_types(annotation: Any) -> tuple[type, ...] | None:
    """The exact types a scalar field may hold, or None if it is not a plain scalar."""
    if annotation in _SCALARS:
        return (annotation,)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return (str,) if all(type(arg) is str for arg in args) else None
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and _NONE in args:
        (inner,) = (arg for arg in args if arg is not _NONE)
        found = _scalar_types(inner)
        return None if found is None else (*found, _NONE)
    return None


Template = tuple[str, tuple[Callable[[Any], str], ...], Callable[[tuple[str, ...]], Any] | None]
"""Text with a ``%s`` per field, each field's renderer, and a getter of the rendered floats."""


class _FlatClass:
    """How to render one flat event class from its ``__dict__`` (see the module docstring)."""

    def __init__(self, allowed: dict[str, tuple[type, ...] | str]) -> None:
        names = sorted(allowed)
        self._allowed = [allowed[name] for name in names]
        self._values = operator.itemgetter(*names)
        self._keys = [_encode_str(name).replace("%", "%%") + ":" for name in names]
        self._templates: dict[tuple[type, ...], Template | None] = {}

    @classmethod
    def of(cls, event_class: type[EventBase]) -> _FlatClass | None:
        """The plan for ``event_class``, or None when it is not flat."""
        decorators = event_class.__pydantic_decorators__
        if (
            event_class.model_computed_fields
            or decorators.field_serializers
            or decorators.model_serializers
            or len(event_class.model_fields) < 2
        ):
            return None
        allowed: dict[str, tuple[type, ...] | str] = {}
        for name, field in event_class.model_fields.items():
            if field.alias or field.serialization_alias or field.exclude:
                return None
            annotation = field.annotation
            scalars = _scalar_types(annotation)
            if scalars is not None:
                allowed[name] = scalars
            elif annotation == dict[str, Any]:
                allowed[name] = "dict"
            elif annotation == list[str]:
                allowed[name] = "list"
            else:
                return None
        return cls(allowed)

    def render(self, fields: dict[str, Any]) -> str | None:
        """The canonical JSON of an event with these ``__dict__`` values, or None."""
        try:
            values = self._values(fields)
        except KeyError:
            return None
        signature = tuple(map(type, values))
        template = self._templates.get(signature, _UNSEEN)
        if template is _UNSEEN:
            template = self._template_for(signature)
        if template is None:
            return None
        text, renderers, floats = template
        try:
            parts = tuple(map(operator.call, renderers, values))
        except _NotFlat:
            return None
        if floats is not None and not _NON_FINITE.isdisjoint(floats(parts)):
            return None
        rendered: str = text % parts
        return rendered

    def _template_for(self, signature: tuple[type, ...]) -> Template | None:
        renderers: list[Callable[[Any], str]] = []
        for kind, allowed in zip(signature, self._allowed, strict=True):
            renderer: Callable[[Any], str] | None
            if allowed == "dict":
                renderer = _empty_dict_json if kind is dict else None
            elif allowed == "list":
                renderer = _str_list_json if kind is list else None
            else:
                renderer = _RENDER[kind] if kind in allowed else None
            if renderer is None:
                template = None
                break
            renderers.append(renderer)
        else:
            text = "{" + ",".join(key + "%s" for key in self._keys) + "}"
            at = [i for i, kind in enumerate(signature) if kind is float]
            # Always a tuple (itemgetter of one index returns the item itself).
            floats = operator.itemgetter(*at, *at) if at else None
            template = text, tuple(renderers), floats
        if len(self._templates) < _MAX_SIGNATURES:
            self._templates[signature] = template
        return template


_FLAT: dict[type[EventBase], _FlatClass | None] = {}


def event_payload(event: EventBase) -> tuple[dict[str, Any], str]:
    """The event's JSON data (at least run, seq, ts, agent, kind) and its canonical JSON.

    The text is always ``canonical_json(event)``'s.
    """
    cls = type(event)
    flat = _FLAT.get(cls, _UNSEEN)
    if flat is _UNSEEN:
        flat = _FLAT[cls] = _FlatClass.of(cls)
    if flat is not None:
        fields = event.__dict__
        text = flat.render(fields)
        if text is not None:
            return fields, text
    data = _dump(event)
    return data, canonical_dumps(data)


PendingRow = tuple[str, int, float, str | None, str, str, int, float]
"""An appended event, rendered: run, seq, ts, agent, kind, payload, and for a ``usage``
event its tokens and cost (what the log would lack if the row were lost), else 0.

A plain tuple of atoms on purpose: the garbage collector stops tracking it."""


def pending_row(event: EventBase) -> PendingRow:
    """``event`` (stamped with its run and seq) as the row it will be, but for redaction."""
    data, payload = event_payload(event)
    if type(event) is Usage:
        tokens, cost = event.total_tokens, event.cost_usd
    else:
        tokens, cost = 0, 0.0
    kind = data["kind"]
    return (
        data["run"],
        data["seq"],
        data["ts"],
        data["agent"],
        str(kind) if type(kind) is not str else kind,
        payload,
        tokens,
        cost,
    )


def pending_usage(queued: Iterable[PendingRow | EventBase]) -> tuple[int, float]:
    """Tokens and cost of the ``usage`` events among ``queued`` (what a lost batch takes along)."""
    tokens, cost = 0, 0.0
    for item in queued:
        if isinstance(item, tuple):
            tokens += item[6]
            cost += item[7]
        elif isinstance(item, Usage):
            tokens += item.total_tokens
            cost += item.cost_usd
    return tokens, cost


def _encodable(payload: str) -> str:
    """Lone surrogates (not valid UTF-8) become their JSON ``\\uXXXX`` escapes."""
    return payload.encode("utf-8", "backslashreplace").decode("utf-8")


def chain_rows(
    queued: Iterable[PendingRow | EventBase], redactor: Redactor, head: ChainHead
) -> tuple[list[Any], ChainHead]:
    """The rows of ``queued`` chained onto ``head``, flattened, and the new head.

    Each item is a ``pending_row`` or an event not rendered yet. Flat because
    the writer binds them to multi-row INSERTs: ``COLUMNS`` values per event,
    in column order.
    """
    rows = [item if isinstance(item, tuple) else pending_row(item) for item in queued]
    payloads = [row[5] for row in rows]
    for index in redactor.redact_batch(payloads):
        # The indexed columns must agree with the stored (redacted) payload.
        data = json.loads(payloads[index])
        rows[index] = (
            data["run"],
            data["seq"],
            data["ts"],
            data["agent"],
            data["kind"],
            payloads[index],
            0,
            0.0,
        )
    values: list[Any] = []
    extend = values.extend
    sha256 = hashlib.sha256
    row_id, prev = head.last_id, head.hash
    for run, seq, ts, agent, kind, payload, _, _ in rows:
        try:
            digest = sha256((prev + payload).encode()).hexdigest()
        except UnicodeEncodeError:
            payload = _encodable(payload)
            digest = sha256((prev + payload).encode()).hexdigest()
        row_id += 1
        extend((row_id, run, seq, ts, agent, kind, payload, prev, digest))
        prev = digest
    return values, ChainHead(row_id, prev)
