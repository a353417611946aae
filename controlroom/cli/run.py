"""``controlroom run [CONFIG] --headless``: run a swarm with no screen.

Prints one line per significant event, each only after it is committed to
the audit log (so what was reported can be found there even if the control
room is killed the next instant). Ctrl-C or SIGTERM stops every agent
gracefully (SIGTERM, grace period, SIGKILL); a second Ctrl-C kills at once.
Exit code 0 when every agent finished successfully, 3 when the audit log
could not be written (the swarm was stopped for it, or the run's end could
not be recorded: the reasons are the last lines on stderr), 1 otherwise.
While the log cannot be written, lines are printed at once, marked
``[unrecorded]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from controlroom.cli.arguments import add_config_argument

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from controlroom.control.api import ControlAPI
    from controlroom.models import SwarmConfig

__all__ = ["AUDIT_FAILED", "add_parser", "run_headless", "run_swarm", "with_metrics"]

AUDIT_FAILED = 3
"""The exit code of a run whose audit log could not be written (the reason is on stderr)."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a swarm (--headless: without the dashboard)",
        description="Run every agent of a swarm under the supervisor. With --headless, print "
        "one line per significant event; Ctrl-C stops all agents (twice: kill at once).",
    )
    add_config_argument(parser)
    parser.add_argument(
        "--headless", action="store_true", help="no dashboard: one log line per event"
    )
    parser.add_argument("--db", metavar="PATH", help="audit database (default: [swarm] audit_db)")
    parser.add_argument(
        "--metrics",
        metavar="ADDR",
        help="serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9464 "
        "(default: [metrics] listen; off)",
    )
    parser.set_defaults(handler=run_headless)


def run_headless(args: argparse.Namespace) -> int:
    """``run --headless``: log lines; plain ``run``: the same swarm under the dashboard."""
    import asyncio

    from controlroom.config import find_config, load_config

    cfg = with_metrics(load_config(find_config(args.config)), args.metrics)
    db = Path(args.db) if args.db else Path(cfg.swarm.audit_db)
    if not args.headless:
        from controlroom.tui.running import run_dashboard

        return run_dashboard(cfg, db)
    return asyncio.run(run_swarm(cfg, db))


def with_metrics(cfg: SwarmConfig, listen: str | None) -> SwarmConfig:
    """``--metrics ADDR`` over ``[metrics] listen``; a bad ADDR is a ConfigError naming it."""
    if listen is None:
        return cfg
    from controlroom._errors import ConfigError, ConfigProblem
    from controlroom.models import MetricsSettings, parse_listen

    try:
        parse_listen(listen)
    except ValueError as exc:
        raise ConfigError([ConfigProblem("--metrics", None, "", str(exc))]) from None
    return cfg.model_copy(update={"metrics": MetricsSettings(listen=listen)})


async def run_swarm(
    cfg: SwarmConfig,
    db: Path,
    *,
    out: TextIO | None = None,
    mode: str = "headless",
    on_start: Callable[[ControlAPI], Awaitable[None]] | None = None,
) -> int:
    """Run ``cfg`` to its end, logging to ``out`` (default stdout); returns the exit code.

    ``mode`` is recorded in ``run_started``; ``on_start`` is awaited with the
    swarm's control API just before it starts (``controlroom demo`` starts its
    auto-operator).
    """
    from controlroom.control.api import ControlAPI
    from controlroom.control.host import SwarmHost, tune_interpreter
    from controlroom.inert import inert_line

    tune_interpreter()
    host = SwarmHost(cfg, db, base_dir=Path.cwd(), mode=mode)
    ok = False
    with host.signals():  # from the very start: a Ctrl-C while opening spawns nothing
        await host.open()
        try:
            print(f"controlroom: control socket {host.socket_path}", file=sys.stderr, flush=True)
            if host.metrics is not None:
                print(f"controlroom: metrics at {host.metrics.url}", file=sys.stderr, flush=True)
            host.log_to(out if out is not None else sys.stdout)  # before start(): miss nothing
            if on_start is not None:
                await on_start(ControlAPI(host.supervisor))
            await host.start()
            for orphan in host.supervisor.orphans:
                print(f"controlroom: {orphan.describe()}", file=sys.stderr, flush=True)
            ok = await host.wait()
        finally:
            await host.close()
    failures = host.audit_failures()
    for reason in failures:
        print(f"controlroom: {inert_line(reason)}", file=sys.stderr, flush=True)
    if failures:
        return AUDIT_FAILED
    return 0 if ok and not host.interrupted else 1
