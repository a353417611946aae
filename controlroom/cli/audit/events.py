"""``audit list`` and ``audit export``: the events themselves, filtered, as a table, JSONL or CSV.

A listing streams: a table is printed in chunks that keep the first chunk's
widths, and an export goes to a hidden partial file renamed when complete,
so a million-event export never sits in memory or leaves half a file.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from controlroom._errors import ControlRoomError
from controlroom.cli.audit.plumbing import kind_list, screen_width
from controlroom.cli.render import iso_utc, print_csv, print_jsonl, print_table

if TYPE_CHECKING:
    from controlroom.store.queries import EventRow

__all__ = ["cmd_export", "cmd_list", "event_record"]

_TABLE_CHUNK = 1000
"""Rows per chunk when a listing streams (widths come from the first chunk)."""


def event_record(event: EventRow) -> dict[str, Any]:
    """An event as one flat JSON object: id, ts (ISO), run, seq, agent, kind, then its fields."""
    record: dict[str, Any] = {
        "id": event.id,
        "ts": iso_utc(event.ts),
        "run": event.run,
        "seq": event.seq,
        "agent": event.agent,
        "kind": event.kind,
    }
    for key, value in event.fields.items():
        record.setdefault(key, value)
    return record


def _filtered(conn: sqlite3.Connection, args: argparse.Namespace) -> Iterable[EventRow]:
    from controlroom.store.queries import iter_events, list_events

    filters: dict[str, Any] = {
        "run": args.run,
        "agent": args.agent,
        "kind": kind_list(args),
        "since": args.since,
        "until": args.until,
        "after_id": args.after,
    }
    if args.limit is not None:
        return list_events(conn, limit=args.limit, **filters)
    return iter_events(conn, **filters)


def _csv_columns(kinds: list[str] | None) -> list[str]:
    """Base columns, then every field of the selected kinds' models, then ``other``."""
    from controlroom.models import EventBase
    from controlroom.store.queries import BASE_KEYS

    models = {
        m.model_fields["kind"].default: m
        for m in EventBase.__subclasses__()
        if "kind" in m.model_fields
    }
    columns = ["id", "ts", "run", "seq", "agent", "kind"]
    for kind in kinds or sorted(models):
        model = models.get(kind)
        for name in model.model_fields if model is not None else ():
            if name not in BASE_KEYS and name not in columns:
                columns.append(name)
    return [*columns, "other"]


def _csv_records(events: Iterable[EventRow], columns: list[str]) -> Iterator[dict[str, Any]]:
    known = set(columns)
    for event in events:
        record = event_record(event)
        other = {k: v for k, v in record.items() if k not in known}
        if other:
            record["other"] = other
        yield record


def _chunks(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _write_events(
    events: Iterable[EventRow], fmt: str, kinds: list[str] | None, out: TextIO
) -> int:
    if fmt == "jsonl":
        return print_jsonl((event_record(e) for e in events), file=out)
    if fmt == "csv":  # exact into a file; inert on stdout, which may be a terminal
        columns = _csv_columns(kinds)
        rows = _csv_records(events, columns)
        return print_csv(rows, columns, file=out, exact=out is not sys.stdout)
    raise ValueError(fmt)


def cmd_list(conn: sqlite3.Connection, args: argparse.Namespace) -> int:
    from controlroom.store.queries import last_event_id
    from controlroom.text import describe_payload

    events = _filtered(conn, args)
    if args.format != "table":
        _write_events(events, args.format, kind_list(args), sys.stdout)
        return 0
    columns = ["id", "ts", *([] if args.run else ["run"]), "agent", "kind", "what"]
    rows = (
        {**event_record(e), "agent": e.agent or "-", "what": describe_payload(e.payload)}
        for e in events
    )
    # Chunks after the first reuse its widths; ids only grow, so size for the largest.
    top = last_event_id(conn)
    widths: dict[str, int] = {"id": max(len(str(top)), 2), "kind": 16}
    printed = False
    for chunk in _chunks(rows, _TABLE_CHUNK):
        widths = print_table(
            chunk,
            columns,
            headers={"ts": "TIME (UTC)", "what": "WHAT"},
            widths=widths,
            show_header=not printed,
            max_width=screen_width(),
        )
        printed = True
    if not printed:
        print("no matching events", file=sys.stderr)
    return 0


def cmd_export(conn: sqlite3.Connection, args: argparse.Namespace) -> int:
    fmt = args.format or ("csv" if args.file.lower().endswith(".csv") else "jsonl")
    kinds = kind_list(args)
    events = _filtered(conn, args)
    if args.file == "-":
        count = _write_events(events, fmt, kinds, sys.stdout)
        print(f"exported {count} events", file=sys.stderr)
        return 0
    target = Path(args.file)
    if target.exists() and target.resolve() == Path(args.db_path).resolve():
        raise ControlRoomError(f"refusing to export over the audit database itself: {target}")
    partial = target.with_name(f".{target.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            count = _write_events(events, fmt, kinds, out)
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ControlRoomError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    print(f"exported {count} events to {target} ({fmt})")
    return 0
