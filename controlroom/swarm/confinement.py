"""How a run holds its agents: their containment, their sandboxes, their kernel limits.

The supervisor's side of ``process/``: at start it opens the run's
containment (a cgroup per agent, or the process tree, said in the
``containment`` event), removes the empty cgroups crashed runs left and
finds their orphans; for each start of an agent it gives the cgroup to be
born in and the sandbox to run in; while agents run it stops one the kernel
held to a limit (``limit_exceeded``, then the stop path) and has the stop path
sweep what an exited agent left running (a kill by ``controlroom``); at the
end it sweeps, reaps and removes it all.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from controlroom._errors import AuditError
from controlroom.models import (
    AgentSpec,
    AgentState,
    ErrorEvent,
    EventBase,
    LimitExceeded,
    SwarmConfig,
)
from controlroom.models.views import ContainmentView
from controlroom.process.cgroup import AgentCgroup
from controlroom.process.kill import KillReport
from controlroom.process.orphans import Orphan, find_orphans, leftover_cgroups, remove_cgroups
from controlroom.process.runcontain import RunContainment
from controlroom.store.connection import lock_path_for
from controlroom.store.queries import recorded_cgroups_in, recorded_processes_in
from controlroom.swarm.launch import LaunchPlan
from controlroom.swarm.runner import AgentRunner
from controlroom.swarm.sandboxing import Sandboxes

__all__ = ["Confinement"]

Stop = Callable[[AgentRunner, AgentState, str, str], None]
Sweep = Callable[[AgentRunner, str], "asyncio.Task[KillReport | None]"]


class Confinement:
    """The run's containment and sandboxes, and what the supervisor does with them."""

    def __init__(
        self,
        config: SwarmConfig,
        *,
        run_id: str,
        run_dir: Path,
        db_path: Path,
        publish: Callable[[EventBase], None],
        stop: Stop,
        sweep: Sweep,
    ) -> None:
        self.config = config
        self.run_id = run_id
        self.db_path = db_path
        self.publish = publish
        self.stop = stop
        self.sweep = sweep
        self.containment = RunContainment(None, "not started")
        db = str(db_path.resolve())
        anchor = [config.swarm.anchor_file] if config.swarm.anchor_file else []
        self.sandboxes = Sandboxes(
            run_dir=run_dir,
            hidden_files=[db, f"{db}-wal", f"{db}-shm", str(lock_path_for(Path(db))), *anchor],
            publish=publish,
        )
        self._strikes: dict[str, dict[str, int]] = {}  # agent -> limit -> kernel strikes seen
        self._sweeps: dict[str, asyncio.Task[KillReport | None]] = {}  # agent -> its sweep
        self._views: dict[str, tuple[tuple[object, ...], ContainmentView]] = {}  # agent -> view

    # ------------------------------------------------------------------ the run

    def open(self) -> list[Orphan]:
        """Contain this run (event and warnings published); the orphans of earlier runs."""
        self.containment = RunContainment.open(self.config.swarm.containment, self.run_id)
        orphans, cleaned = self._find_orphans()
        self.publish(self.containment.event(cleaned))
        for spec in self.config.agents:
            for problem in self.containment.unenforced(spec.limits):
                message = f"limit not enforced: {problem}"
                self.publish(ErrorEvent(agent=spec.name, message=message, where="limits"))
        return orphans

    def run_cgroup(self) -> str | None:
        """The run's cgroup as ``/proc/<pid>/cgroup`` names it (its agents' are below), or None."""
        cgroups = self.containment.cgroups
        return None if cgroups is None else cgroups.name

    async def close(self, runners: Iterable[AgentRunner]) -> None:
        """Sweep what agents left running, close the sandboxes' roads, remove the cgroups."""
        for runner in runners:
            self.sweep_leftovers(runner, "the run ended")
        await asyncio.gather(*self._sweeps.values(), return_exceptions=True)
        await self.sandboxes.close()
        for path in await asyncio.to_thread(self.containment.close):
            message = f"cgroup {path} still holds processes: kept"
            self.publish(ErrorEvent(message=message, where="containment"))

    # ------------------------------------------------------------------ each start

    async def agent_cgroup(self, runner: AgentRunner) -> AgentCgroup | None:
        """The cgroup the agent is born in, once what it left last time is gone (or None).

        Made (mkdir in each hierarchy, its limits written) on a worker thread:
        a few ms under load that the reader, and the governor, need more.
        """
        sweep = self._sweeps.get(runner.name)
        if sweep is not None:
            await asyncio.gather(sweep, return_exceptions=True)
        return await asyncio.to_thread(self.containment.agent_cgroup, runner.spec)

    async def sandboxed(self, spec: AgentSpec, plan: LaunchPlan) -> LaunchPlan:
        return await self.sandboxes.wrap(spec, plan)

    # ------------------------------------------------------------------ while running

    def check_limits(self, runner: AgentRunner) -> None:
        """Stop an agent the kernel held to a limit (an OOM kill, a refused fork), saying which."""
        proc = runner.process
        if proc is not None:
            self.limits_struck(runner, proc.contain.strikes())

    def limits_struck(self, runner: AgentRunner, strikes: Mapping[str, int]) -> None:
        """``check_limits`` on ``strikes`` read already (by the sampler, off the loop)."""
        seen = self._strikes.setdefault(runner.name, {})
        for limit, count in strikes.items():
            if count <= seen.get(limit, 0):
                continue
            seen[limit] = count
            what = "OOM kill" if limit == "memory_max" else "refused fork"
            self.publish(
                LimitExceeded(
                    agent=runner.name,
                    limit=limit,
                    cap=float(getattr(runner.spec.limits, limit)),
                    count=count,
                    detail=f"{count} {what}{'s' if count != 1 else ''} by the kernel",
                )
            )
            self.stop(runner, AgentState.FAILED, "limits", f"limit: {limit} exceeded")

    def reap(self) -> None:
        """Reap the agents' orphans that died (once per sampling round, off the loop: it may
        wait out a fork); never an agent's leader, whose status its runner collects."""
        self.containment.reap()

    def sweep_leftovers(self, runner: AgentRunner, why: str = "the agent exited") -> None:
        """Kill what an exited agent left running (daemons), recorded like any kill."""
        proc = runner.process
        if proc is None or runner.alive or runner.name in self._sweeps:
            return
        if runner.stop_state is not None and not runner.is_final:
            return  # a stop is under way: its kill takes them
        if not proc.contain.leftovers():
            return

        sweep = self.sweep(runner, f"{why}, leaving processes behind")
        self._sweeps[runner.name] = sweep
        sweep.add_done_callback(lambda _: self._sweeps.pop(runner.name, None))

    def view(self, runner: AgentRunner) -> ContainmentView:
        """How this agent is held: mode, cgroup, limits (those not enforced too), sandbox.

        Built once per start of the agent (and per containment): a dashboard
        asks for every agent's four times a second, and building it (its
        limits dumped, the unenforced ones worked out) was a tenth of a
        100-agent snapshot. Views are not changed by their readers.
        """
        key = (self.containment, runner.process, runner.spec)
        known = self._views.get(runner.name)
        if known is not None and all(a is b for a, b in zip(known[0], key, strict=True)):
            return known[1]
        view = self._build_view(runner)
        self._views[runner.name] = (key, view)
        return view

    def _build_view(self, runner: AgentRunner) -> ContainmentView:
        proc = runner.process
        return ContainmentView(
            mode=self.containment.mode,
            cgroup=proc.contain.cgroup if proc is not None else "",
            limits=runner.spec.limits.model_dump(exclude_none=True),
            unenforced=self.containment.unenforced(runner.spec.limits),
            sandbox=runner.spec.sandbox,
            allow_hosts=list(runner.spec.allow_hosts),
        )

    # ------------------------------------------------------------------ earlier runs

    def _find_orphans(self) -> tuple[list[Orphan], list[str]]:
        """Earlier runs' agents still alive, and their empty cgroups (removed here)."""
        try:
            recorded = recorded_processes_in(self.db_path)
            cgroups = recorded_cgroups_in(self.db_path)
        except (AuditError, sqlite3.Error) as exc:
            where = str(self.db_path)
            self.publish(ErrorEvent(message=f"orphan check skipped: {exc}", where=where))
            return [], []
        orphans = find_orphans(recorded, exclude_run=self.run_id, cgroups=cgroups)
        left = leftover_cgroups(cgroups, exclude_run=self.run_id)
        busy_runs = {o.run for o in orphans}
        removed, _ = remove_cgroups(
            [d for run, dirs in left.items() if run not in busy_runs for d in dirs]
        )
        return orphans, removed
