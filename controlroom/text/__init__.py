"""The one wording of every event, and the one way to write each kind of number.

Every surface that puts an event into words says it the same way: the
headless and detached logs, ``controlroom audit list``/``show``/``timeline``,
the dashboard's toasts, agent log tails and audit screen. ``describe`` takes a
typed event (stored payloads and control-API dicts are parsed first, with
``describe_payload``); the sentences are the ones ``audit timeline --format
jsonl`` has always carried in its ``step`` field, which is public interface,
so they must not change. ``worth_a_line`` says which events the logs print.

Every sentence is inert (``controlroom.inert``): whatever an agent wrote
into an event (a status, a tool, an error, a gate title) comes out without
a control or escape sequence, on one line, so no surface that prints a
sentence can have its terminal driven by an agent. The events themselves,
and the audit log, keep the original.

The formatters (tokens, money, durations, limits) are the only ones: a
screen, a table or a sentence that shows a number of that kind calls one of
them. Imports ``models`` and ``inert`` only.
"""

from __future__ import annotations

from controlroom.text.events import audit_banner, describe_containment
from controlroom.text.log import LOG_KINDS, format_line, worth_a_line
from controlroom.text.notices import notice_text
from controlroom.text.numbers import (
    LIMITS,
    LimitName,
    bytes_short,
    counted,
    duration,
    limit_label,
    limit_value,
    money,
    rate_per_hour,
    tokens,
    tokens_short,
)
from controlroom.text.registry import (
    BASE_KEYS,
    describe,
    describe_payload,
    exit_text,
    one_line,
)
from controlroom.text.workspace import changes_cell, changes_summary, file_line

__all__ = [
    "BASE_KEYS",
    "LIMITS",
    "LOG_KINDS",
    "LimitName",
    "audit_banner",
    "bytes_short",
    "changes_cell",
    "counted",
    "changes_summary",
    "describe",
    "describe_containment",
    "describe_payload",
    "duration",
    "exit_text",
    "file_line",
    "format_line",
    "limit_label",
    "limit_value",
    "money",
    "notice_text",
    "one_line",
    "rate_per_hour",
    "tokens",
    "tokens_short",
    "worth_a_line",
]
