"""Scope: writes into the shared repository that no agent owns.

An agent in a worktree should write only there. A write anywhere else in
the shared repository (the operator's checkout the swarm started from),
outside every agent's folder, is a ``scope_violation`` naming the file.
The control room's own files (its run folder, the audit database) are not
watched at all. Each path is reported once per run, and a flood of them
(an agent spraying files) is cut to ``MAX_PER_BATCH`` events and a count.

The watcher cannot say which process wrote a file (inotify has no pid), so
the event names the file, not an agent; writes the operator makes in that
checkout while the swarm runs are reported too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from controlroom.models import EventBase, ScopeViolation
from controlroom.process.gitstate import GitWorkspace

__all__ = ["MAX_PER_BATCH", "Scope"]

MAX_PER_BATCH = 20
_DB_SUFFIXES = ("", "-wal", "-shm", "-journal")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + os.sep)


class Scope:
    """Where no agent may write, and the control room's own files the watcher skips."""

    def __init__(
        self, run_dir: Path, run_id: str, audit_db: Path, emit: Callable[[EventBase], None]
    ) -> None:
        self.shared: GitWorkspace | None = None  # the repository the swarm started in
        self._run_dir = str(run_dir)
        self._worktrees = str(run_dir / "worktrees" / run_id)
        self._db_files = frozenset(str(audit_db) + suffix for suffix in _DB_SUFFIXES)
        self._emit = emit
        self._seen: set[str] = set()

    def ignored(self, path: str) -> bool:
        """The control room's own writes: its run folder (but the run's worktrees), the audit db."""
        if path in self._db_files:
            return True
        return _inside(path, self._run_dir) and not _inside(path, self._worktrees)

    def excluded_in(self, ws: GitWorkspace) -> tuple[str, ...]:
        """The control room's files inside ``ws``, relative to its top (kept out of change sets)."""
        top = str(ws.top)
        mine = [self._run_dir, *sorted(self._db_files)]
        return tuple(os.path.relpath(p, top) for p in mine if _inside(p, top) and p != top)

    def report(self, strays: Iterable[str]) -> None:
        """Paths no agent owns: those inside the shared repository are violations (once each)."""
        if self.shared is None:
            return
        top = str(self.shared.top)
        new = sorted(
            p
            for p in set(strays)
            if _inside(p, top)
            and p != top
            and not _inside(p, self._run_dir)
            and p not in self._seen
            and not os.path.isdir(p)
        )
        self._seen.update(new)
        where = f"in the shared repository {top}, outside every agent's workspace"
        for path in new[:MAX_PER_BATCH]:
            self._emit(ScopeViolation(path=os.path.relpath(path, top), detail=f"written {where}"))
        if len(new) > MAX_PER_BATCH:
            more = len(new) - MAX_PER_BATCH
            self._emit(
                ScopeViolation(
                    path=os.path.relpath(new[MAX_PER_BATCH], top),
                    detail=f"and {more} more files written {where}",
                )
            )
