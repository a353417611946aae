"""How a run contains its agents, decided once at its start, and said out loud.

``RunContainment.open`` follows ``[swarm] containment``: ``auto`` makes the
run's cgroups where it can and falls back to the process tree (tree walk plus
the environment marker) where it cannot; ``cgroup`` refuses to start
without; ``process-tree`` never makes one. Either way ``describe()`` gives
the one line the operator reads at every start and in ``controlroom check``:
``containment: cgroup v2 at …`` or ``containment: process tree (no writable
cgroup: …)``.
"""

from __future__ import annotations

from controlroom._errors import AgentError
from controlroom.models import AgentSpec, Containment, ContainmentReady, Limits
from controlroom.process.cgroup import AgentCgroup
from controlroom.process.contain import reap_adopted
from controlroom.process.runcgroups import CgroupUnavailable, RunCgroups
from controlroom.text import describe_containment

__all__ = ["RunContainment"]


class RunContainment:
    """The run's choice: its cgroups (``cgroups`` set) or the process tree, and why."""

    def __init__(self, cgroups: RunCgroups | None, reason: str) -> None:
        self.cgroups = cgroups
        self.reason = reason

    @classmethod
    def open(cls, setting: Containment, run_id: str) -> RunContainment:
        """Make the run's cgroups unless told not to; ``AgentError`` if required but impossible."""
        if setting == "process-tree":
            return cls(None, 'containment = "process-tree" in the config')
        try:
            return cls(RunCgroups.create(run_id), "")
        except CgroupUnavailable as exc:
            if setting == "cgroup":
                raise AgentError(
                    f'containment = "cgroup" but no cgroup can be made: {exc}'
                ) from None
            return cls(None, f"no writable cgroup: {exc}")

    @property
    def mode(self) -> str:
        return "process-tree" if self.cgroups is None else "cgroup"

    def describe(self) -> str:
        """``containment: cgroup v2 at … (limits: …)`` or ``containment: process tree (…)``."""
        return describe_containment(self.event([]))

    def event(self, cleaned: list[str]) -> ContainmentReady:
        cgroups = self.cgroups
        return ContainmentReady(
            mode="process-tree" if cgroups is None else "cgroup",
            path="" if cgroups is None else cgroups.path,
            reason=self.reason,
            limits={} if cgroups is None else dict(cgroups.limits_via),
            cgroups=[] if cgroups is None else cgroups.dirs(),
            cleaned=cleaned,
        )

    def agent_cgroup(self, spec: AgentSpec) -> AgentCgroup | None:
        """The agent's cgroup with its limits written (None under the process tree)."""
        if self.cgroups is None:
            return None
        try:
            return self.cgroups.agent(spec.name, spec.limits)
        except OSError as exc:
            raise AgentError(
                f"agent {spec.name!r}: cannot prepare its cgroup under {self.cgroups.path}: "
                f"{exc.strerror or exc}"
            ) from None

    def unenforced(self, limits: Limits) -> list[str]:
        """Configured limits that nothing here enforces, each with why."""
        if limits.is_empty():
            return []
        if self.cgroups is None:
            names = [n for n, v in limits.model_dump().items() if v is not None]
            return [f"{name}: {self.reason}" for name in names]
        return self.cgroups.unenforced(limits)

    def reap(self) -> int:
        """Reap the agents' orphans that died (once per sampling round, off the loop)."""
        if self.cgroups is None:
            return 0
        # a snapshot (taken at once): an agent's cgroup may be added meanwhile off the loop
        groups = list(self.cgroups.agents.values())
        return reap_adopted([g.name for g in groups])

    def close(self) -> list[str]:
        """Remove the run's cgroups; returns those still holding processes (kept)."""
        return [] if self.cgroups is None else self.cgroups.remove()
