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
from typing import Any

from controlroom.cli.audit.chain import cmd_anchor, cmd_verify
from controlroom.cli.audit.events import cmd_export, cmd_list, event_record
from controlroom.cli.audit.options import database_options, filter_options
from controlroom.cli.audit.plumbing import database_path, guarded, reading
from controlroom.cli.audit.show import cmd_show
from controlroom.cli.audit.stories import cmd_runs, cmd_timeline
from controlroom.cli.render import add_format_argument

__all__ = ["add_parser", "database_path", "event_record"]


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
    db, filters = database_options(), filter_options()

    p = sub.add_parser("list", parents=[db, filters], help="list events (oldest first)")
    add_format_argument(p)
    p.set_defaults(handler=reading(cmd_list))

    p = sub.add_parser("show", parents=[db], help="one event with all its fields and hashes")
    p.add_argument("event_id", type=int, metavar="EVENT_ID")
    add_format_argument(p, ("text", "json"), "text")
    p.set_defaults(handler=reading(cmd_show))

    p = sub.add_parser("timeline", parents=[db], help="one agent's story in a run")
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("--run", help="the run (default: the newest run the agent appears in)")
    add_format_argument(p, ("text", "jsonl"), "text")
    p.set_defaults(handler=reading(cmd_timeline))

    p = sub.add_parser("runs", parents=[db], help="every run: outcome, tokens and cost")
    p.add_argument("--run", help="only this run, with a line per agent")
    add_format_argument(p)
    p.set_defaults(handler=reading(cmd_runs))

    p = sub.add_parser("verify", parents=[db], help="check the hash chain end to end")
    p.add_argument(
        "--anchor",
        action="append",
        metavar="FILE",
        help="also prove the log extends every anchor in FILE (repeatable)",
    )
    p.set_defaults(handler=guarded(cmd_verify))

    p = sub.add_parser(
        "anchor",
        parents=[db],
        help="verify the chain and write its head (event id, hash, time) as one line",
    )
    p.add_argument(
        "--out", metavar="FILE", help="append the line to FILE (default: print it on stdout)"
    )
    p.set_defaults(handler=guarded(cmd_anchor))

    p = sub.add_parser(
        "export", parents=[db, filters], help="write the (filtered) events to a file"
    )
    p.add_argument("file", metavar="FILE", help="where to write ('-' for stdout)")
    add_format_argument(p, ("jsonl", "csv"), None)
    p.set_defaults(handler=reading(cmd_export))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
