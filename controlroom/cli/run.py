"""``controlroom run [CONFIG] --headless``: run a swarm with no screen.

Prints one line per significant event, each only after it is committed to
the audit log (so what was reported can be found there even if the control
room is killed the next instant). Ctrl-C or SIGTERM stops every agent
gracefully (SIGTERM, grace period, SIGKILL); a second Ctrl-C kills at once.
Exit code 0 when every agent finished successfully, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable

    from controlroom.models import SwarmConfig
    from controlroom.swarm.bus import Subscription
    from controlroom.swarm.supervisor import Supervisor

__all__ = ["add_parser", "run_headless", "run_swarm"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a swarm (--headless: without the dashboard)",
        description="Run every agent of a swarm under the supervisor. With --headless, print "
        "one line per significant event; Ctrl-C stops all agents (twice: kill at once).",
    )
    parser.add_argument(
        "config", nargs="?", metavar="CONFIG", help="the swarm config (default: ./config.toml)"
    )
    parser.add_argument(
        "--headless", action="store_true", help="no dashboard: one log line per event"
    )
    parser.add_argument("--db", metavar="PATH", help="audit database (default: [swarm] audit_db)")
    parser.set_defaults(handler=run_headless)


def run_headless(args: argparse.Namespace) -> int:
    """``run --headless``: log lines; plain ``run``: the same swarm under the dashboard."""
    import asyncio

    from controlroom.config import find_config, load_config

    cfg = load_config(find_config(args.config))
    db = Path(args.db) if args.db else Path(cfg.swarm.audit_db)
    if not args.headless:
        from controlroom.tui.app import run_dashboard

        return run_dashboard(cfg, db)
    return asyncio.run(run_swarm(cfg, db))


async def run_swarm(
    cfg: SwarmConfig,
    db: Path,
    *,
    out: TextIO | None = None,
    mode: str = "headless",
    on_start: Callable[[Supervisor], Awaitable[None]] | None = None,
) -> int:
    """Run ``cfg`` to its end, logging to ``out`` (default stdout); returns the exit code.

    ``mode`` is recorded in ``run_started``; ``on_start`` is awaited with the
    supervisor just before it starts (``controlroom demo`` starts its auto-operator).
    """
    import asyncio

    from controlroom.control.host import open_swarm
    from controlroom.swarm.supervisor import tune_gc

    tune_gc()
    stream = out if out is not None else sys.stdout
    opened = await open_swarm(cfg, db, base_dir=Path.cwd(), mode=mode)
    store, supervisor, server = opened.store, opened.supervisor, opened.server
    print(f"controlroom: control socket {server.path}", file=sys.stderr, flush=True)
    subscription = supervisor.bus.subscribe(maxsize=100_000)  # before start(): miss nothing
    printer = asyncio.create_task(_print_committed(supervisor, subscription, stream))
    interrupts = _install_stop_handlers(supervisor)
    try:
        if on_start is not None:
            await on_start(supervisor)
        await supervisor.start()
        for orphan in supervisor.orphans:
            print(f"controlroom: {orphan.describe()}", file=sys.stderr, flush=True)
        ok = await supervisor.wait()
        outcome = "interrupted" if interrupts else None
        await supervisor.close(outcome)
    finally:
        await server.close()
        _remove_stop_handlers()
        await printer
        await store.close()
    return 0 if ok and not interrupts else 1


async def _print_committed(
    supervisor: Supervisor, subscription: Subscription, stream: TextIO
) -> None:
    from controlroom.text import format_line, worth_a_line

    while (first := await subscription.get()) is not None:
        batch = [first, *subscription.drain()]
        lines = [format_line(event) + "\n" for event in batch if worth_a_line(event)]
        if lines:
            await supervisor.bus.flush()  # print only what is committed
            stream.write("".join(lines))
            stream.flush()


def _install_stop_handlers(supervisor: Supervisor) -> list[int]:
    """First Ctrl-C / SIGTERM: graceful stop_all. Second: kill at once (grace 0)."""
    import asyncio
    import signal
    loop = asyncio.get_running_loop()
    interrupts: list[int] = []
    tasks: set[asyncio.Task[object]] = set()

    def on_signal(signum: int) -> None:
        interrupts.append(signum)
        grace = None if len(interrupts) == 1 else 0.0
        name = signal.Signals(signum).name
        reason = f"{name}: stop all" if grace is None else f"{name} again: kill now"
        print(f"controlroom: {reason}", file=sys.stderr, flush=True)
        task = loop.create_task(supervisor.stop_all(by="operator", reason=reason, grace=grace))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    return interrupts


def _remove_stop_handlers() -> None:
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(signum)
