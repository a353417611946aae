"""Linux process controls the stdlib lacks: parent-death signal and child subreaper.

Both are ``prctl(2)`` options reached through ``ctypes``. Elsewhere (macOS,
BSD) they do not exist: ``HAS_PRCTL`` is False and every helper is a no-op
that returns False, so callers can log "not available" and carry on. The
supervisor's orphan check is what really guarantees no agent outlives a
run; these only make that check find less.

* ``PR_SET_PDEATHSIG`` asks the kernel to send a signal to a process when its
  parent dies. Caveat: "parent" means the *thread* that forked it, and the
  setting is cleared in the children of a fork, so it protects the agent's
  leader only, and only while the forking thread (the spawner thread,
  ``spawner.py``, alive as long as the process) lives. A best effort, used anyway.
* ``PR_SET_CHILD_SUBREAPER`` makes the calling process adopt orphaned
  descendants instead of init: when an agent's intermediate process dies,
  its children re-parent to the supervisor, where the kill switch still
  finds them (and must reap them: ``os.waitpid``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable

__all__ = [
    "HAS_PIDFD",
    "HAS_PRCTL",
    "IS_LINUX",
    "become_subreaper",
    "is_subreaper",
    "pdeathsig_preexec",
    "set_pdeathsig",
]

IS_LINUX = sys.platform.startswith("linux")
HAS_PIDFD = IS_LINUX and hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37


def _load_prctl() -> Callable[..., int] | None:
    if not IS_LINUX:
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Loaded once at import: a forked child (preexec) must not dlopen anything.
_prctl = _load_prctl()
HAS_PRCTL = _prctl is not None


def set_pdeathsig(sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send ``sig`` to this process when its parent thread dies."""
    if _prctl is None:
        return False
    return _prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(sig), 0, 0, 0) == 0


def become_subreaper() -> bool:
    """Adopt orphaned descendants (they re-parent to us, and we must reap them)."""
    if _prctl is None:
        return False
    return _prctl(_PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1), 0, 0, 0) == 0


def is_subreaper() -> bool:
    """Whether this process currently adopts orphaned descendants."""
    if _prctl is None:
        return False
    flag = ctypes.c_int(0)
    if _prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) != 0:
        return False
    return flag.value != 0


def pdeathsig_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` that ties the child's life to this process, or None off Linux.

    It runs in the forked child before exec. If the parent already died
    between fork and prctl, the signal would never come, so the child kills
    itself at once.
    """
    if _prctl is None:
        return None
    parent = os.getpid()

    def _preexec() -> None:
        set_pdeathsig(signal.SIGKILL)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return _preexec
