"""The spawner thread: every agent's fork and exec runs here, never on the event loop.

Why a thread: a spawn with a pre-exec step (joining the agent's cgroup, its
parent-death signal) cannot use ``posix_spawn``/``vfork``, and
``subprocess.Popen`` then waits, blocking, until the child has exec'd: 5 to
90 ms a spawn on a loaded machine. On the loop thread that blinded the
reader (and the governor on its path) for every spawn of a burst; here the
loop awaits a future and keeps reading. Only the ``fork()`` itself still
holds the GIL (Python 3.11), well under a millisecond for this process.

Why one long-lived thread and not a pool: ``PR_SET_PDEATHSIG`` fires when
the *thread* that forked the child exits, not the process. A pool thread
that retires would take its agents with it; this thread lives as long as
the process (a daemon: it never holds the interpreter's exit), so the
agents die with the control room and not before. One thread also keeps
spawns in order, one at a time, as the loop-side pacing used to.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["submit"]

T = TypeVar("T")

_Job = tuple[Callable[[], Any], "Future[Any]"]


class _Spawner:
    """One daemon thread running the jobs it is given, in order, for the life of the process."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="controlroom-spawner", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._jobs.put((job, future))
        return future

    def _serve(self) -> None:
        while True:
            job, future = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while it waited its turn: never started
            try:
                result = job()
            except BaseException as exc:  # handed to the waiter, whatever it is
                future.set_exception(exc)
            else:
                future.set_result(result)


_lock = threading.Lock()
_spawner: _Spawner | None = None


def _forget_in_child() -> None:
    """A forked copy of this process has no spawner thread: it starts its own when it needs one."""
    global _spawner, _lock
    _spawner = None
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def submit(job: Callable[[], T]) -> Future[T]:
    """Run ``job`` on the spawner thread (started on first use); its future says how it ended."""
    global _spawner
    with _lock:
        if _spawner is None:
            _spawner = _Spawner()
        return _spawner.submit(job)
