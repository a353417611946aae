"""``controlroom audit``: what did the agents do, and why, weeks later.

Subcommands: ``list`` and ``export`` (filtered events), ``show`` (one event
and its chain hashes), ``timeline`` (one agent's story in a run), ``runs``
(what each run cost and how it ended), ``verify`` (is the hash chain intact,
and does it extend the anchors given), ``anchor`` (write the verified head
somewhere outside the database).
Everything opens the database read-only, so it is safe beside a running
control room. The database is ``--db``, else ``[swarm] audit_db`` of
``--config`` or ./config.toml, else ./controlroom.db.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from controlroom._errors import AuditError, ControlRoomError
from controlroom.cli.render import (
    add_format_argument,
    iso_utc,
    print_csv,
    print_jsonl,
    print_table,
)
from controlroom.inert import inert_line, json_inert

if TYPE_CHECKING:
    from controlroom.store.queries import EventRow, RunSummary, Timeline
    from controlroom.store.verify import VerifyResult

__all__ = ["add_parser", "database_path", "event_record"]

Body = Callable[[sqlite3.Connection, argparse.Namespace], int]

_TABLE_CHUNK = 1000
"""Rows per chunk when a listing streams (widths come from the first chunk)."""


# --------------------------------------------------------------------------- arguments


def _when(value: str) -> float:
    from controlroom.store.queries import parse_when

    try:
        return parse_when(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _kinds(value: str) -> list[str]:
    from controlroom.models import EVENT_KINDS

    kinds = [k.strip() for k in value.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in EVENT_KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown event kind {', '.join(map(repr, unknown))}; valid kinds: "
            + ", ".join(EVENT_KINDS)
        )
    return kinds


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")
    return number


def _database_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="PATH", help="audit database (default: see above)")
    common.add_argument(
        "--config", metavar="PATH", help="take [swarm] audit_db from this config.toml"
    )
    return common


def _filter_options() -> argparse.ArgumentParser:
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--run", help="only this run id")
    filters.add_argument("--agent", help="only this agent")
    filters.add_argument(
        "--kind",
        action="append",
        type=_kinds,
        metavar="KIND[,KIND]",
        help="only these event kinds (repeatable, or a comma list)",
    )
    filters.add_argument(
        "--since", type=_when, metavar="WHEN", help="from this time: 90m, 3w, 2026-11-01, ..."
    )
    filters.add_argument(
        "--until", type=_when, metavar="WHEN", help="before this time (same forms as --since)"
    )
    filters.add_argument(
        "--limit",
        type=_positive,
        metavar="N",
        help="only the newest N matching events (with --after: the first N after it)",
    )
    filters.add_argument("--after", type=int, metavar="ID", help="only events after this event id")
    return filters


def add_parser(subparsers: Any) -> None:
    """Register ``controlroom audit`` and its subcommands."""
    audit: argparse.ArgumentParser = subparsers.add_parser(
        "audit",
        help="query, export and verify the audit log",
        description=(
            "Query, export and verify the audit log (opened read-only, so safe beside a "
            "running control room). The database is --db, else [swarm] audit_db of --config "
            "or ./config.toml, else ./controlroom.db."
        ),
    )
    audit.set_defaults(handler=lambda _args: _usage(audit))
    sub = audit.add_subparsers(dest="audit_command", metavar="COMMAND")
    db, filters = _database_options(), _filter_options()

    p = sub.add_parser("list", parents=[db, filters], help="list events (oldest first)")
    add_format_argument(p)
    p.set_defaults(handler=_reading(_cmd_list))

    p = sub.add_parser("show", parents=[db], help="one event with all its fields and hashes")
    p.add_argument("event_id", type=int, metavar="EVENT_ID")
    add_format_argument(p, ("text", "json"), "text")
    p.set_defaults(handler=_reading(_cmd_show))

    p = sub.add_parser("timeline", parents=[db], help="one agent's story in a run")
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("--run", help="the run (default: the newest run the agent appears in)")
    add_format_argument(p, ("text", "jsonl"), "text")
    p.set_defaults(handler=_reading(_cmd_timeline))

    p = sub.add_parser("runs", parents=[db], help="every run: outcome, tokens and cost")
    p.add_argument("--run", help="only this run, with a line per agent")
    add_format_argument(p)
    p.set_defaults(handler=_reading(_cmd_runs))

    p = sub.add_parser("verify", parents=[db], help="check the hash chain end to end")
    p.add_argument(
        "--anchor",
        action="append",
        metavar="FILE",
        help="also prove the log extends every anchor in FILE (repeatable)",
    )
    p.set_defaults(handler=_guarded(_cmd_verify))

    p = sub.add_parser(
        "anchor",
        parents=[db],
        help="verify the chain and write its head (event id, hash, time) as one line",
    )
    p.add_argument(
        "--out", metavar="FILE", help="append the line to FILE (default: print it on stdout)"
    )
    p.set_defaults(handler=_guarded(_cmd_anchor))

    p = sub.add_parser(
        "export", parents=[db, filters], help="write the (filtered) events to a file"
    )
    p.add_argument("file", metavar="FILE", help="where to write ('-' for stdout)")
    add_format_argument(p, ("jsonl", "csv"), None)
    p.set_defaults(handler=_reading(_cmd_export))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


# --------------------------------------------------------------------------- plumbing


def database_path(args: argparse.Namespace) -> Path:
    """``--db``, else ``[swarm] audit_db`` of ``--config`` or ./config.toml, else controlroom.db."""
    if args.db:
        return Path(args.db)
    if args.config or Path("config.toml").is_file():
        from controlroom.config import find_config, load_config

        return Path(load_config(find_config(args.config)).swarm.audit_db)
    return Path("controlroom.db")


def _guarded(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Resolve the database and run ``fn``: SQLite errors become one line, a closed pipe quiet."""

    def handler(args: argparse.Namespace) -> int:
        args.db_path = database_path(args)
        try:
            code = fn(args)
            sys.stdout.flush()
            return code
        except sqlite3.Error as exc:
            raise AuditError(f"cannot read audit database {args.db_path}: {exc}") from None
        except BrokenPipeError:
            # The reader went away (`| head`): stop, and keep Python's exit-time
            # flush of stdout from failing on the same closed pipe.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            return 0

    return handler


