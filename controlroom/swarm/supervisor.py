"""The supervisor: one asyncio loop that runs a swarm and guarantees none of it runs away.

It ties the parts together: each agent's ``AgentRunner`` reports every event
here (``handle``), where the event is priced, recorded through the bus, fed to
the budget governor and the agent's circuit breaker, and acted on. Acting
always goes through the kill switch, and the events that accompany an action
(kill requested and completed, budget stop, breaker, pause) are committed to
the audit log before the action is reported done.

Stages, handoffs and review gates live in ``Pipeline`` (pipeline.py); the
supervisor hands it every agent that finishes and every gate an agent asks
for, and exposes its gate decisions to the control API.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from controlroom.models import (
    AgentState,
    Budget,
    EventBase,
    FilesChanged,
    GateKind,
    SwarmConfig,
)
from controlroom.models.views import HandoffView, SwarmView
from controlroom.policy.governor import BudgetGovernor
from controlroom.policy.meters import SwarmMeterSnapshot
from controlroom.process.cgroup import AgentCgroup
from controlroom.process.kill import KillReport
from controlroom.process.linux import become_subreaper
from controlroom.process.orphans import Orphan
from controlroom.process.peer import PeerIdentity, identify_peer
from controlroom.store.async_queries import events_since
from controlroom.store.redact import Redactor
from controlroom.swarm.audit_guard import AuditGuard
from controlroom.swarm.bus import EventBus, EventRecorder
from controlroom.swarm.channels import AgentChannels
from controlroom.swarm.confinement import Confinement
from controlroom.swarm.enforcement import Enforcer
from controlroom.swarm.gates import Gate
from controlroom.swarm.integration import Integration
from controlroom.swarm.interpreter import tune_interpreter
from controlroom.swarm.launch import Launcher, LaunchPlan
from controlroom.swarm.metering import Metering
from controlroom.swarm.opening import config_loaded, orphans_found, run_ended, run_started
from controlroom.swarm.operations import Operations
from controlroom.swarm.pipeline import Pipeline
from controlroom.swarm.radar import Radar
from controlroom.swarm.reader import OutputReader
from controlroom.swarm.router import EventRouter
from controlroom.swarm.runner import AgentRunner, ReviewVerdict, find_runner
from controlroom.swarm.sampling import sample_forever
from controlroom.swarm.stops import StopPath
from controlroom.swarm.views import swarm_view

__all__ = ["Supervisor", "tune_interpreter"]

OPERATOR = os.environ.get("USER") or os.environ.get("LOGNAME") or f"uid {os.getuid()}"


class Supervisor:
    """Runs every agent of ``config`` as a subprocess and enforces its limits."""

    def __init__(
        self,
        config: SwarmConfig,
        store: EventRecorder,
        *,
        run_id: str,
        base_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
        mode: str = "headless",
        clock: Callable[[], float] = time.monotonic,
        tick_seconds: float = 0.1,
        sample_seconds: float = 1.0,
        db_path: Path | str | None = None,
    ) -> None:
        self.config = config
        self.run_id = run_id
        self.mode = mode
        self.base_dir = (base_dir or Path.cwd()).resolve()
        self.run_dir = Path(config.swarm.run_dir)
        if not self.run_dir.is_absolute():
            self.run_dir = self.base_dir / self.run_dir
        self.environ = dict(os.environ if environ is None else environ)
        self.clock = clock
        self.db_path = Path(db_path or getattr(store, "path", None) or config.swarm.audit_db)
        self.bus = EventBus(store, Redactor(config.secret_values(self.environ)))
        self.reader = OutputReader(self.bus)
        self.governor = BudgetGovernor.from_config(config)
        self.handoff_max_chars = config.swarm.handoff_max_chars
        self.runners: dict[str, AgentRunner] = {
            spec.name: AgentRunner(spec, self, clock) for spec in config.agents
        }
        self.orphans: list[Orphan] = []
        self._tick_seconds = tick_seconds
        self._sample_seconds = sample_seconds
        self._background: list[asyncio.Task[None]] = []
        self.stops = StopPath(self.bus)
        self.enforcer = Enforcer(self.runners, self.bus, self.reader, self.governor, self.stops)
        self._all_final = asyncio.Event()
        self._started = False
        self.pipeline = Pipeline(self.runners, self.bus)
        self.metering = Metering(self, config, self.environ, self.run_dir)
        stop, grace = self.enforcer.stop_everyone, config.swarm.audit_grace_seconds
        self.guard = AuditGuard(self.runners, self.publish, stop, grace, clock)
        store.health.watch(self.guard.store_health)
        self._workspace_parts()
        self._acting_parts()

    def _acting_parts(self) -> None:
        """The parts that act on agents: the operator's actions and the events' router."""
        self.operations = Operations(
            self.runners, self.bus, self.guard, self.governor, self.stops, self.clock,
            handle=self.handle, restarted=self._all_final.clear,
        )  # fmt: skip
        self.router = EventRouter(
            self.bus, self.governor, self.enforcer, self.pipeline, self.metering,
            self.confinement, self.guard, self.clock,
        )  # fmt: skip

    def _workspace_parts(self) -> None:
        """The parts that reach outside the process: channels, launcher, radar, merges, limits."""
        config, run_id = self.config, self.run_id
        self.channels = AgentChannels(
            identify=self.identify_peer,
            gate=self.gate_tool_call,
            publish=self.publish,
            flush=self.bus.flush,
            info=lambda: {"swarm": config.swarm.name, "run": run_id},
        )
        self.launcher = Launcher(
            run_id=run_id,
            run_dir=self.run_dir,
            base_dir=self.base_dir,
            environ=self.environ,
            publish=self.publish,
            model_env=self.metering.agent_env,
            channel=self.channels.open,
        )
        self.gates = self.pipeline.gates
        self.radar: Radar | None = None
        if config.swarm.radar:
            self.radar = Radar(
                config,
                run_id=run_id,
                run_dir=self.run_dir,
                base_dir=self.base_dir,
                audit_db=self.db_path,
                emit=self._radar_event,
            )
        self.integration = Integration(
            config,
            run_id=run_id,
            run_dir=self.run_dir,
            base_dir=self.base_dir,
            publish=self.publish,
            publish_durable=self.bus.publish_durable,
        )
        self.confinement = Confinement(
            config,
            run_id=run_id,
            run_dir=self.run_dir,
            db_path=self.db_path,
            publish=self.publish,
            stop=self.enforcer.stop_soon,
            sweep=self.stops.sweep,
        )

    # ------------------------------------------------------------------ events

    def publish(self, event: EventBase) -> None:
        self.bus.publish(event)

    def handle(self, runner: AgentRunner, event: EventBase) -> None:
        """Everything an agent does passes here: price, record, govern, break (router.py)."""
        self.router.handle(runner, event)

    def handle_slice(
        self, runner: AgentRunner, events: Sequence[EventBase], lines: Sequence[int]
    ) -> None:
        """A slice of an agent's output at once, as ``handle`` would take each (router.py)."""
        self.router.handle_slice(runner, events, lines)

    def handle_agent_event(self, event: EventBase) -> None:
        """An event the metering proxy reports: the agent's own, or the swarm's if it has none."""
        runner = self.runners.get(event.agent or "")
        if runner is None:
            self.publish(event)
        else:
            self.handle(runner, event)

    def _radar_event(self, event: EventBase) -> None:
        """An agent's ``files_changed`` goes through ``handle`` (its breaker counts it)."""
        if isinstance(event, FilesChanged):
            self.handle_agent_event(event)
        else:
            self.publish(event)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, spawn: bool = True) -> None:
        """Record the run, report orphans of earlier runs, start the first stage.

        ``spawn=False``: the run is recorded and checked, but no agent starts
        (it was stopped before it began).
        """
        if self._started:
            return
        self._started = True
        become_subreaper()
        self.publish(run_started(self.config, self.mode))
        self.orphans = self.confinement.open()
        self.publish(config_loaded(self.config))
        for found in orphans_found(self.orphans):
            self.publish(found)
        if self.radar is not None:
            await self.radar.start()
        await self.integration.start()
        await self.metering.start()  # before any agent: every model request is metered
        proxy = self.metering.proxy
        if self.metering.started and proxy.unix_path is not None:  # sandboxes reach it there
            self.confinement.sandboxes.route_model(proxy.bound_port, str(proxy.unix_path))
        await self.bus.flush()
        self._background = [
            asyncio.create_task(self._tick_loop(), name="governor-tick"),
            asyncio.create_task(
                sample_forever(
                    self.runners,
                    self.governor.meters,
                    self.confinement,
                    self.publish,
                    self._sample_seconds,
                ),
                name="resource-sampler",
            ),
        ]
        if not self.runners:
            self._all_final.set()
        for runner in self.pipeline.first_stage() if spawn else ():
            runner.start()

    async def wait(self) -> bool:
        """Until every agent has ended; True when every one is done."""
        await self._all_final.wait()
        await asyncio.gather(*(r.join() for r in self.runners.values()))
        await self.stops.idle()  # every kill recorded, the last ones included
        return all(r.state == AgentState.DONE for r in self.runners.values())

    async def close(self, outcome: str | None = None, detail: str = "") -> None:
        """Stop the background tasks, sweep what agents left behind, record how the run ended.

        Every kill under way is recorded first: the run's end comes after them.
        """
        await self.stops.idle()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.confinement.close(self.runners.values())
        await self.channels.close()
        if self.radar is not None:
            await self.radar.close()
        self.reader.close()
        await self.metering.stop()
        done = all(r.state == AgentState.DONE for r in self.runners.values())
        spent = self.governor.meters.snapshot(self.clock())
        ended = run_ended(outcome, detail, self.guard.stopped_for, done, spent)
        try:
            await self.bus.publish_durable(ended)
        finally:
            self.bus.close()  # subscribers end even when the log could not take the end

    def runner_finished(self, runner: AgentRunner) -> None:
        self.governor.agent_stopped(runner.name, self.clock())
        self.pipeline.advance(runner)
        if all(r.is_final for r in self.runners.values()):
            self._all_final.set()

    async def review(self, runner: AgentRunner) -> ReviewVerdict:
        """The handoff held against the diff (if the radar tracks it), then the pipeline review."""
        if self.radar is not None and runner.handoff is not None:
            into = None
            if self.integration.merges(runner.name):
                into = (self.integration.branch, await self.integration.try_check(runner.name))
            await self.radar.check_handoff(runner.name, runner.handoff, into)
        return await self.pipeline.review(runner)

    async def agent_cgroup(self, runner: AgentRunner) -> AgentCgroup | None:
        return await self.confinement.agent_cgroup(runner)

    async def launch_plan(self, runner: AgentRunner) -> LaunchPlan:
        spec = runner.spec
        plan = await self.launcher.plan(
            spec, spec.task + runner.task_suffix, self.pipeline.inputs(spec)
        )
        runner.handoff_input = plan.handoff_text
        if self.radar is not None:  # before the spawn: its first write must be its own
            await self.radar.track(spec.name, plan.cwd, whole_tree=spec.workspace == "worktree")
        return await self.confinement.sandboxed(spec, plan)

    # ------------------------------------------------------------------ operator actions

    def runner(self, agent: str) -> AgentRunner:
        return find_runner(self.runners, agent)

    async def kill(
        self, agent: str, by: str = OPERATOR, reason: str = "", grace: float | None = None
    ) -> KillReport | None:
        """Kill one agent's whole tree; returns once the kill is verified and recorded."""
        runner = self.runner(agent)
        return await self.stops.stop(runner, AgentState.KILLED, by, reason or "killed", grace)

    def stop_all(
        self, by: str = OPERATOR, reason: str = "stop all", grace: float | None = None
    ) -> asyncio.Future[dict[str, KillReport | None]]:
        """Stop every agent now; the future completes once every kill is recorded.

        From this call on no agent is spawned (a spawn in flight is killed once
        it lands); kills run in parallel, as slow as the slowest agent, not
        the sum; an explicit ``grace`` hurries kills already in flight (0:
        SIGKILL now).
        """
        return self.stops.stop_all(self.runners.values(), by, reason, grace)

    async def pause(self, agent: str, by: str = OPERATOR) -> int:
        return await self.operations.pause(agent, by)

    async def resume(self, agent: str, by: str = OPERATOR) -> int:
        return await self.operations.resume(agent, by)

    async def restart(
        self, agent: str, by: str = OPERATOR, new_budget: Budget | None = None
    ) -> None:
        """The operator's audited restart. A budget-stopped agent needs a new budget."""
        await self.operations.restart(agent, by, new_budget)

    async def reset_breaker(self, agent: str, by: str = OPERATOR) -> None:
        await self.operations.reset_breaker(agent, by)

    async def decide_gate(
        self, gate_id: str, approved: bool, by: str, reason: str, merge: bool = True
    ) -> Gate:
        """Record the decision; an approved handoff of an ``on_approve = "merge"`` agent merges."""
        gate = self.gates.get(gate_id)

        async def decide() -> Gate:
            return await self.pipeline.decide(gate_id, approved, by, reason)

        if approved and gate.kind == GateKind.HANDOFF and self.integration.merges(gate.agent):
            return await self.integration.approve(gate.agent, gate_id, decide, by, reason, merge)
        return await decide()

    def identify_peer(self, sock: socket.socket) -> PeerIdentity:
        """Who connected to one of this run's channels, as the kernel says (``process/peer.py``)."""
        return identify_peer(sock, run_id=self.run_id, cgroup=self.confinement.run_cgroup())

    async def gate_tool_call(
        self, agent: str, tool: str, tool_input: dict[str, Any], tool_use_id: str = ""
    ) -> tuple[bool, str]:
        return await self.pipeline.tool_call(agent, tool, tool_input, tool_use_id)

    def handoff_log(self) -> list[HandoffView]:
        """The handoff timeline, oldest first (copies: the pipeline keeps updating its own)."""
        return [entry.model_copy() for entry in self.pipeline.log]

    async def events_since(
        self, seq: int, limit: int = 1000, *, newest: bool = False
    ) -> list[EventBase]:
        """This run's events after ``seq``, oldest first, from the audit log (for catching up);
        with ``newest``, the last ``limit`` of them: what a screen opening on a long run shows."""
        await self.bus.flush()
        return await events_since(self.db_path, self.run_id, seq, limit, newest=newest)

    def view(self) -> SwarmView:
        """Everything a screen shows: agents with meters, gates, handoffs, totals."""
        return swarm_view(self)

    def snapshot(self) -> SwarmMeterSnapshot:
        return self.governor.meters.snapshot(self.clock())

    def states(self) -> dict[str, str]:
        return {name: r.state for name, r in self.runners.items()}

    # ------------------------------------------------------------------ background

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self._tick_seconds)
            self.guard.tick()
            await self.pipeline.expire_due(recording=not self.bus.failing)
            self.enforcer.carry_out(self.governor.tick(self.clock()))
