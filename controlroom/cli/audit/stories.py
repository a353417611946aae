"""``audit timeline`` and ``audit runs``: one agent's story, and what every run cost.

Both read summaries the store builds (``store.timeline``, ``store.runs``)
and only put them on the page: text, table, CSV or JSONL.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from controlroom._errors import AuditError
from controlroom.cli.audit.events import event_record
from controlroom.cli.audit.plumbing import screen_width
from controlroom.cli.render import iso_utc, print_csv, print_jsonl, print_table
from controlroom.inert import inert_line

if TYPE_CHECKING:
    from controlroom.store.queries import RunSummary, Timeline

__all__ = ["cmd_runs", "cmd_timeline"]


def cmd_timeline(conn: sqlite3.Connection, args: argparse.Namespace) -> int:
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


def cmd_runs(conn: sqlite3.Connection, args: argparse.Namespace) -> int:
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
    print_table(rows, [*columns, "agents"], headers=_USAGE_HEADERS, max_width=screen_width())
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
