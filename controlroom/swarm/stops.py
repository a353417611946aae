"""The one stop path: how an agent is stopped, whoever asks (operator, governor, breaker).

A stop takes effect the moment it is asked for: ``begin`` marks the runner
as stopping synchronously, so from then on it spawns nothing (a launch not
yet spawned, a restart, a retry all end there). When the agent's process is
there (no spawn in flight), ``begin`` also records ``kill_requested`` and
takes the kill's first step (SIGTERM, a frozen agent thawed) in the same
call: a task hop would put the signal behind whatever the loop has queued
(a flood's rounds: 20 to 50 ms at load 8). The record is appended, not
awaited: it precedes the signal in the log's order and is committed before
the kill is reported done (``kill_completed`` is durable), which is the
rule; the agent stays frozen while the writer fails (the audit guard).
The rest of the kill runs as a task of its own, which no caller's
cancellation can abandon halfway: it waits for a spawn in flight (so that
process is killed, never missed) and then records and strikes as above,
waits out the grace, escalates, and commits ``kill_completed`` once the kill
is verified. A runner that has no process (nor anything it left behind) gets
no kill events: its state change says it was stopped. ``sweep`` kills what
an agent that exited left running (daemons) the same way.

A second stop with an explicit grace (the operator's "kill now": grace 0)
hurries the kill in flight: its grace period ends then and SIGKILL follows;
the hurry is recorded first, as an ``operator_action``. ``idle()`` returns
once no kill is in flight (the governor's and breaker's included, which the
supervisor starts with ``begin``): it waits for that before the run ends,
so every ``kill_completed`` is committed before the store can close.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass

from controlroom.models import AgentState, KillCompleted, KillRequested, OperatorAction
from controlroom.process.contain import Termination
from controlroom.process.kill import KillReport
from controlroom.swarm.bus import EventBus
from controlroom.swarm.runner import AgentRunner

__all__ = ["KillTally", "StopPath"]

_FINISH_SECONDS = 2.0  # how long a kill waits for the runner to take its final state

Reports = dict[str, KillReport | None]


@dataclass(slots=True)
class KillTally:
    """An agent's verified kills so far and the time they took (read by the metrics)."""

    count: int = 0
    seconds: float = 0.0
    last_seconds: float = 0.0

    def add(self, report: KillReport) -> None:
        self.count += 1
        self.last_seconds = report.duration_ms / 1000
        self.seconds += self.last_seconds


