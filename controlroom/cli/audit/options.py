"""The options ``audit`` verbs share: which database, and which events.

Each argument is checked as argparse reads it (a bad kind, time or count is
one line naming the option and the forms it takes, never a traceback).
"""

from __future__ import annotations

import argparse

__all__ = ["database_options", "filter_options"]


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


def database_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="PATH", help="audit database (default: see above)")
    common.add_argument(
        "--config", metavar="PATH", help="take [swarm] audit_db from this config.toml"
    )
    return common


def filter_options() -> argparse.ArgumentParser:
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
