"""Redaction: API keys and configured secrets never reach the audit file.

The audit store redacts each event's canonical JSON *before* it is hashed,
so the chain covers what is stored and the secret is in neither the database
nor its write-ahead log. Two things are redacted:

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
from collections.abc import Callable, Iterable
from typing import Any

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

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, dict):
            return {self.redact_text(k): self._walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        return value
