"""Agent text made inert: what an agent wrote, fit to reach a terminal.

Every string that came from an agent (a status, a tool name or input, an
error, a gate title, a handoff, a log line) is data, never instructions to
the operator's terminal. Written raw, ``ESC]0;…BEL`` retitles the window,
``ESC]52;…`` writes the clipboard, ``ESC[2J`` clears the screen, ``\\r`` and
``ESC[K`` overwrite a line with a forged one ("gate approved"), ``ESC[8m``
hides what follows, ``\\b`` rubs characters out, and bidi overrides reorder
what the eye reads. So before any terminal sees such a string it passes
``inert`` (text that may span lines: the dashboard's panes, ``audit show``)
or ``inert_line`` (one line: tables, the headless log, timelines).

What goes: whole escape sequences in their 7-bit and 8-bit forms (CSI;
OSC, DCS, SOS, PM and APC up to their BEL or ST; two- and three-character
ESC sequences), then every C0 control but tab and newline, DEL, every C1
control (U+0080-U+009F, which some terminals obey as the 8-bit forms), and
the invisible Unicode controls that reorder or hide text (bidi embeddings,
overrides and isolates, zero-width marks, BOM). A sequence cut short loses
its introducer and keeps its printable rest, which is inert on its own.
``inert_line`` also shows each line break as ``⏎`` so one string can never
print as two lines.

The original is untouched wherever it is kept (events, the audit log), and
JSON output needs none of this: ``json_inert`` escapes what JSON leaves raw
(C1 controls, U+2028/U+2029, the invisible controls) as ``\\uXXXX``, so the
text decodes to exactly the original and a terminal shows only ASCII escapes.

This module imports nothing of ours: every layer may use it.
"""

from __future__ import annotations

import re

__all__ = ["LINE_BREAK", "inert", "inert_line", "json_inert"]

LINE_BREAK = "⏎"
"""How ``inert_line`` shows a line break inside one line."""

_INVISIBLE = "\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff"
"""Arabic letter mark, zero-width space/joiners, LRM/RLM, bidi embeddings,
overrides and isolates, word joiner and invisible operators, BOM."""

_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: ESC[ or 8-bit CSI, params, final byte
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"  # OSC/DCS/...
    r"|\x1b[ -/]*[0-~]"  # other ESC sequences: ESC c, ESC 7, ESC ( 0, ...
)
_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_INVISIBLE}]")
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_INVISIBLE}]")
_UNSAFE_IN_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_INVISIBLE}]")
_BREAK = re.compile(r"\r\n|[\n\u2028\u2029]")
_JSON_RAW = re.compile(f"[\x7f-\x9f\u2028\u2029{_INVISIBLE}]")


def inert(text: str) -> str:
    """``text`` without escape sequences or controls; tabs and newlines stay.

    A carriage return goes too (``\\r\\n`` becomes ``\\n``): a bare one would
    move the cursor back over what was already printed.
    """
    if _UNSAFE.search(text) is None:
        return text
    return _CONTROL.sub("", _SEQUENCE.sub("", text.replace("\r\n", "\n")))


def inert_line(text: str) -> str:
    """``inert(text)`` on one line: each line break shown as ``⏎``, each tab as a space."""
    if _UNSAFE_IN_LINE.search(text) is None:
        return text
    text = _BREAK.sub(LINE_BREAK, text).replace("\t", " ")
    return _CONTROL.sub("", _SEQUENCE.sub("", text))


def json_inert(json_text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with nothing a terminal obeys.

    ``json.dumps`` escapes C0 controls itself but leaves C1 controls, the
    Unicode line separators and the invisible controls raw; this escapes
    them as ``\\uXXXX``, which is the same JSON value, byte for byte once
    decoded. Those characters can only occur inside JSON strings.
    """
    if _JSON_RAW.search(json_text) is None:
        return json_text
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", json_text)
