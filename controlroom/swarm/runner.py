"""One agent's life: spawn, read its output, wait for its exit, restart or end.

The runner owns the agent's process and its state; every decision that
involves the swarm (budgets, kills, the pipeline) belongs to the
``Supervisor``, which the runner reports to through ``AgentHost``. States
follow ``models.AgentState`` and every transition is an ``agent_state`` event
(as Supervisor's process states: plain data, an event on every change).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal, Protocol

from controlroom._errors import AgentError, AgentNotFound
from controlroom.adapters import Adapter, MalformedLine, make_adapter
from controlroom.models import (
    FINAL_STATES,
    AgentCrashed,
    AgentExited,
    AgentOutput,
    AgentSpawned,
    AgentSpec,
    AgentState,
    AgentStateChanged,
    ErrorEvent,
    EventBase,
    Handoff,
)
from controlroom.policy.breaker import CircuitBreaker
from controlroom.process.cgroup import AgentCgroup
from controlroom.process.exits import exit_status, signal_name
from controlroom.process.pipes import OutputPipes
from controlroom.process.spawn import AgentProcess, spawn_agent
from controlroom.swarm.bus import EventBus
from controlroom.swarm.launch import LaunchPlan
from controlroom.swarm.reader import Item, OutputReader, Pipe
from controlroom.text import refusals

__all__ = ["AgentHost", "AgentRunner", "ReviewVerdict", "find_runner"]

_DRAIN_SECONDS = 1.0  # how long output may still arrive after the agent's process exited


@dataclass(frozen=True)
class ReviewVerdict:
    """What happens to an agent that exited successfully: done, run again, or failed."""

    outcome: Literal["done", "retry", "failed"]
    reason: str = ""


class AgentHost(Protocol):
    """What a runner needs from the supervisor that runs it."""

    handoff_max_chars: int
    bus: EventBus
    reader: OutputReader

    def publish(self, event: EventBase) -> None: ...

    def handle(self, runner: AgentRunner, event: EventBase) -> None: ...

    def handle_slice(
        self, runner: AgentRunner, events: Sequence[EventBase], lines: Sequence[int]
    ) -> None: ...

    async def launch_plan(self, runner: AgentRunner) -> LaunchPlan: ...

    async def agent_cgroup(self, runner: AgentRunner) -> AgentCgroup | None: ...

    def runner_finished(self, runner: AgentRunner) -> None: ...

    async def review(self, runner: AgentRunner) -> ReviewVerdict: ...


class AgentRunner:
    """Runs one ``AgentSpec`` until it ends: done, failed, killed, stopped or blocked."""

    def __init__(
        self, spec: AgentSpec, host: AgentHost, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.host = host
        self.clock = clock
        self.state = AgentState.PENDING
        self.state_reason = ""
        self.breaker = CircuitBreaker(spec.name, spec.breaker)
        self.process: AgentProcess | None = None
        self.attempt = 0
        self.task_suffix = ""  # appended to the task on a retry (rejection reasons)
        self.handoff: Handoff | None = None
        self.handoff_error = ""  # why the last handoff was refused (the stage then fails)
        self.handoff_attempts = 0  # handoffs reviewed; a rejected one may be retried
        self.handoff_input = ""  # the approved upstream handoffs, as JSON, for stdin
        self.tasks: set[asyncio.Task[None]] = set()  # gate answers and the like
        self.lines_read = 0  # lines of output delivered so far, both streams
        self.output: list[Pipe] = []  # the current process's stdout and stderr, as read
        self.returncode: int | None = None
        # the final state an operator's or the governor's stop leads to
        self.stop_state: AgentState | None = None
        self.stop_reason = ""
        self.finished = asyncio.Event()
        self.hurry = asyncio.Event()  # set: a kill of this agent must not wait out its grace
        self.settled = asyncio.Event()  # clear while a launch is planned or spawned
        self.settled.set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ state

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.process.returncode is None

    def set_state(self, state: AgentState, reason: str = "") -> None:
        if state == self.state:
            return
        previous, self.state = self.state, state
        self.state_reason = reason
        self.host.publish(
            AgentStateChanged(agent=self.name, state=state, previous=previous, reason=reason)
        )
        if state in FINAL_STATES:
            self.finished.set()
            self.host.runner_finished(self)

    def request_stop(self, final_state: AgentState, reason: str) -> bool:
        """Mark the agent as being stopped; False if a stop is already under way."""
        if self.stop_state is not None or self.is_final:
            return False
        self.stop_state = final_state
        self.stop_reason = reason
        if self.alive:
            self.set_state(AgentState.STOPPING, reason)
        elif self._task is None:  # never started (waiting for upstream): ends here
            self.set_state(final_state, reason)
        self.wake()
        return True

    def wake(self) -> None:
        """Cut a restart backoff short (a stop arrived meanwhile)."""
        self._wake.set()

    async def stopped(self) -> None:
        """Returns once a stop of this agent has been requested."""
        while self.stop_state is None:
            self._wake.clear()
            await self._wake.wait()

    def reset(self) -> None:
        """Ready a final agent for an operator's restart (a fresh start, same spec)."""
        self.stop_state = None
        self.stop_reason = ""
        self.finished.clear()
        self.hurry.clear()
        self._task = None
        self.set_state(AgentState.PENDING, "restart")

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"agent:{self.name}")

    async def join(self) -> None:
        await self.finished.wait()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while not self.is_final:
            if self.stop_state is not None:
                self.set_state(self.stop_state, self.stop_reason)
                return
            self.attempt += 1
            self.set_state(AgentState.STARTING)
            try:
                success = await self._run_once()
            except AgentError as exc:  # WorkspaceError included
                self.host.publish(AgentCrashed(agent=self.name, reason=str(exc)))
                success = False
            if self.stop_state is not None:
                self.set_state(self.stop_state, self.stop_reason)
                return
            if success:
                self.handoff_attempts += 1
                review = await self.host.review(self)
                if review.outcome == "done":
                    self.set_state(AgentState.DONE)
                    return
                if self.stop_state is not None:
                    continue
                if review.outcome == "failed":
                    self.set_state(AgentState.FAILED, review.reason)
                    return
                self.task_suffix += (
                    f"\n\nYour previous handoff was rejected: {review.reason}. "
                    "Address this and hand off again."
                )
                self.set_state(AgentState.STARTING, f"retry: {review.reason}")
                continue
            verdict = self.breaker.record_exit(False, self.clock())
            if verdict.opened is not None:
                self.host.publish(verdict.opened)
                self.set_state(AgentState.BREAKER_OPEN, verdict.reason)
                return
            if not verdict.restart:
                self.set_state(AgentState.FAILED, verdict.reason)
                return
            self.set_state(AgentState.STARTING, f"restart in {verdict.delay_seconds:g}s")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), verdict.delay_seconds)

    async def _run_once(self) -> bool:
        launched = await self._launch()
        if launched is None:
            return False
        proc, plan, pipes = launched
        self.returncode = None
        started = self.clock()
        adapter = make_adapter(self.spec.format, self.name, self.host.handoff_max_chars)
        reader = self.host.reader
        self.output = [
            reader.attach(
                pipes.stdout, partial(self._stdout_lines, adapter), f"{self.name} stdout"
            ),
            reader.attach(pipes.stderr, self._stderr_lines, f"{self.name} stderr"),
        ]
        self.host.handle(
            self,
            AgentSpawned(
                agent=self.name,
                pid=proc.pid,
                create_time=proc.create_time,
                argv=plan.argv,
                workspace=str(plan.cwd),
                attempt=self.attempt,
                cgroup=proc.contain.cgroup,
                sandbox="" if self.spec.sandbox == "off" else self.spec.sandbox,
                allow_hosts=list(self.spec.allow_hosts),
            ),
        )
        if self.stop_state is None:
            self.set_state(AgentState.RUNNING)
        self.handoff = None
        self.handoff_error = ""
        stdin = proc.process.stdin
        if stdin is not None and self.spec.format == "native":
            if self.handoff_input:  # native agents read their handoffs first, then gate decisions
                with contextlib.suppress(ConnectionError, RuntimeError):
                    stdin.write(self.handoff_input.encode() + b"\n")
        elif stdin is not None:  # others never read it: `claude -p` would wait 3 s for input
            stdin.close()
        returncode = await exit_status(proc)
        await self._drain(self.output)
        for event in adapter.finish():
            self.host.handle(self, event)
        proc.close()
        self.returncode = returncode
        sig = signal_name(returncode)
        success = returncode == 0
        self.host.handle(
            self,
            AgentExited(
                agent=self.name,
                returncode=returncode,
                signal=sig,
                success=success,
                duration_seconds=round(self.clock() - started, 6),
            ),
        )
        return success

    async def _launch(self) -> tuple[AgentProcess, LaunchPlan, OutputPipes] | None:
        """Plan and spawn, unless a stop came first (None); a stop waits for this to settle."""
        self.settled.clear()
        try:
            plan = await self.host.launch_plan(self)
            cgroup = await self.host.agent_cgroup(self)
            if self.stop_state is not None:
                return None
            pipes = OutputPipes.open()
            try:
                self.process = await spawn_agent(
                    plan.argv,
                    plan.cwd,
                    plan.env,
                    agent=self.name,
                    stdout=pipes.child_stdout,
                    stderr=pipes.child_stderr,
                    cgroup=cgroup,
                )
            except BaseException:
                pipes.close()
                raise
            pipes.close_child_ends()
            return self.process, plan, pipes
        finally:
            self.settled.set()

    async def _drain(self, pipes: list[Pipe]) -> None:
        """Read what is left in the pipes; give up only after ``_DRAIN_SECONDS`` without progress.

        A busy supervisor may still be far behind an agent that has exited:
        that output is real and must be read (and is never held back for the
        audit log: it is bounded). Only when no line arrives for a while is
        something else (a daemon the agent left behind) holding the pipes open.
        """
        for pipe in pipes:
            pipe.drain()
        pending = {pipe.ended for pipe in pipes if not pipe.ended.done()}
        while pending:
            before = self.lines_read
            _, pending = await asyncio.wait(pending, timeout=_DRAIN_SECONDS)
            if pending and self.lines_read == before:
                break
        if not pending:
            return
        self.host.publish(
            ErrorEvent(
                agent=self.name,
                message=(
                    f"the agent exited but a process it left behind still holds its output "
                    f"open after {_DRAIN_SECONDS:g} s without output; its further output is "
                    "not read"
                ),
                where="runner",
            )
        )
        for pipe in pipes:
            pipe.close()

    def _stdout_lines(self, adapter: Adapter, items: list[Item]) -> None:
        """One slice of stdout, framed: adapt its lines, then hand the events on as one slice."""
        if len(items) == 1 and type(items[0]) is str:  # a quiet agent's line: nothing to batch
            self.lines_read += 1
            for event in adapter.feed(items[0]):
                self.host.handle(self, event)
            return
        read = self.lines_read
        events, lines = adapter.feed_slice(items, read)  # lines: read once each event was made
        self.host.handle_slice(self, events, lines)
        self.lines_read = read + len(items)

    def _stderr_lines(self, items: list[Item]) -> None:
        handle = self.host.handle
        for item in items:
            self.lines_read += 1
            if isinstance(item, MalformedLine):
                handle(self, item.to_event(self.name, "stderr"))
            else:
                handle(self, AgentOutput(agent=self.name, stream="stderr", text=item))


def find_runner(runners: Mapping[str, AgentRunner], agent: str) -> AgentRunner:
    """The runner of ``agent``; an unknown name is refused, naming the known ones."""
    try:
        return runners[agent]
    except KeyError:
        raise AgentNotFound(refusals.unknown_agent(agent, runners)) from None
