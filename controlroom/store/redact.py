"""Redaction: API keys and configured secrets never reach the audit file, or any screen.

The event bus redacts each event in place before anyone sees it
(``redact_model``: the headless log, the dashboard, socket subscribers, the
gate queue), and the control API redacts what it returns (``redact_value``:
gates, snapshots), so a secret an agent prints reaches no surface. The audit
store redacts each event's canonical JSON again *before* it is hashed, so the
chain covers what is stored and the secret is in neither the database nor
its write-ahead log, whoever appended the event. Two things are redacted:

* anything that looks like an Anthropic key (``sk-ant-`` followed by key
  characters), whoever put it in the event;
* every secret value the operator's config marks secret (``secret_env`` and
  the proxy's upstream key), in its raw form and in the forms it takes when
  it travels inside JSON text (escaped once or twice, with or without
  ``\\uXXXX`` escapes), e.g. an agent printing a JSON line that holds a token.

Values shorter than ``MIN_SECRET_LENGTH`` are ignored: redacting ``"1"``
everywhere would destroy the log and protect nothing.

Redaction works on the decoded JSON (string values, and the keys of nested
dicts such as a tool's input) and re-encodes canonically, so it can never
break the JSON's structure, even when a secret happens to equal ``true``.
The event's own field names and its ``kind`` and ``run`` values are ours,
never secret, and are left alone so the row stays an event. That path is
only taken for payloads that a cheap substring check flags; everything else
is passed through untouched.
"""

from __future__ import annotations

import json
import json.encoder
import re
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel

__all__ = [
    "KEY_PATTERN",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "Redactor",
    "canonical_dumps",
    "finite_canonical_dumps",
]

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 4

KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_\-]+")
"""An Anthropic API key (``sk-ant-api03-…``, ``sk-ant-admin01-…``, …)."""

_KEY_PREFIX = "sk-ant-"

_OURS = frozenset({"kind", "run"})
"""Top-level values that controlroom itself sets (a literal and the run id)."""

_CLEAN_MAX_CHARS = 64
_CLEAN_MAX_ENTRIES = 4096
"""Short clean strings remembered per redactor (then forgotten all at once)."""

_TEXT_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {}


def _text_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``cls`` whose values can hold text, cached.

    Not ``kind`` and ``run`` (ours), nor ``agent``: agent names come from the
    operator's config, which ``AGENT_NAME_PATTERN`` keeps to a short plain name.
    """
    names = _TEXT_FIELDS.get(cls)
    if names is None:
        names = _TEXT_FIELDS[cls] = tuple(
            name
            for name, field in cls.model_fields.items()
            if name not in _OURS and name != "agent" and _holds_text(field.annotation)
        )
    return names


def _holds_text(annotation: Any) -> bool:
    """Can a value of this type hold a string? Numbers, booleans and literals cannot."""
    if annotation in (int, float, bool, type(None)):
        return False
    if typing.get_origin(annotation) is typing.Literal:
        return False  # one of the values the model itself spells out
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_holds_text(arg) for arg in args)
    return True  # str, dict, list, a model, Any


def _canonical_encoder(*, allow_nan: bool = True) -> Callable[[Any], str]:
    """Exactly ``rows.canonical_json``'s encoding, for an already dumped object.

    Built once: ``json.dumps`` with keyword arguments builds a new encoder on
    every call, and even ``JSONEncoder.encode`` builds a new C encoder each
    time, which together cost a fifth of the encoding of a small event. The C
    encoder is a CPython detail, so the plain encoder is the fallback. With
    ``allow_nan=False`` a NaN or infinity raises ``ValueError`` instead of
    being written as ``NaN``/``Infinity``.
    """
    encoder = json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan
    )
    make = getattr(json.encoder, "c_make_encoder", None)
    escape = getattr(json.encoder, "c_encode_basestring", None)
    if make is None or escape is None:
        return encoder.encode
    # (markers, default, encoder, indent, key_sep, item_sep, sort_keys, skipkeys, allow_nan)
    iterencode = make(None, encoder.default, escape, None, ":", ",", True, False, allow_nan)

    def dumps(data: Any) -> str:
        return "".join(iterencode(data, 0))

    return dumps


canonical_dumps = _canonical_encoder()

finite_canonical_dumps = _canonical_encoder(allow_nan=False)
"""``canonical_dumps`` that raises ``ValueError`` on NaN and infinities.

