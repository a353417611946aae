"""The agents' leaders whose exit status is still to be collected: never orphans to reap.

As child subreaper the control room adopts an agent's orphans and reaps
them when they die (``contain.reap_adopted``, on the sampler's thread). An
agent's leader is a zombie child of ours in the agent's cgroup too, but its
exit status belongs to its runner, which collects it with ``waitpid``
(``child.ChildProcess``). Taken by the reaper, the runner finds no child, and
``subprocess`` reports exit status 0: a crashed agent shown as one that
succeeded. The loop's own list of running agents cannot say which pids to
spare: a leader exists from its ``fork()`` on the spawner thread, and the loop
hears of it only when the spawn is done.

So every leader is registered here from its fork, in one step with it (the
spawner holds ``_forking`` from before the fork until the pid is added, and a
reaping round holds it while it looks and reaps), until its status is
collected. ``collected`` takes no lock: it runs on the loop, which must never
wait out a fork, and a pid whose status is already collected is no zombie of
ours for the reaper to take, whether or not it is still listed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["collected", "forking", "reaping"]

_forking = threading.Lock()
_leaders: set[int] = set()


@contextmanager
def forking() -> Iterator[Callable[[int], None]]:
    """Around a leader's fork: call what it yields with the new pid before leaving."""
    with _forking:
        yield _leaders.add


@contextmanager
def reaping() -> Iterator[frozenset[int]]:
    """Around a reaping round: no leader is forked meanwhile; yields those to spare."""
    with _forking:
        yield frozenset(_leaders)


def collected(pid: int) -> None:
    """The leader ``pid``'s exit status was collected by its owner: it is spared no more."""
    _leaders.discard(pid)


def _forget_in_child() -> None:
    """A forked copy of this process has no leaders of its own, and perhaps a lock held by
    a thread that is not there (the spawner's, mid-fork): it starts afresh."""
    global _forking
    _forking = threading.Lock()
    _leaders.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