def _reading(body: Body) -> Callable[[argparse.Namespace], int]:
    """``_guarded`` around ``body`` run on a read-only connection to the database."""

    def run(args: argparse.Namespace) -> int:
        from controlroom.store.connection import open_readonly

        conn = open_readonly(args.db_path)
        try:
            return body(conn, args)
        finally:
            conn.close()

    return _guarded(run)


def _kind_list(args: argparse.Namespace) -> list[str] | None:
    groups: list[list[str]] | None = args.kind
    if not groups:
        return None
    return list(dict.fromkeys(k for group in groups for k in group))


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
        "kind": _kind_list(args),
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


def _screen_width() -> int | None:
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


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


# --------------------------------------------------------------------------- list / export


def _cmd_list(conn: sqlite3.Connection, args: argparse.Namespace) -> int:
    from controlroom.store.queries import last_event_id
    from controlroom.text import describe_payload

    events = _filtered(conn, args)
    if args.format != "table":
        _write_events(events, args.format, _kind_list(args), sys.stdout)
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
            max_width=_screen_width(),
        )
        printed = True
    if not printed:
        print("no matching events", file=sys.stderr)
    return 0


def _cmd_export(conn: sqlite3.Connection, args: argparse.Namespace) -> int:
    fmt = args.format or ("csv" if args.file.lower().endswith(".csv") else "jsonl")
    kinds = _kind_list(args)
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


# --------------------------------------------------------------------------- show


