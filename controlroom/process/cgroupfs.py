"""Where this machine's cgroups are, and whether the control room may make its own.

Operators' machines differ: pure cgroup v2 at ``/sys/fs/cgroup`` (often with
controllers delegated to a systemd slice), a hybrid with v2 at
``/sys/fs/cgroup/unified`` and the limit controllers (memory, pids, cpu) on
v1 hierarchies, or no writable cgroup at all (a container, an unprivileged
user outside a delegated unit). ``probe`` reads ``/proc/self/mountinfo`` and
``/proc/self/cgroup`` once and answers: the v2 directory under which run
cgroups can be made (the control room's own cgroup), and for each limit
controller whether it is enforced through v2, through a v1 hierarchy, or not
at all, and why. Nothing here creates anything; ``cgroup.py`` does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = [
    "LIMIT_CONTROLLERS",
    "CgroupLayout",
    "controllers_of",
    "layout",
    "own_paths",
    "read_flat",
    "read_small",
    "write_file",
]

LIMIT_CONTROLLERS = ("memory", "pids", "cpu")
"""The controllers behind ``[limits]``: memory_max, pids_max, cpu_max."""


@dataclass(frozen=True)
class CgroupLayout:
    """The mounted cgroup hierarchies, and the control room's own cgroup in each.

    ``v2_base`` is the control room's own v2 cgroup directory (None without a
    cgroup2 mount); ``v1`` maps each v1 controller to the control room's own
    directory in that controller's hierarchy.
    """

    v2_mount: str | None = None
    v2_base: str | None = None
    v1: dict[str, str] = field(default_factory=dict)
    v2_root: str = "/"  # the cgroup path mounted at v2_mount (not "/" in some containers)

    def v2_name(self, directory: str) -> str:
        """The cgroup path of a v2 directory, as ``/proc/<pid>/cgroup`` names it."""
        assert self.v2_mount is not None
        rel = os.path.relpath(directory, self.v2_mount)
        return os.path.normpath(os.path.join(self.v2_root, "" if rel == "." else rel))


def _mounts(mountinfo: str) -> list[tuple[str, str, str, set[str]]]:
    """(mount root, mount point, fstype, super options) of every cgroup mount."""
    found = []
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        point = fields[4].replace("\\040", " ")
        found.append((fields[3], point, tail[0], set(tail[2].split(","))))
    return found


def own_paths(proc_cgroup: str) -> tuple[str | None, dict[str, str]]:
    """From ``/proc/<pid>/cgroup``: the v2 path, and each v1 controller's path."""
    v2: str | None = None
    v1: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        number, _, rest = line.partition(":")
        names, _, path = rest.partition(":")
        path = path.removesuffix(" (deleted)")
        if number == "0" and names == "":
            v2 = path
        else:
            for name in names.split(","):
                if name:
                    v1[name] = path
    return v2, v1


def _join(mount_root: str, point: str, path: str) -> str:
    """The directory of cgroup ``path`` in a hierarchy mounted from ``mount_root`` at ``point``."""
    if mount_root != "/" and (path == mount_root or path.startswith(mount_root + "/")):
        path = path[len(mount_root) :]
    return os.path.normpath(point + "/" + path.lstrip("/"))


def layout(mountinfo: str | None = None, proc_cgroup: str | None = None) -> CgroupLayout:
    """The cgroup hierarchies of this machine, as this process sees them."""
    try:
        if mountinfo is None:
            with open("/proc/self/mountinfo", encoding="utf-8") as fh:
                mountinfo = fh.read()
        if proc_cgroup is None:
            with open("/proc/self/cgroup", encoding="utf-8") as fh:
                proc_cgroup = fh.read()
    except OSError:
        return CgroupLayout()
    v2_path, v1_paths = own_paths(proc_cgroup)
    v2_mount = v2_base = None
    v2_root = "/"
    v1: dict[str, str] = {}
    for root, point, fstype, options in _mounts(mountinfo):
        if fstype == "cgroup2" and v2_mount is None:
            v2_mount, v2_root = point, root
            v2_base = _join(root, point, v2_path) if v2_path is not None else point
        elif fstype == "cgroup":
            for name in LIMIT_CONTROLLERS:
                if name in options and name in v1_paths and name not in v1:
                    v1[name] = _join(root, point, v1_paths[name])
    return CgroupLayout(v2_mount=v2_mount, v2_base=v2_base, v1=v1, v2_root=v2_root)


def read_small(path: str) -> bytes:
    """A small kernel file's bytes (cgroup.procs, cgroup.events, /proc/PID/cgroup); OSError if not.

    Why not ``open()``: a buffered open is nine system calls (fstat, ioctl,
    lseek...), this is three or four, and each releases the GIL. On the kill
    path a CPU-bound thread (the audit writer) takes the GIL at every release,
    and the loop waits up to a switch interval to get it back.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 4096)
        if len(data) < 4096:  # a seq_file read fills the buffer unless it is at the end
            return data
        chunks = [data]
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_flat(path: str) -> dict[str, int]:
    """A flat-keyed cgroup file (``populated 1``, ``oom_kill 3``) as a dict; {} if unreadable."""
    values: dict[str, int] = {}
    try:
        text = read_small(path)
    except OSError:
        return values
    for line in text.splitlines():
        key, _, value = line.partition(b" ")
        try:
            values[key.decode()] = int(value)
        except ValueError:
            continue
    return values


def controllers_of(directory: str, name: str = "cgroup.controllers") -> set[str]:
    """The controllers a v2 cgroup has (or enables for its children, with subtree_control)."""
    try:
        with open(os.path.join(directory, name), encoding="ascii") as fh:
            return set(fh.read().split())
    except OSError:
        return set()


def write_file(path: str, value: str) -> None:
    """Write one value to a cgroup file (raises OSError, as the kernel answers)."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)
