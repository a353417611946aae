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

Layout: ``<the control room's own v2 cgroup>/controlroom-<run>/agent-<name>``,
and the same under each v1 hierarchy that carries a limit controller the v2
tree lacks (a hybrid host). ``RunCgroups.create`` makes the run's level and
says how each limit is enforced; ``RunCgroups.agent`` makes one agent's.
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
    LIMIT_CONTROLLERS,
    CgroupLayout,
    controllers_of,
    layout,
    read_flat,
    write_file,
)

__all__ = ["AgentCgroup", "CgroupUnavailable", "RunCgroups", "cgroup_of", "run_cgroup_name"]

_CPU_PERIOD_USEC = 100_000
_SAFETY_POLL_SECONDS = 0.05  # re-read cgroup.events this often even without a notification


class CgroupUnavailable(Exception):
    """No cgroup could be made for this run; ``str()`` says why, for the operator."""


def run_cgroup_name(run_id: str) -> str:
    return f"controlroom-{run_id}"


def _rmdir(path: str, attempts: int = 20) -> bool:
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


class RunCgroups:
    """The run's own cgroups, parents of one cgroup per agent."""

    def __init__(
        self, v2_dir: str, v1_dirs: dict[str, str], limits_via: dict[str, str], name: str
    ) -> None:
        self.path = v2_dir
        self.name = name  # the v2 cgroup path, as /proc/<pid>/cgroup names it
        self.v1_dirs = v1_dirs
        self.limits_via = limits_via  # controller -> how it is enforced, or why not
        self.v2_controllers = controllers_of(v2_dir, "cgroup.subtree_control")
        self.agents: dict[str, AgentCgroup] = {}

    @classmethod
    def create(cls, run_id: str, found: CgroupLayout | None = None) -> RunCgroups:
        """Make ``controlroom-<run>`` under the control room's own cgroup (and v1 hierarchies).

        Raises ``CgroupUnavailable`` naming the reason when no v2 cgroup can
        be made (no cgroup2 mount, no write permission, a kernel without
        ``cgroup.kill``). Limit controllers are best effort: each one is
        enforced through v2, else through a v1 hierarchy, else not at all,
        and ``limits_via`` says which.
        """
        found = layout() if found is None else found
        if found.v2_base is None:
            raise CgroupUnavailable("no cgroup v2 file system is mounted")
        v2_dir = os.path.join(found.v2_base, run_cgroup_name(run_id))
        try:
            os.mkdir(v2_dir)
        except OSError as exc:
            raise CgroupUnavailable(f"{found.v2_base}: {exc.strerror or exc}") from None
        for needed, why in (("cgroup.kill", "Linux 5.14"), ("cgroup.freeze", "Linux 5.2")):
            if not os.path.exists(os.path.join(v2_dir, needed)):
                _rmdir(v2_dir)
                raise CgroupUnavailable(f"the kernel has no {needed} (needs {why})")
        via = _enable_v2_controllers(v2_dir, found.v2_base)
        v1_dirs: dict[str, str] = {}
        for name in LIMIT_CONTROLLERS:
            if via.get(name) == "cgroup v2":
                continue
            if name in found.v1:
                path = os.path.join(found.v1[name], run_cgroup_name(run_id))
                try:
                    os.mkdir(path)
                except OSError as exc:
                    via[name] = f"unavailable: {path}: {exc.strerror or exc}"
                    continue
                v1_dirs[name] = path
                via[name] = f"cgroup v1 at {found.v1[name]}"
            else:
                via.setdefault(name, f"unavailable: no {name} controller in cgroup v2 or v1")
        return cls(v2_dir, v1_dirs, via, found.v2_name(v2_dir))

    def dirs(self) -> list[str]:
        """Every directory this run made (v2 first): what the next start cleans after a crash."""
        return [self.path, *self.v1_dirs.values()]

    def agent(self, name: str, limits: Limits) -> AgentCgroup:
        """The agent's cgroup, made on first use (a restart reuses it), with its limits set."""
        group = self.agents.get(name)
        if group is None:
            leaf = f"agent-{name}"
            v1 = {c: os.path.join(d, leaf) for c, d in self.v1_dirs.items()}
            for path in (os.path.join(self.path, leaf), *v1.values()):
                os.makedirs(path, exist_ok=True)
            group = AgentCgroup(
                os.path.join(self.path, leaf), f"{self.name}/{leaf}", v1, self.v2_controllers
            )
            self.agents[name] = group
        group.set_limits(limits)
        return group

    def unenforced(self, limits: Limits) -> list[str]:
        """The configured limits of ``limits`` this run cannot enforce, with why."""
        wanted = {"memory": limits.memory_max, "pids": limits.pids_max, "cpu": limits.cpu_max}
        return [
            f"{name}_max: {self.limits_via[name]}"
            for name, value in wanted.items()
            if value is not None and self.limits_via.get(name, "").startswith("unavailable")
        ]

    def remove(self) -> list[str]:
        """Remove every agent's cgroup and the run's; returns those still holding processes."""
        busy = [g.path for g in self.agents.values() if not g.remove()]
        for path in self.dirs():
            _rmdir(path, attempts=1 if busy else 20)
        return busy


def _enable_v2_controllers(run_dir: str, base: str) -> dict[str, str]:
    """Turn on the limit controllers the run's cgroup has for its agents; say how each went."""
    via: dict[str, str] = {}
    available = controllers_of(run_dir) & set(LIMIT_CONTROLLERS)
    for name in LIMIT_CONTROLLERS:
        if name not in available and name in controllers_of(base):
            via[name] = (
                f"unavailable: {base} has {name} but does not enable it for its children "
                "(its cgroup.subtree_control; e.g. a systemd unit with Delegate=yes)"
            )
    if available:
        try:
            write_file(
                os.path.join(run_dir, "cgroup.subtree_control"),
                " ".join(f"+{name}" for name in sorted(available)),
            )
        except OSError as exc:
            for name in available:
                via[name] = f"unavailable: {run_dir}: {exc.strerror or exc}"
            return via
        via.update({name: "cgroup v2" for name in available})
    return via


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
            with open(os.path.join(self.path, "cgroup.procs"), "rb") as fh:
                return [int(pid) for pid in fh.read().split()]
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
            with open(self._file(name, "memory"), "rb") as fh:
                return int(fh.read())
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
        write_file(os.path.join(self.path, "cgroup.freeze"), "1" if frozen else "0")

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
        ok = _rmdir(self.path)
        for folder in self.v1_dirs.values():
            ok = _rmdir(folder) and ok
        return ok


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
        with open(f"/proc/{pid}/cgroup", "rb") as fh:
            lines = fh.read().splitlines()
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
