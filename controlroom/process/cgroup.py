"""One cgroup per agent: made, limited, frozen, killed and removed through the kernel's files.

Why cgroups: a process that double-forks and calls ``setsid`` leaves every
tree, group and session an agent had, and one that forks faster than a walk
can outrun the walk; but it cannot leave its cgroup (only a writer to the
cgroup tree can move it, and under the sandbox that tree is read-only). So
the kernel answers the questions the tree walk guessed at: which processes
are the agent's (``cgroup.procs``), kill them all (``cgroup.kill``), is any
left (``cgroup.events``: ``populated 0`` is the proof), stop them all at once
(``cgroup.freeze``), what they use (``cpu.stat``, ``memory.current``), and
did a limit bite (``memory.events``, ``pids.events``).

One agent's cgroup is ``<run's cgroup>/agent-<name>`` in v2, and the same
under each v1 hierarchy that carries a limit controller the v2 tree lacks (a
hybrid host); ``runcgroups.py`` makes the run's level and the agents'.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import time
from collections.abc import Callable

from controlroom.models import Limits
from controlroom.process.cgroupfs import (
    read_flat,
    read_small,
    write_file,
)

__all__ = ["AgentCgroup", "cgroup_of", "rmdir"]

_CPU_PERIOD_USEC = 100_000
_SAFETY_POLL_SECONDS = 0.05  # re-read cgroup.events this often even without a notification


def rmdir(path: str, attempts: int = 20) -> bool:
    """Remove an empty cgroup; a v1 cgroup may stay busy a moment after its last exit."""
    for _ in range(attempts):
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.005)
    return False


class AgentCgroup:
    """One agent's cgroup: its v2 directory, and its directories in v1 limit hierarchies."""

    def __init__(
        self, path: str, name: str, v1_dirs: dict[str, str], v2_controllers: set[str]
    ) -> None:
        self.path = path
        self.name = name  # as /proc/<pid>/cgroup names it
        self.v1_dirs = v1_dirs
        self.v2_controllers = v2_controllers
        self.limits = Limits()
        self.frozen = _asked_frozen(path)  # kept by ``freeze`` (only we write the file)
        self._cpu_seen: tuple[int, float] | None = None  # usage_usec at monotonic time

    # ------------------------------------------------------------------ joining

    def open_procs(self) -> list[int]:
        """Write ends of every ``cgroup.procs``, opened by the parent before it forks."""
        fds: list[int] = []
        try:
            for folder in (self.path, *self.v1_dirs.values()):
                path = os.path.join(folder, "cgroup.procs")
                fds.append(os.open(path, os.O_WRONLY | os.O_CLOEXEC))
        except OSError:
            for fd in fds:
                os.close(fd)
            raise
        return fds

    @staticmethod
    def joiner(fds: list[int]) -> Callable[[], None]:
        """A pre-exec step: the forked child moves itself into the cgroups before it execs.

        Writing ``0`` moves the writer: the agent's first instruction already
        runs inside, and everything it starts is born there. A failed write
        raises, so the child never execs outside its cgroup.
        """

        def join() -> None:
            for fd in fds:
                os.write(fd, b"0")

        return join

    # ------------------------------------------------------------------ reading

    def _file(self, name: str, controller: str | None = None) -> str:
        if controller is not None and controller not in self.v2_controllers:
            return os.path.join(self.v1_dirs[controller], name)
        return os.path.join(self.path, name)

    def pids(self) -> list[int]:
        """The processes in the cgroup now (zombies excluded: they left at exit)."""
        try:
            return [int(pid) for pid in read_small(os.path.join(self.path, "cgroup.procs")).split()]
        except OSError:
            return []

    def events(self) -> dict[str, int]:
        return read_flat(os.path.join(self.path, "cgroup.events"))

    def populated(self) -> bool:
        return self.events().get("populated", 0) == 1

    def cpu_usec(self) -> int:
        """CPU time used by every process that ever ran in the cgroup (v2 ``cpu.stat``)."""
        return read_flat(os.path.join(self.path, "cpu.stat")).get("usage_usec", 0)

    def cpu_percent(self) -> float:
        """Percent of one core since the previous call (the first call says 0)."""
        usage, now = self.cpu_usec(), time.monotonic()
        seen, self._cpu_seen = self._cpu_seen, (usage, now)
        if seen is None or now <= seen[1]:
            return 0.0
        return max(0.0, (usage - seen[0]) / 1e6 / (now - seen[1]) * 100)

    def memory_bytes(self) -> int | None:
        """Memory charged to the cgroup, when a memory controller counts it (else None)."""
        if "memory" in self.v2_controllers:
            name = "memory.current"
        elif "memory" in self.v1_dirs:
            name = "memory.usage_in_bytes"
        else:
            return None
        try:
            return int(read_small(self._file(name, "memory")))
        except (OSError, ValueError):
            return None

    def strikes(self) -> dict[str, int]:
        """How often each limit bit so far: ``memory_max`` OOM kills, ``pids_max`` refused forks."""
        found: dict[str, int] = {}
        if self.limits.memory_max is not None and self._has("memory"):
            name = "memory.events" if "memory" in self.v2_controllers else "memory.oom_control"
            found["memory_max"] = read_flat(self._file(name, "memory")).get("oom_kill", 0)
        if self.limits.pids_max is not None and self._has("pids"):
            found["pids_max"] = read_flat(self._file("pids.events", "pids")).get("max", 0)
        return found

    def _has(self, controller: str) -> bool:
        return controller in self.v2_controllers or controller in self.v1_dirs

    # ------------------------------------------------------------------ limits

    def set_limits(self, limits: Limits) -> None:
        """Write the limits (``max`` where unset) to whichever hierarchy holds each controller."""
        self.limits = limits
        v2 = self.v2_controllers
        if self._has("memory"):
            mem = limits.memory_max
            if "memory" in v2:
                write_file(self._file("memory.max"), "max" if mem is None else str(mem))
            else:
                write_file(self._file("memory.limit_in_bytes", "memory"), str(mem or -1))
        if self._has("pids"):
            value = "max" if limits.pids_max is None else str(limits.pids_max)
            write_file(self._file("pids.max", "pids"), value)
        if self._has("cpu"):
            quota = -1 if limits.cpu_max is None else round(limits.cpu_max * _CPU_PERIOD_USEC)
            if "cpu" in v2:
                value = f"{'max' if quota < 0 else quota} {_CPU_PERIOD_USEC}"
                write_file(self._file("cpu.max"), value)
            else:
                write_file(self._file("cpu.cfs_period_us", "cpu"), str(_CPU_PERIOD_USEC))
                write_file(self._file("cpu.cfs_quota_us", "cpu"), str(quota))

    # ------------------------------------------------------------------ acting

    def freeze(self, frozen: bool) -> None:
        """Freeze or thaw the whole cgroup; ``frozen`` remembers what was asked last."""
        if frozen:
            self.frozen = True  # before the write: a failed one may still have frozen it
        write_file(os.path.join(self.path, "cgroup.freeze"), "1" if frozen else "0")
        self.frozen = frozen

    def kill(self) -> None:
        """SIGKILL every process in the cgroup, atomically (forks in flight included)."""
        write_file(os.path.join(self.path, "cgroup.kill"), "1")

    async def wait_for(self, key: str, value: int, timeout: float) -> bool:
        """Until ``cgroup.events`` says ``key value`` (``populated 0``, ``frozen 1``), or timeout.

        The kernel notifies a change of ``cgroup.events`` as a priority event
        on the open file: an epoll set watching for it is handed to the event
        loop, so the wait wakes on the change, not on a polling tick.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            fd = os.open(os.path.join(self.path, "cgroup.events"), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return key == "populated" and value == 0
        watch = select.epoll()
        woke = asyncio.Event()
        try:
            watch.register(fd, select.EPOLLPRI)
            loop.add_reader(watch.fileno(), woke.set)
            try:
                while True:
                    current = _parse_events(os.pread(fd, 256, 0))
                    if current.get(key) == value:
                        return True
                    left = deadline - loop.time()
                    if left <= 0:
                        return False
                    woke.clear()
                    watch.poll(0)
                    try:
                        await asyncio.wait_for(woke.wait(), min(left, _SAFETY_POLL_SECONDS))
                    except TimeoutError:
                        pass
            finally:
                loop.remove_reader(watch.fileno())
        finally:
            watch.close()
            os.close(fd)

    def signal_members(self, sig: int, already: set[int]) -> int:
        """Send ``sig`` (and SIGCONT) to every member not in ``already``; returns how many.

        Each pid is pinned with a pidfd and checked to still be in this
        cgroup before the signal, so a pid recycled since ``cgroup.procs``
        was read is never hit.
        """
        sent = 0
        for pid in self.pids():
            if pid in already:
                continue
            already.add(pid)
            if _signal_member(pid, self.name, sig):
                sent += 1
        return sent

    def remove(self) -> bool:
        """Remove the (empty) cgroup from every hierarchy; False if processes still hold it."""
        if self.populated():
            return False
        ok = rmdir(self.path)
        for folder in self.v1_dirs.values():
            ok = rmdir(folder) and ok
        return ok


def _asked_frozen(path: str) -> bool:
    """Whether ``cgroup.freeze`` asks for a freeze now (True where it cannot be read: thaw it)."""
    try:
        with open(os.path.join(path, "cgroup.freeze"), "rb") as fh:
            return fh.read().strip() != b"0"
    except OSError:
        return True


def _parse_events(raw: bytes) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in raw.splitlines():
        key, _, value = line.partition(b" ")
        if value.isdigit():
            values[key.decode()] = int(value)
    return values


def cgroup_of(pid: int) -> str | None:
    """The v2 cgroup ``pid`` is in (a zombie: was in), as a cgroup path; None if unknown."""
    try:
        lines = read_small(f"/proc/{pid}/cgroup").splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(b"0::"):
            return line[3:].decode(errors="replace").removesuffix(" (deleted)")
    return None


def _signal_member(pid: int, name: str, sig: int) -> bool:
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        if cgroup_of(pid) != name:
            return False
        signal.pidfd_send_signal(pidfd, sig)
        if sig != signal.SIGCONT:
            signal.pidfd_send_signal(pidfd, signal.SIGCONT)
        return True
    except OSError:
        return False
    finally:
        os.close(pidfd)