class StopPath:
    """Stops agents, one way; knows which kills are still in flight."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._kills: dict[asyncio.Task[KillReport | None], str] = {}
        self.tallies: dict[str, KillTally] = {}  # per agent, kept only for agents killed

    def in_flight(self, runner: AgentRunner) -> bool:
        return runner.name in self._kills.values()

    def begin(
        self,
        runner: AgentRunner,
        final_state: AgentState,
        by: str,
        reason: str,
        grace: float | None = None,
    ) -> asyncio.Future[KillReport | None]:
        """Stop ``runner`` now; the future is its kill (None: there was nothing to kill)."""
        if not runner.request_stop(final_state, reason):
            if grace is not None:
                self._hurry(runner, by, reason, grace)
            nothing: asyncio.Future[KillReport | None] = asyncio.get_running_loop().create_future()
            nothing.set_result(None)
            return nothing
        first = self._first_step(runner, by, reason, grace)
        return self._track(runner, self._kill(runner, by, reason, grace, first, stopping=True))

    def sweep(self, runner: AgentRunner, reason: str) -> asyncio.Task[KillReport | None]:
        """Kill what ``runner`` left running when it exited (daemons): recorded, hurried alike."""
        first = self._first_step(runner, "controlroom", reason, None)
        return self._track(
            runner, self._kill(runner, "controlroom", reason, None, first, stopping=False)
        )

    async def stop(
        self,
        runner: AgentRunner,
        final_state: AgentState,
        by: str,
        reason: str,
        grace: float | None = None,
    ) -> KillReport | None:
        """``begin``, then wait until the kill is verified and recorded."""
        return await self.begin(runner, final_state, by, reason, grace)

    def stop_all(
        self, runners: Iterable[AgentRunner], by: str, reason: str, grace: float | None = None
    ) -> asyncio.Future[Reports]:
        """Stop every agent not yet ended, now; an explicit ``grace`` hurries kills in flight."""
        chosen = [r for r in runners if not r.is_final or self.in_flight(r)]
        kills = [self.begin(r, AgentState.KILLED, by, reason, grace) for r in chosen]

        async def reports() -> Reports:
            done = await asyncio.gather(*kills)
            return {r.name: report for r, report in zip(chosen, done, strict=True)}

        return asyncio.ensure_future(reports())

    async def idle(self) -> None:
        """Until no kill is in flight (the governor's and breaker's included)."""
        while self._kills:
            await asyncio.gather(*list(self._kills), return_exceptions=True)

    # ------------------------------------------------------------------ inside

    def _track(
        self, runner: AgentRunner, kill: Coroutine[object, object, KillReport | None]
    ) -> asyncio.Task[KillReport | None]:
        task = asyncio.create_task(kill, name=f"kill:{runner.name}")
        self._kills[task] = runner.name
        task.add_done_callback(self._forget)
        return task

    def _first_step(
        self, runner: AgentRunner, by: str, reason: str, grace: float | None
    ) -> Termination | None:
        """Record the kill and send its SIGTERM now, if its process is there; else None."""
        proc = runner.process
        if not runner.settled.is_set() or proc is None:
            return None  # a spawn in flight: the kill's task waits for it
        if not (runner.alive or proc.contain.leftovers()):
            return None  # nothing to kill: the task says so
        self.bus.publish(KillRequested(agent=runner.name, by=by, reason=reason))
        return proc.contain.terminate(_grace(runner, grace))

    async def _kill(
        self,
        runner: AgentRunner,
        by: str,
        reason: str,
        grace: float | None,
        first: Termination | None,
        *,
        stopping: bool,
    ) -> KillReport | None:
        """The kill itself; ``stopping``: of a stop (else a sweep of what an exited agent left).

        ``first``: ``kill_requested`` recorded and the first step taken (``_first_step``).
        """
        proc = runner.process
        if first is None:
            if stopping:
                await runner.settled.wait()  # a spawn in flight: its process is killed, not missed
            proc = runner.process
            if proc is None or not (runner.alive or proc.contain.leftovers()):
                runner.wake()
                return None
            self.bus.publish(KillRequested(agent=runner.name, by=by, reason=reason))
        assert proc is not None  # first step taken: the process it struck
        report = await proc.kill(_grace(runner, grace), hurry=runner.hurry, first=first)
        runner.wake()
        self.tallies.setdefault(runner.name, KillTally()).add(report)
        await self.bus.publish_durable(
            KillCompleted(
                agent=runner.name,
                duration_ms=round(report.duration_ms, 3),
                survivors=report.survivors,
                processes=report.processes,
                escalated=report.escalated,
            )
        )
        if stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runner.finished.wait(), timeout=_FINISH_SECONDS)
        return report

    def _forget(self, task: asyncio.Task[KillReport | None]) -> None:
        self._kills.pop(task, None)

    def _hurry(self, runner: AgentRunner, by: str, reason: str, grace: float) -> None:
        """A stop is under way: its grace period ends within ``grace`` seconds (recorded)."""
        if runner.hurry.is_set() or not (self.in_flight(runner) or runner.alive):
            return
        self.bus.publish(
            OperatorAction(
                agent=runner.name,
                action="hurry_kill",
                by=by,
                detail={"reason": reason, "grace_seconds": grace},
            )
        )
        if grace <= 0:
            runner.hurry.set()
        else:
            asyncio.get_running_loop().call_later(grace, runner.hurry.set)


def _grace(runner: AgentRunner, grace: float | None) -> float:
    """The kill's grace period: the one asked for, else the agent's ``kill_grace_seconds``."""
    return runner.spec.budget.kill_grace_seconds if grace is None else grace
