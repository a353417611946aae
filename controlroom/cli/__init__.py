"""The ``controlroom`` command: one argparse tree, one module per verb.

Each verb module defines ``add_parser(subparsers)`` and does its heavy imports
inside the function that runs the verb, so ``controlroom audit verify`` or
``controlroom hook`` never pay for Textual (checked by a test). Every
``ControlRoomError`` becomes one line on stderr and exit code 1 (2 for usage).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from controlroom._errors import ControlRoomError

__all__ = ["build_parser", "main"]

VERB_MODULES = ("tui", "check", "run", "demo", "orphans", "audit", "control", "hook")
"""Modules under ``controlroom.cli`` that register verbs, in help order."""

PROGRAMS = {"agent": "controlroom.agent"}
"""Verbs that are whole programs with their own arguments (``controlroom agent --help``)."""


def build_parser() -> argparse.ArgumentParser:
    from importlib import import_module

    parser = argparse.ArgumentParser(
        prog="controlroom",
        description="A keyboard-driven terminal control room for swarms of AI coding agents.",
    )
    from controlroom import __version__

    parser.add_argument("--version", action="version", version=f"controlroom {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        import_module(f"controlroom.cli.{name}").add_parser(sub)
    sub.add_parser("agent", help="run the built-in Claude worker (as an agent of a swarm)")
    return parser


def _with_default_verb(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """``controlroom [CONFIG] [--db …] [--theme …] [--read-only]`` means ``controlroom tui …``."""
    args = list(argv)
    verbs: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            verbs.update(action.choices)
    if "tui" not in verbs:
        return args
    tui_options = verbs["tui"]._option_string_actions.keys() - {"-h", "--help"}
    first = args[0].split("=", 1)[0] if args else ""
    if not args or first in tui_options or (not first.startswith("-") and first not in verbs):
        return ["tui", *args]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before a verb could take it (still importing, say)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given and given[0] in PROGRAMS:
        from importlib import import_module

        program: Callable[[list[str]], int] = import_module(PROGRAMS[given[0]]).main
        return program(given[1:])
    parser = build_parser()
    args = parser.parse_args(_with_default_verb(parser, given))
    handler: Callable[[Any], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except ControlRoomError as exc:  # may quote what an agent wrote: keep it inert
        from controlroom.inert import inert

        print(f"controlroom: {inert(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