def _cmd_show(conn: sqlite3.Connection, args: argparse.Namespace) -> int:
    from controlroom.store.queries import get_event
    from controlroom.text import describe_payload

    event = get_event(conn, args.event_id)
    if event is None:
        raise AuditError(f"no event {args.event_id} in {args.db_path}")
    record = {**event_record(event), "prev_hash": event.prev_hash, "hash": event.hash}
    if args.format == "json":
        print(json_inert(json.dumps(record, indent=2, ensure_ascii=False)))
        return 0
    print(f"event {event.id}: {describe_payload(event.payload)}")
    base = {
        "time": f"{iso_utc(event.ts)}  ({event.ts!r})",
        "run": event.run,
        "seq": event.seq,
        "agent": event.agent or "- (swarm)",
        "kind": event.kind,
    }
    for key, value in base.items():
        print(f"  {key:<10} {value}")
    for key, value in event.fields.items():  # what the agent wrote: inert, one line each
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if isinstance(value, dict | list) and len(text) > 60:
            text = json.dumps(value, indent=2, ensure_ascii=False)
            text = "\n".join(inert_line(line) for line in text.splitlines())
            text = text.replace("\n", "\n" + " " * 13)
        else:
            text = inert_line(text)
        print(f"  {key:<10} {text}")
    print(f"  {'prev_hash':<10} {event.prev_hash}")
    print(f"  {'hash':<10} {event.hash}")
    return 0


# --------------------------------------------------------------------------- timeline


def _cmd_timeline(conn: sqlite3.Connection, args: argparse.Namespace) -> int:
    from controlroom.store.queries import agents, timeline

    story = timeline(conn, args.agent, args.run)
    if story is None:
        known = agents(conn)
        where = f" in run {args.run}" if args.run else ""
        listed = ", ".join(known) if known else "none"
        raise AuditError(
            f"no events for agent {args.agent!r}{where} in {args.db_path} (agents: {listed})"
        )
    if args.format == "jsonl":
        print_jsonl(_timeline_records(story))
    else:
        _print_story(story)
    return 0


def _timeline_records(story: Timeline) -> Iterator[dict[str, Any]]:
    from controlroom.text import describe_payload

    for step in story.steps:
        yield {**event_record(step), "step": describe_payload(step.payload)}
    yield {
        "kind": "summary",
        "agent": story.agent,
        "run": story.run,
        "started": iso_utc(story.first_ts),
        "last_event": iso_utc(story.last_ts),
        "outcome": story.outcome,
        "reason": story.reason,
        "attempts": story.attempts,
        "output_lines": story.output_lines,
        "malformed_lines": story.malformed_lines,
        **story.usage.as_dict(),
    }


def _print_story(story: Timeline) -> None:
    from controlroom.text import describe_payload, duration, money

    span = duration(story.last_ts - story.first_ts)
    print(
        f"agent {story.agent} · run {story.run} · {iso_utc(story.first_ts)} → "
        f"{iso_utc(story.last_ts)} ({span})"
    )
    day = ""
    for step in story.steps:
        stamp = iso_utc(step.ts)
        if stamp[:10] != day:
            day = stamp[:10]
            print(f"  {day}")
        print(f"    {stamp[11:23]}  #{step.id:<6} {describe_payload(step.payload)}")
    u = story.usage
    print(
        f"totals: tokens in {u.input_tokens:,} · out {u.output_tokens:,} · cache read "
        f"{u.cache_read_input_tokens:,} · cache write {u.cache_creation_input_tokens:,} · "
        f"{money(u.cost_usd)} · {u.turns} turns · {story.attempts} attempts · "
        f"{story.output_lines} output lines"
        + (f" · {story.malformed_lines} malformed" if story.malformed_lines else "")
    )
    reason = f" ({inert_line(story.reason)})" if story.reason else ""
    print(f"ended: {story.outcome}{reason}")


# --------------------------------------------------------------------------- runs


def _run_record(summary: RunSummary) -> dict[str, Any]:
    return {
        "run": summary.id,
        "swarm": summary.swarm,
        "started": iso_utc(summary.started),
        "ended": iso_utc(summary.ended) if summary.ended is not None else None,
        "last_event": iso_utc(summary.last_ts),
        "outcome": summary.outcome,
        "detail": summary.detail,
        "events": summary.events,
        **summary.usage.as_dict(),
        "metered_tokens": summary.metered_tokens,
        "metered_cost_usd": summary.metered_cost_usd,
        "unrecorded": summary.unrecorded(),
        "agents": {
            name: {**a.usage.as_dict(), "outcome": a.outcome, "reason": a.reason}
            for name, a in summary.agents.items()
        },
    }


