"""``controlroom [CONFIG]``, ``controlroom tui`` and ``controlroom attach``: the dashboard.

``tui`` starts the swarm in this process under the dashboard (with the
control socket, so the CLI verbs and ``attach`` work meanwhile); quitting
asks whether to stop every agent or detach and leave the swarm running
headless. ``attach`` opens the same dashboard on a swarm that runs
elsewhere; quitting it only detaches. Textual is imported only inside the
handlers, so registering these verbs costs nothing to the other ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from controlroom.cli.arguments import add_config_argument, socket_options

__all__ = ["add_parser", "run_attach", "run_tui"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    look = argparse.ArgumentParser(add_help=False)
    look.add_argument("--theme", metavar="NAME", help="colour theme (default: [swarm] theme)")
    look.add_argument(
        "--read-only",
        action="store_true",
        help="watch only: no kill, stop, pause, restart, approve, reject or breaker reset",
    )

    tui = subparsers.add_parser(
        "tui",
        parents=[look],
        help="run a swarm under the dashboard (also: controlroom [CONFIG])",
        description="Start every agent of a swarm in this process and open the dashboard. "
        "q asks whether to stop all agents or detach and keep them running headless.",
    )
    add_config_argument(tui)
    tui.add_argument("--db", metavar="PATH", help="audit database (default: [swarm] audit_db)")
    tui.add_argument(
        "--metrics",
        metavar="ADDR",
        help="serve Prometheus metrics at http://ADDR/metrics (default: [metrics] listen; off)",
    )
    tui.set_defaults(handler=run_tui)

    attach = subparsers.add_parser(
        "attach",
        parents=[look, socket_options()],
        help="open the dashboard on a running swarm",
        description="Open the dashboard on a swarm started elsewhere (controlroom run "
        "--headless, or a detached dashboard). q leaves it running.",
    )
    attach.set_defaults(handler=run_attach)


def run_tui(args: argparse.Namespace) -> int:
    from controlroom.cli.run import with_metrics
    from controlroom.config import find_config, load_config

    cfg = with_metrics(load_config(find_config(args.config)), getattr(args, "metrics", None))
    db = Path(args.db) if args.db else Path(cfg.swarm.audit_db)
    from controlroom.tui.running import run_dashboard

    return run_dashboard(cfg, db, theme=args.theme, read_only=args.read_only)


def run_attach(args: argparse.Namespace) -> int:
    from controlroom.control.client import find_socket

    socket = find_socket(args.socket, args.config)
    theme = args.theme
    if theme is None and (args.config or Path("config.toml").is_file()):
        from controlroom.config import find_config, load_config

        theme = load_config(find_config(args.config)).swarm.theme
    from controlroom.tui.running import attach_dashboard

    return attach_dashboard(socket, theme=theme, read_only=args.read_only)