For values that did not come through pydantic's serialiser: the caller
falls back to ``model_dump`` then, so the text stays ``canonical_json``'s.
No cycle check either (a cycle raises ``RecursionError``; fall back too).
"""


def _escaped(text: str, *, ascii_only: bool) -> str:
    """How ``text`` reads inside a JSON string literal."""
    return json.dumps(text, ensure_ascii=ascii_only)[1:-1]


def _forms(secret: str) -> set[str]:
    """The secret as it can appear inside a string: raw, or JSON in JSON, in JSON."""
    forms = {secret}
    for ascii_only in (False, True):
        once = _escaped(secret, ascii_only=ascii_only)
        forms.add(once)
        forms.add(_escaped(once, ascii_only=ascii_only))
    return forms


class Redactor:
    """Replaces keys and secret values with ``[redacted]`` in event payloads."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH}
        forms: set[str] = set()
        for value in values:
            forms |= _forms(value)
        # Longest first, so a secret that contains another is replaced whole.
        self._string_forms: tuple[str, ...] = tuple(sorted(forms, key=len, reverse=True))
        # How those forms read in canonical JSON text (a string's content, escaped).
        self._text_forms: tuple[str, ...] = tuple({_escaped(f, ascii_only=False) for f in forms})
        # One search for "any form, or a key's prefix" in a decoded string.
        alternatives = [re.escape(f) for f in self._string_forms] + [re.escape(_KEY_PREFIX)]
        self._search = re.compile("|".join(alternatives)).search
        self._clean: set[str] = set()  # short strings already searched and found clean

    @property
    def secret_count(self) -> int:
        """How many string forms are redacted (raw and escaped variants)."""
        return len(self._string_forms)

    def might_contain(self, text: str) -> bool:
        """Cheap check: could ``text`` (canonical JSON, or many joined) hold a secret?"""
        if _KEY_PREFIX in text:
            return True
        return any(form in text for form in self._text_forms)

    def redact_text(self, text: str) -> str:
        """Redact a plain string (not JSON text)."""
        for form in self._string_forms:
            if form in text:
                text = text.replace(form, REDACTED)
        if _KEY_PREFIX in text:
            text = KEY_PATTERN.sub(REDACTED, text)
        return text

    def redact_json(self, payload: str) -> str:
        """Redact canonical JSON; returns ``payload`` itself when nothing matched."""
        if not self.might_contain(payload):
            return payload
        data = json.loads(payload)
        if isinstance(data, dict):
            cleaned: Any = {k: v if k in _OURS else self._walk(v) for k, v in data.items()}
        else:
            cleaned = self._walk(data)
        if cleaned == data:
            return payload
        return canonical_dumps(cleaned)

    def redact_batch(self, payloads: list[str]) -> list[int]:
        """Redact a batch in place; returns the indexes of the payloads that changed.

        One substring scan over the joined batch settles the common case
        (nothing to redact) in a few C calls instead of one per event.
        Canonical JSON has no raw newline, so joining on one creates no match.
        """
        if not self.might_contain("\n".join(payloads)):
            return []
        changed: list[int] = []
        for index, payload in enumerate(payloads):
            cleaned = self.redact_json(payload)
            if cleaned is not payload:
                payloads[index] = cleaned
                changed.append(index)
        return changed

    def redact_model(self, model: BaseModel) -> bool:
        """Redact an event (or any model) in place; True when something was replaced.

        Every field that can hold text is checked (``_text_fields``): strings,
        nested models (a handoff), and the strings and keys inside dicts and
        lists (a tool's input, ``extra``). Fields are set through
        ``__dict__``: the event is already valid, and a redacted string is
        still a string. On the hot path (a usage line: two short strings and
        an empty dict) this is a few dictionary reads and two regex searches.
        """
        changed = False
        fields = model.__dict__
        clean = self._clean
        for name in _text_fields(type(model)):
            value = fields.get(name)
            if not value or (type(value) is str and value in clean):
                continue
            if isinstance(value, BaseModel):
                changed = self.redact_model(value) or changed
            elif self._holds_secret(value):
                fields[name] = self._walk(value)
                changed = True
        return changed

    def redact_value(self, value: Any) -> Any:
        """JSON-like data with every string (and dict key) redacted; ``value`` itself if clean."""
        return self._walk(value) if self._holds_secret(value) else value

    def _holds_secret(self, value: Any) -> bool:
        if type(value) is str:
            if value in self._clean:
                return False
            if self._search(value) is not None:
                return True
            if len(value) <= _CLEAN_MAX_CHARS:
                if len(self._clean) >= _CLEAN_MAX_ENTRIES:
                    self._clean.clear()
                self._clean.add(value)
            return False
        if isinstance(value, dict):
            return any(self._holds_secret(k) or self._holds_secret(v) for k, v in value.items())
        if isinstance(value, list | tuple):
            return any(self._holds_secret(v) for v in value)
        return False

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, dict):
            return {self._walk(k): self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        return value
