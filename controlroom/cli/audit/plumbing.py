"""How every ``audit`` verb runs: find the database, open it read-only, turn errors into one line.

A closed pipe (``| head``) ends a verb quietly; an SQLite error names the file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from controlroom._errors import AuditError

__all__ = ["Body", "database_path", "guarded", "kind_list", "reading", "screen_width"]

Body = Callable[[sqlite3.Connection, argparse.Namespace], int]


def database_path(args: argparse.Namespace) -> Path:
    """``--db``, else ``[swarm] audit_db`` of ``--config`` or ./config.toml, else controlroom.db."""
    if args.db:
        return Path(args.db)
    if args.config or Path("config.toml").is_file():
        from controlroom.config import find_config, load_config

        return Path(load_config(find_config(args.config)).swarm.audit_db)
    return Path("controlroom.db")


def guarded(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
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


def reading(body: Body) -> Callable[[argparse.Namespace], int]:
    """``guarded`` around ``body`` run on a read-only connection to the database."""

    def run(args: argparse.Namespace) -> int:
        from controlroom.store.connection import open_readonly

        conn = open_readonly(args.db_path)
        try:
            return body(conn, args)
        finally:
            conn.close()

    return guarded(run)


def kind_list(args: argparse.Namespace) -> list[str] | None:
    groups: list[list[str]] | None = args.kind
    if not groups:
        return None
    return list(dict.fromkeys(k for group in groups for k in group))


def screen_width() -> int | None:
    """The terminal's width when stdout is one (tables fit it); None into a pipe or file."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None
