"""``controlroom orphans [--kill]``: agents that outlived the control room that ran them."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run_orphans"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "orphans",
        help="list (or --kill) agents of earlier runs that are still running",
        description="Find agent processes of earlier runs of this audit database that are "
        "still alive (a control room that crashed leaves them behind). Exit 0 when none "
        "are left, 1 when some are still running.",
    )
    parser.add_argument(
        "config", nargs="?", metavar="CONFIG", help="the swarm config (default: ./config.toml)"
    )
    parser.add_argument("--db", metavar="PATH", help="audit database (default: [swarm] audit_db)")
    parser.add_argument("--kill", action="store_true", help="kill every orphan's process tree")
    parser.add_argument(
        "--grace", type=float, default=5.0, help="seconds between SIGTERM and SIGKILL (default 5)"
    )
    parser.set_defaults(handler=run_orphans)


def running_run(db: Path) -> str | None:
    """The run id of a control room writing ``db`` right now, if any (from its run lock)."""
    from controlroom._errors import StoreLockedError
    from controlroom.store.connection import RunLock, lock_path_for

    try:
        RunLock.acquire(db).release()
    except StoreLockedError:
        words = lock_path_for(db).read_text(errors="replace").split()
        return words[1] if len(words) > 1 else ""
    return None


def run_orphans(args: argparse.Namespace) -> int:
    import asyncio

    from controlroom.process.kill import kill_process_tree
    from controlroom.process.orphans import find_orphans
    from controlroom.store.connection import open_readonly
    from controlroom.store.queries import recorded_processes

    db = Path(args.db) if args.db else _default_db(args.config)
    conn = open_readonly(db)
    try:
        recorded = recorded_processes(conn)
    finally:
        conn.close()
    orphans = find_orphans(recorded, exclude_run=running_run(db))
    if not orphans:
        print("no orphans: no agent of an earlier run is still running")
        return 0
    for orphan in orphans:
        print(orphan.describe())
    if not args.kill:
        print(f"{len(orphans)} orphan(s); 'controlroom orphans --kill' stops them")
        return 1

    async def kill_all() -> int:
        reports = await asyncio.gather(
            *(
                kill_process_tree(o.pid, grace=args.grace, create_time=o.create_time)
                for o in orphans
            )
        )
        return sum(r.survivors for r in reports)

    survivors = asyncio.run(kill_all())
    print(f"killed {len(orphans)} orphan(s), {survivors} survivors")
    return 0 if survivors == 0 else 1


def _default_db(config: str | None) -> Path:
    from controlroom.config import find_config, load_config

    return Path(load_config(find_config(config)).swarm.audit_db)