_USAGE_HEADERS = {
    "input_tokens": "IN",
    "output_tokens": "OUT",
    "cache_read_input_tokens": "CACHE READ",
    "cache_creation_input_tokens": "CACHE WRITE",
    "cost_usd": "COST $",
    "turns": "TURNS",
}


def _cmd_runs(conn: sqlite3.Connection, args: argparse.Namespace) -> int:
    from controlroom.store.queries import runs
    from controlroom.text import duration

    summaries = runs(conn, args.run)
    if args.run and not summaries:
        raise AuditError(f"no run {args.run!r} in {args.db_path}")
    records = [_run_record(s) for s in summaries]
    if args.format == "jsonl":
        print_jsonl(records)
        return 0
    if args.format == "csv":
        columns = ["run", "swarm", "started", "ended", "outcome", "events", *_USAGE_HEADERS]
        flat = [{**r, "agents": _agents_text(r)} for r in records]
        print_csv(flat, [*columns, "agents"])
        return 0
    if not records:
        print("no runs", file=sys.stderr)
        return 0
    rows = [
        {
            **r,
            "started": r["started"][:19].replace("T", " "),
            "duration": duration(s.last_ts - s.started),
            "cost_usd": f"{s.usage.cost_usd:.4f}",
            "agents": _agents_text(r),
        }
        for r, s in zip(records, summaries, strict=True)
    ]
    columns = ["run", "swarm", "started", "duration", "outcome", "events", *_USAGE_HEADERS]
    print_table(rows, [*columns, "agents"], headers=_USAGE_HEADERS, max_width=_screen_width())
    for summary in summaries:
        if summary.unrecorded():
            print(f"run {summary.id}: the log lacks usage: {summary.unrecorded()}")
    if args.run:
        print()
        agent_rows = [
            {"agent": name, **a, "cost_usd": f"{a['cost_usd']:.4f}"}
            for name, a in records[0]["agents"].items()
        ]
        print_table(
            agent_rows, ["agent", "outcome", *_USAGE_HEADERS, "reason"], headers=_USAGE_HEADERS
        )
    return 0


def _agents_text(record: dict[str, Any]) -> str:
    return " ".join(f"{name}:{a['outcome']}" for name, a in record["agents"].items())


# --------------------------------------------------------------------------- verify


def _cmd_verify(args: argparse.Namespace) -> int:
    from controlroom.store.anchor import extends, read_anchors
    from controlroom.store.verify import verify_chain

    anchors = [a for name in args.anchor or () for a in read_anchors(Path(name))]
    result = verify_chain(args.db_path, anchors)
    if result.ok:
        proved = f"; {extends(anchors)}" if anchors else ""
        print(f"ok: {result.events} events, chain intact{proved}")
        return 0
    print(_broken(result))
    return 1


def _broken(result: VerifyResult) -> str:
    if result.first_bad_id is None:
        return f"broken: {result.reason}"
    reason = result.reason.removeprefix(f"row {result.first_bad_id}: ")
    return f"broken at event {result.first_bad_id}: {reason}"


def _cmd_anchor(args: argparse.Namespace) -> int:
    """Verify first: an anchor of a forged chain would vouch for the forgery."""
    import time

    from controlroom.store.anchor import anchor_line, append_anchor
    from controlroom.store.verify import verify_chain

    result = verify_chain(args.db_path)
    if not result.ok or result.head is None:
        print(f"{_broken(result)}; not anchored")
        return 1
    line = anchor_line(result.head, args.db_path, time.time())
    if args.out is None:
        print(line)
        return 0
    append_anchor(Path(args.out), line)
    print(f"anchored event {result.head.last_id} to {args.out}")
    return 0
