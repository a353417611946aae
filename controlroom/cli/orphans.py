"""``controlroom orphans [--kill]``: agents that outlived the control room that ran them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from controlroom.cli.arguments import add_config_argument

if TYPE_CHECKING:
    from controlroom.process.orphans import Orphan

__all__ = ["add_parser", "run_orphans"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "orphans",
        help="list (or --kill) agents of earlier runs that are still running",
        description="Find agent processes of earlier runs of this audit database that are "
        "still alive (a control room that crashed leaves them behind), by their recorded "
        "identity, their environment marker and the cgroups their run recorded, and list "
        "those cgroups. Exit 0 when none are left, 1 when some are still running.",
    )
    add_config_argument(parser)
    parser.add_argument("--db", metavar="PATH", help="audit database (default: [swarm] audit_db)")
    parser.add_argument(
        "--kill",
        action="store_true",
        help="kill every orphan (its cgroup, else its tree) and remove the leftover cgroups",
    )
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

    from controlroom.process.orphans import find_orphans, leftover_cgroups
    from controlroom.store.connection import open_readonly
    from controlroom.store.queries import recorded_cgroups, recorded_processes
    from controlroom.text import counted

    db = Path(args.db) if args.db else _default_db(args.config)
    conn = open_readonly(db)
    try:
        recorded = recorded_processes(conn)
        cgroups = recorded_cgroups(conn)
    finally:
        conn.close()
    running = running_run(db)
    orphans = find_orphans(recorded, exclude_run=running, cgroups=cgroups)
    left = leftover_cgroups(cgroups, exclude_run=running)
    dirs = [d for found in left.values() for d in found]
    if not orphans and not dirs:
        print("no orphans: no agent of an earlier run is still running")
        return 0
    for orphan in orphans:
        print(orphan.describe())
    for run, found in left.items():
        for path in found:
            print(f"leftover cgroup of run {run}: {path}")
    if not args.kill:
        print(
            f"{counted(len(orphans), 'orphan')}, {counted(len(dirs), 'leftover cgroup')}; "
            "'controlroom orphans --kill' stops them and removes the cgroups"
        )
        return 1 if orphans else 0
    survivors, removed = asyncio.run(_kill(orphans, dirs, args.grace))
    still = find_orphans(recorded, exclude_run=running, cgroups=cgroups)
    print(
        f"killed {counted(len(orphans), 'orphan')}, {counted(len(still), 'survivor')}; "
        f"removed {len(removed)} of {counted(len(dirs), 'leftover cgroup')}"
    )
    for orphan in still:
        print(f"still running: {orphan.describe()}")
    return 0 if not still and survivors == 0 else 1


async def _kill(orphans: list[Orphan], dirs: list[str], grace: float) -> tuple[int, list[str]]:
    """Every leftover cgroup killed by the kernel, then every other orphan's tree; then removal."""
    import asyncio

    from controlroom.process.kill import kill_process_tree
    from controlroom.process.orphans import kill_cgroups, remove_cgroups

    _, survivors = await kill_cgroups(dirs, grace)
    reports = await asyncio.gather(
        *(
            kill_process_tree(o.pid, grace=grace, create_time=o.create_time)
            for o in orphans
            if o.how != "cgroup"
        )
    )
    removed, _ = remove_cgroups(dirs)
    return survivors + sum(r.survivors for r in reports), removed


def _default_db(config: str | None) -> Path:
    from controlroom.config import find_config, load_config

    return Path(load_config(find_config(config)).swarm.audit_db)
