"""The audit guard: while the audit log cannot be written, no agent runs.

The store says the moment a write fails (``store.health``: disk full,
database deleted or replaced, locked past its busy timeout, read-only, a
write that does not return) and the guard, in that same step:

* freezes every live agent through its containment's pause
  (``cgroup.freeze`` where the agent has a cgroup, SIGSTOP to its tree where
  not), and every agent born while the trouble lasts the moment it is
  spawned: nothing happens that the log cannot hold;
* publishes ``audit_failed``, which every surface shows at once (and the
  log records once it takes it);
* refuses an operator's resume while the trouble lasts;
* stops the swarm through the supervisor's stop path once the trouble has
  lasted ``[swarm] audit_grace_seconds``.

When the log is sound again (``store.health``: written, its reserve held
again) the guard thaws what it froze, except what an operator paused
meanwhile or what is being stopped, and publishes ``audit_recovered``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from controlroom._errors import AuditError, ControlError
from controlroom.models import AgentState, AuditFailed, AuditRecovered, EventBase
from controlroom.swarm.runner import AgentRunner

__all__ = ["AuditEmergency", "AuditGuard"]


@dataclass
class AuditEmergency:
    """The audit log cannot be written: why, since when, whom it froze, when the swarm stops."""

    reason: str
    since: float  # the supervisor's clock
    grace_seconds: float
    frozen: list[str] = field(default_factory=list)
    stopping: bool = False

    def stops_in(self, now: float) -> float:
        return max(0.0, self.since + self.grace_seconds - now)


class AuditGuard:
    """Freezes the swarm while its audit log fails; thaws it, or stops it after the grace."""

    def __init__(
        self,
        runners: Mapping[str, AgentRunner],
        publish: Callable[[EventBase], object],
        stop: Callable[[str], None],
        grace_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self._runners = runners
        self._publish = publish
        self._stop = stop
        self._grace = grace_seconds
        self._clock = clock
        self.emergency: AuditEmergency | None = None
        self.stopped_for: str | None = None  # why the guard stopped the swarm, if it did

    # ------------------------------------------------------------------ the store says

    def store_health(self, error: AuditError | None) -> None:
        """The store's watcher: trouble began (or changed why), or it ended."""
        if error is None:
            self._recovered()
        elif self.emergency is not None:
            self.emergency.reason = str(error)
        else:
            self._failing(str(error))

    def _failing(self, reason: str) -> None:
        emergency = AuditEmergency(reason, self._clock(), self._grace)
        self.emergency = emergency
        for runner in self._runners.values():
            if self._freeze(runner):
                emergency.frozen.append(runner.name)
        self._publish(
            AuditFailed(reason=reason, frozen=list(emergency.frozen), grace_seconds=self._grace)
        )

    def _recovered(self) -> None:
        emergency, self.emergency = self.emergency, None
        if emergency is None:
            return
        thawed = []
        for name in emergency.frozen:
            runner = self._runners.get(name)
            process = runner.process if runner is not None else None
            if runner is None or process is None or not runner.alive:
                continue
            if runner.state == AgentState.PAUSED:
                continue  # an operator paused it meanwhile: it stays paused
            process.resume()
            thawed.append(name)
        failed = round(max(0.0, self._clock() - emergency.since), 3)
        self._publish(AuditRecovered(failed_seconds=failed, thawed=thawed))

    # ------------------------------------------------------------------ the swarm asks

    def spawned(self, runner: AgentRunner) -> None:
        """An agent was just born: frozen at once while the log cannot be written."""
        if self.emergency is not None and self._freeze(runner):
            self.emergency.frozen.append(runner.name)

    def check_resume(self, agent: str) -> None:
        """Refuse to thaw an agent while nothing it does could be audited."""
        if self.emergency is not None:
            raise ControlError(
                f"agent {agent!r} stays frozen: the audit log cannot be written "
                f"({self.emergency.reason})"
            )

    def tick(self) -> None:
        """Stop the swarm once the trouble has outlasted the grace."""
        emergency = self.emergency
        if emergency is None or emergency.stopping:
            return
        now = self._clock()
        if emergency.stops_in(now) > 0:
            return
        emergency.stopping = True
        self.stopped_for = (
            f"the audit log could not be written for {now - emergency.since:.1f} s: "
            f"{emergency.reason}"
        )
        self._stop(self.stopped_for)

    # ------------------------------------------------------------------ helpers

    def _freeze(self, runner: AgentRunner) -> bool:
        process = runner.process
        if process is None or not runner.alive or runner.state == AgentState.PAUSED:
            return False
        process.pause()
        return True
