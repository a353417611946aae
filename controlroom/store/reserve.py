"""The audit log's reserve: room set aside on its file system for the log's last words.

When the file system holding the audit database fills up, the swarm is
frozen and then stopped, and that stop (kills, the run's end), together with
every event the meters counted before the freeze, must still reach the log:
otherwise the log ends earlier than the run and says less was spent than
was. So a run holds ``<db>.reserve``, a file of ``RESERVE_BYTES`` allocated
up front; the first "database or disk is full" frees it (after the swarm is
frozen, so no agent can take the room) and the write is tried again. Once
the reserve is spent the log runs on borrowed room: the emergency lasts
until the reserve can be allocated again (someone freed space), never just
until a write happens to fit.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from controlroom.store.pacing import CHECKPOINT_BYTES

__all__ = ["RESERVE_BYTES", "Reserve", "reserve_path_for"]

RESERVE_BYTES = 2 * CHECKPOINT_BYTES
"""8 MiB: room for the checkpoint the log is due, and for the last words besides.

A checkpoint copies at most the log's backlog (``CHECKPOINT_BYTES`` and the
commit that crossed it) into the database, which grows by no more than that;
once it has, the write-ahead log starts again from its beginning, in room
it already holds. Without that room the log could only grow: each commit of
a 100-agent swarm's last words adds some hundreds of KiB of changed pages.
"""

_CHUNK = 1 << 16


def reserve_path_for(db: Path) -> Path:
    return db.with_name(db.name + ".reserve")


class Reserve:
    """``<db>.reserve``: allocate it, spend it, and allocate it again once there is room."""

    def __init__(self, db: Path, size: int = RESERVE_BYTES) -> None:
        self.path = reserve_path_for(db)
        self.size = size
        self.held = False

    def allocate(self) -> bool:
        """Hold the reserve (again); False when the file system has no room for it."""
        if self.held and _size(self.path) >= self.size:
            return True
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                return False
            raise
        try:
            _fill(fd, self.size)
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                self.held = False
                return False
            raise
        os.close(fd)
        self.held = True
        return True

    def spend(self) -> bool:
        """Give the room back to the file system; False if there was none to give."""
        if not self.held:
            return False
        self.held = False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        return True

    def remove(self) -> None:
        """At the end of a run: the reserve is a run's, not the database's."""
        self.spend()


def _fill(fd: int, size: int) -> None:
    """Allocate ``size`` bytes for real (a sparse file would hold no room at all)."""
    try:
        os.posix_fallocate(fd, 0, size)
        return
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    zeros = bytes(_CHUNK)
    written = 0
    while written < size:
        written += os.write(fd, zeros[: min(_CHUNK, size - written)])
    os.fsync(fd)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
