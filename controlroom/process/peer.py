"""Who connected to a unix socket, as the kernel says, or that it cannot be said.

The control room's channels decide who may do what from the connecting
process alone, so this answer must fail closed. ``SO_PEERCRED`` gives the
uid and the pid that called ``connect()``; but that process may be gone by
the time we look (an agent connects in a forked child that exits at once,
then uses the socket itself), and its pid may even be someone else's by
then. So the peer is pinned first: ``SO_PEERPIDFD`` (Linux 6.5) is a pidfd
of exactly the process that connected, else ``pidfd_open`` of its pid. Then
its ancestry, cgroup and marker are read from ``/proc``, and only if the
pidfd still says "running" afterwards was all of that read from the peer
itself (a live process keeps its pid). A peer that is gone, a zombie, or
whose ancestry cannot be read is ``alive=False``: never anybody's.

Which agent a live peer belongs to: its cgroup, when the run has cgroups
(``<run's cgroup>/agent-<name>``: a process cannot leave it without write
access to the cgroup tree, read-only under the sandbox); else the
environment marker of this run (``CONTROLROOM_RUN``/``CONTROLROOM_AGENT``).
It is on the agents' side if either says so, or if it descends from the
control room (a child subreaper: an agent's orphans stay its descendants).
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
from dataclasses import dataclass

from controlroom.process.cgroup import cgroup_of
from controlroom.process.marker import AGENT_KEY, RUN_KEY

__all__ = ["PeerIdentity", "identify_peer"]

_SO_PEERPIDFD = getattr(socket, "SO_PEERPIDFD", 77)  # Linux 6.5; Python 3.12 names it
_MAX_DEPTH = 4096


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """The connecting process as far as the kernel vouches for it."""

    pid: int
    uid: int
    gid: int
    alive: bool  # it was still running once everything below was read
    agent_side: bool  # it descends from the control room, or is in an agent's cgroup or marked
    agent: str | None  # whose it is: the cgroup's agent, else the marker's (None: nobody's known)
    why: str = ""  # when not alive: what could not be established

    @property
    def operator(self) -> bool:
        """Positively not an agent: alive and outside every agent's tree, cgroup and marker."""
        return self.alive and not self.agent_side


def identify_peer(sock: socket.socket, *, run_id: str, cgroup: str | None) -> PeerIdentity:
    """The identity of ``sock``'s peer; ``cgroup`` is the run's (None: no cgroups this run)."""
    pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    if pid <= 0:  # another pid namespace the kernel cannot map into ours
        return PeerIdentity(pid, uid, gid, False, True, None, "its pid is not visible here")
    pidfd = _pin(sock, pid)
    if pidfd is None:
        return PeerIdentity(pid, uid, gid, False, True, None, "the process that connected is gone")
    try:
        try:
            descends: bool | None = _descends_from(pid, os.getpid())
        except (OSError, ValueError, IndexError):  # a parent vanished mid-walk, or a torn read
            descends = None
        group = cgroup_of(pid)
        marked, named = _marker(pid, run_id)
        gone = _exited(pidfd)
    finally:
        os.close(pidfd)
    if gone or descends is None:
        why = "the process that connected is gone" if gone else "its ancestry cannot be read"
        return PeerIdentity(pid, uid, gid, False, True, None, why)
    in_run_cgroup = cgroup is not None and group is not None and _under(group, cgroup)
    agent = _cgroup_agent(group, cgroup) or named
    return PeerIdentity(pid, uid, gid, True, descends or in_run_cgroup or marked, agent)


def _pin(sock: socket.socket, pid: int) -> int | None:
    """A pidfd of the peer, or None when it has already exited."""
    try:
        return sock.getsockopt(socket.SOL_SOCKET, _SO_PEERPIDFD)
    except OSError as exc:
        # EINVAL (6.5 to 6.15) or ESRCH: the process that connected is gone. Only a
        # kernel that does not know the option (ENOPROTOOPT) falls back to the pid.
        if exc.errno != errno.ENOPROTOOPT:
            return None
    try:  # before Linux 6.5: the pid may be a reused one by now, checked below as can be
        return os.pidfd_open(pid)
    except OSError:
        return None


def _exited(pidfd: int) -> bool:
    """A pidfd polls readable once its process has exited (a zombie included)."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def _descends_from(pid: int, ancestor: int) -> bool:
    """Is ``pid`` a child, grandchild, … of ``ancestor``? Raises when the chain cannot be read."""
    seen = 0
    while pid > 1 and seen < _MAX_DEPTH:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        ppid = int(data[data.rindex(b")") + 2 :].split()[1])
        if ppid == ancestor:
            return True
        pid = ppid
        seen += 1
    return False


def _marker(pid: int, run_id: str) -> tuple[bool, str | None]:
    """Does ``pid`` carry this run's marker, and which agent does it name?"""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            entries = f.read().split(b"\0")
    except OSError:
        return False, None
    env = dict(e.split(b"=", 1) for e in entries if b"=" in e)
    if env.get(RUN_KEY.encode()) != run_id.encode():
        return False, None
    name = env.get(AGENT_KEY.encode())
    return True, name.decode(errors="replace") if name else None


def _under(group: str, parent: str) -> bool:
    return group == parent or group.startswith(parent.rstrip("/") + "/")


def _cgroup_agent(group: str | None, run_cgroup: str | None) -> str | None:
    """``<run>/agent-<name>[/…]`` → ``name``; anything else → None."""
    if group is None or run_cgroup is None or not _under(group, run_cgroup):
        return None
    leaf = group[len(run_cgroup.rstrip("/")) + 1 :].split("/", 1)[0]
    return leaf.removeprefix("agent-") if leaf.startswith("agent-") else None
