"""``controlroom [CONFIG]``, ``tui``, ``attach`` and ``replay``: the dashboard.

``tui`` starts the swarm in this process under the dashboard (with the
control socket, so the CLI verbs and ``attach`` work meanwhile); quitting
asks whether to stop every agent or detach and leave the swarm running
headless. ``attach`` opens the same dashboard on a swarm that runs
elsewhere; quitting it only detaches. ``replay`` opens it read-only on a
past run rebuilt from the audit log alone. Textual is imported only inside the
handlers, so registering these verbs costs nothing to the other ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from controlroom.cli.arguments import add_config_argument, socket_options

__all__ = ["add_parser", "run_attach", "run_replay", "run_tui"]


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

    replay = subparsers.add_parser(
        "replay",
        help="open the dashboard read-only on a past run, with a time bar",
        description="Rebuild the dashboard of a past run from the audit log alone and move "
        "through it: left/right an event, [ ] ten seconds, space plays (+/- 1x, 10x, 100x), "
        "home/end. Nothing can be changed. The database is --db, else [swarm] audit_db of "
        "--config or ./config.toml, else ./controlroom.db; 'controlroom audit runs' lists runs.",
    )
    replay.add_argument("--db", metavar="PATH", help="audit database (default: see above)")
    replay.add_argument("--config", metavar="PATH", help="take [swarm] audit_db from this config")
    replay.add_argument("--run", metavar="RUN", help="the run to replay (default: the latest)")
    replay.add_argument("--theme", metavar="NAME", help="colour theme")
    replay.set_defaults(handler=run_replay)


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


def run_replay(args: argparse.Namespace) -> int:
    from controlroom.cli.audit.plumbing import database_path
    from controlroom.tui.replay import replay_dashboard

    return replay_dashboard(database_path(args), args.run, theme=args.theme)
