"""The run's cgroups: made under the control room's own, with what each limit is enforced by.

``RunCgroups.create`` makes ``<the control room's own v2 cgroup>/controlroom-<run>``
(and the same under each v1 hierarchy that carries a limit controller the v2
tree lacks: a hybrid host), enables the limit controllers the v2 tree
delegates, and says how each limit is enforced, or why not
(``limits_via``); ``RunCgroups.agent`` makes one agent's cgroup
(``cgroup.py``) with its limits written. Where no v2 cgroup can be made it
raises ``CgroupUnavailable`` with the reason the operator reads.
"""

from __future__ import annotations

import os

from controlroom.models import Limits
from controlroom.process.cgroup import AgentCgroup, rmdir
from controlroom.process.cgroupfs import (
    LIMIT_CONTROLLERS,
    CgroupLayout,
    controllers_of,
    layout,
    write_file,
)

__all__ = ["CgroupUnavailable", "RunCgroups", "run_cgroup_name"]


class CgroupUnavailable(Exception):
    """No cgroup could be made for this run; ``str()`` says why, for the operator."""


def run_cgroup_name(run_id: str) -> str:
    return f"controlroom-{run_id}"


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
                rmdir(v2_dir)
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
        """The agent's cgroup, made on first use (a restart reuses it), with its limits set.

        Called off the event loop (a worker thread): ``agents`` gains its entry
        in one step, and readers on the loop take a snapshot of it.
        """
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
        busy = [g.path for g in list(self.agents.values()) if not g.remove()]
        for path in self.dirs():
            rmdir(path, attempts=1 if busy else 20)
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
