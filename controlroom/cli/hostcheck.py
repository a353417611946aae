"""What this machine gives a run of a config: its containment, and the sandbox if asked for.

Part of ``controlroom check``: it makes and removes a cgroup as a run would
(``RunContainment``), and runs bubblewrap once when an agent asks for a
sandbox, so what it says is what a run would meet. A ``containment =
"cgroup"`` that cannot be met, or a sandbox that cannot be made, fails the
check: a run would refuse to start those agents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controlroom.models import SwarmConfig

__all__ = ["HostReport", "probe_host"]


@dataclass
class HostReport:
    """The containment line, the limits not enforced, and the sandbox verdict."""

    containment: str
    mode: str | None
    reason: str
    limits: dict[str, str] = field(default_factory=dict)
    unenforced: dict[str, list[str]] = field(default_factory=dict)
    sandboxed: list[str] = field(default_factory=list)
    sandbox: str = ""  # bubblewrap's version and path, or why it cannot run
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [self.containment]
        for agent, problems in self.unenforced.items():
            out += [f"  {agent}: {p} (not enforced)" for p in problems]
        if self.sandboxed:
            verdict = "refused: " if "sandbox" in " ".join(self.problems) else ""
            out.append(f"sandbox ({', '.join(self.sandboxed)}): {verdict}{self.sandbox}")
        return out

    def record(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "reason": self.reason,
            "limits": self.limits,
            "unenforced": self.unenforced,
            "sandboxed": self.sandboxed,
            "sandbox": self.sandbox,
            "problems": self.problems,
        }


def probe_host(cfg: SwarmConfig) -> HostReport:
    from controlroom._errors import AgentError
    from controlroom.process.runcontain import RunContainment
    from controlroom.process.sandbox import probe_bwrap

    try:
        contained = RunContainment.open(cfg.swarm.containment, f"check-{os.getpid()}")
    except AgentError as exc:
        report = HostReport(f"containment: refused: {exc}", None, str(exc), problems=[str(exc)])
    else:
        contained.close()
        event = contained.event([])
        report = HostReport(
            contained.describe().replace(f"check-{os.getpid()}", "<run>"),
            event.mode,
            event.reason,
            limits=event.limits,
            unenforced={
                spec.name: problems
                for spec in cfg.agents
                if (problems := contained.unenforced(spec.limits))
            },
        )
    report.sandboxed = [spec.name for spec in cfg.agents if spec.sandbox != "off"]
    if report.sandboxed:
        ok, report.sandbox = probe_bwrap()
        if not ok:
            report.problems.append(f"sandbox: {report.sandbox}")
    return report
