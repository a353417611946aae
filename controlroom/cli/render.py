"""Output helpers shared by every CLI verb: aligned tables, JSON lines, CSV.

Verbs build plain ``dict`` rows and pick a writer; scripts rely on the
``--format jsonl`` and ``csv`` shapes, people on the table. Values are
rendered the same way everywhere: ``None`` is empty, booleans are
``true``/``false``, nested values are compact JSON, timestamps are ISO 8601
UTC with milliseconds (``2026-11-25T02:03:04.123Z``).

Values may hold what an agent wrote, so every writer is inert
(``controlroom.inert``): a table cell is one inert line; JSON lines escape
whatever a terminal could obey and still decode to the exact value; CSV
cells drop control characters unless the CSV goes to a file (``exact``).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from controlroom.inert import inert, inert_line, json_inert

__all__ = [
    "add_format_argument",
    "cell_text",
    "iso_utc",
    "print_csv",
    "print_jsonl",
    "print_table",
]


def iso_utc(ts: float) -> str:
    """Seconds since the epoch as ``2026-11-25T02:03:04.123Z``."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cell_text(value: Any) -> str:
    """One value as it appears in a table or CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def print_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    headers: Mapping[str, str] | None = None,
    widths: Mapping[str, int] | None = None,
    show_header: bool = True,
    max_width: int | None = None,
    file: TextIO | None = None,
) -> dict[str, int]:
    """Print ``rows`` as aligned columns; numbers right-aligned, the last column ragged.

    ``headers`` renames columns for display. ``widths`` fixes column widths
    (so a long listing printed in chunks stays aligned: pass back what the
    first call returned, with ``show_header=False``). ``max_width`` cuts each
    line to fit a terminal. Returns the widths used.
    """
    out = file if file is not None else sys.stdout
    titles = {c: (headers or {}).get(c, c.upper()) for c in columns}
    texts = [{c: inert_line(cell_text(row.get(c))) for c in columns} for row in rows]
    used: dict[str, int] = {}
    for c in columns:
        if widths is not None and c in widths:
            used[c] = widths[c]
        else:
            used[c] = max([len(titles[c]), *(len(t[c]) for t in texts)])

    def line(cells: Mapping[str, str], numeric: Mapping[str, bool]) -> str:
        parts = []
        for i, c in enumerate(columns):
            text = cells[c]
            if i == len(columns) - 1:
                parts.append(text)
            elif numeric.get(c, False):
                parts.append(text.rjust(used[c]))
            else:
                parts.append(text.ljust(used[c]))
        joined = "  ".join(parts).rstrip()
        if max_width is not None and len(joined) > max_width:
            joined = joined[: max(max_width - 1, 0)] + "…"
        return joined

    if show_header:
        out.write(line(titles, {}) + "\n")
    for row, cells in zip(rows, texts, strict=True):
        out.write(line(cells, {c: _is_number(row.get(c)) for c in columns}) + "\n")
    return used


def print_jsonl(rows: Iterable[Mapping[str, Any]], *, file: TextIO | None = None) -> int:
    """One compact JSON object per line, inert and exact; returns how many were written."""
    out = file if file is not None else sys.stdout
    count = 0
    for row in rows:
        out.write(json_inert(json.dumps(row, ensure_ascii=False, separators=(",", ":"))) + "\n")
        count += 1
    return count


def print_csv(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    header: bool = True,
    file: TextIO | None = None,
    exact: bool = False,
) -> int:
    """RFC 4180 CSV with a header row; cells rendered by ``cell_text``. Returns rows written.

    Cells are inert (newlines kept, quoted) unless ``exact``: CSV has no
    escapes, so only a file, never a terminal, gets what the agent wrote.
    """
    out = file if file is not None else sys.stdout
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(columns)
    cell = cell_text if exact else lambda value: inert(cell_text(value))
    count = 0
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
        count += 1
    return count


def add_format_argument(
    parser: argparse.ArgumentParser,
    choices: Sequence[str] = ("table", "jsonl", "csv"),
    default: str | None = "table",
) -> None:
    """Add the ``--format`` option every listing verb shares."""
    parser.add_argument(
        "--format",
        choices=list(choices),
        default=default,
        help=f"output format (default: {default})" if default else "output format",
    )
