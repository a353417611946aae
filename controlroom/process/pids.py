"""Which pids are whose: /proc walks shared by the tree, the kill switch and containment.

Why a module of its own: the tree (sampling, pausing), the kill switch and the
cgroup fallback all ask the same small questions of the kernel (children of a
pid, members of a group or session, "is this still the process we recorded?"),
and each must answer them the same way, so they live here once, public.
"""

from __future__ import annotations

import os

import psutil

from controlroom.process.linux import IS_LINUX

__all__ = [
    "CREATE_TIME_TOLERANCE",
    "child_pids",
    "descendant_pids",
    "group_exists",
    "is_zombie",
    "safe_pgid",
    "scan_group_or_session",
    "verified_process",
]

# psutil derives both create times the same way; this only absorbs float noise.
CREATE_TIME_TOLERANCE = 1e-3


# --------------------------------------------------------------------------- the tree


_PROC_CHILDREN = IS_LINUX and os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def child_pids(pid: int) -> list[int]:
    """Direct children, from /proc/<pid>/task/*/children (O(tree), not O(system))."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    pids: list[int] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                pids.extend(int(x) for x in fh.read().split())
        except OSError:
            continue
    return pids


def descendant_pids(pid: int) -> list[int]:
    if not _PROC_CHILDREN:
        try:
            return [p.pid for p in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            return []
    seen = {pid}
    out: list[int] = []
    stack = [pid]
    while stack:
        for child in child_pids(stack.pop()):
            if child not in seen:
                seen.add(child)
                out.append(child)
                stack.append(child)
    return out


def verified_process(pid: int, create_time: float | None) -> psutil.Process | None:
    """The process at ``pid`` if it is still the one recorded (None if gone or reused)."""
    try:
        proc = psutil.Process(pid)
        if (
            create_time is not None
            and abs(proc.create_time() - create_time) > CREATE_TIME_TOLERANCE
        ):
            return None
    except psutil.Error:
        return None
    return proc


def is_zombie(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def safe_pgid(pgid: int | None) -> int | None:
    """A group we may signal as a whole: never ours, never init's, never a bogus id."""
    if pgid is None or pgid <= 1:
        return None
    if pgid == os.getpgrp():
        return None
    return pgid


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def scan_group_or_session(ident: int) -> list[int]:
    """Live (not zombie) pids whose process group or session is ``ident``: one pass over /proc."""
    found: list[int] = []
    if not IS_LINUX:
        for proc in psutil.process_iter():
            try:
                if ident in (os.getpgid(proc.pid), os.getsid(proc.pid)) and not is_zombie(proc):
                    found.append(proc.pid)
            except (OSError, psutil.Error):
                continue
        return found
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        # fields: state ppid pgrp session ...
        if len(fields) >= 4 and fields[0] != b"Z" and ident in (int(fields[2]), int(fields[3])):
            found.append(int(name))
    return found
