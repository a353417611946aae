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
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from controlroom._errors import AgentError, ControlError
from controlroom.adapters import Adapter, make_adapter, read_line_batches, read_lines
from controlroom.adapters.lines import CHUNK_BYTES, MalformedLine
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
from controlroom.process.spawn import AgentProcess, spawn_agent
from controlroom.swarm.bus import EventBus
from controlroom.swarm.launch import LaunchPlan

__all__ = ["AgentHost", "AgentRunner", "ReviewVerdict", "find_runner"]

_EXIT_POLL_SECONDS = 0.1  # how soon an exit is noticed while something still holds the pipes
_DRAIN_SECONDS = 1.0  # how long output may still arrive after the agent's process exited


@dataclass(frozen=True)
class ReviewVerdict:
    """What happens to an agent that exited successfully: done, run again, or failed."""

    outcome: str  # "done", "retry", "failed"
    reason: str = ""


class AgentHost(Protocol):
    """What a runner needs from the supervisor that runs it."""

    handoff_max_chars: int
    bus: EventBus

    def publish(self, event: EventBase) -> None: ...

    def handle(self, runner: AgentRunner, event: EventBase) -> None: ...

    async def launch_plan(self, runner: AgentRunner) -> LaunchPlan: ...

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
        self._lines_read = 0  # lines read so far: the output readers' progress
        self.returncode: int | None = None
        # the final state an operator's or the governor's stop leads to
        self.stop_state: AgentState | None = None
        self.stop_reason = ""
        self.finished = asyncio.Event()
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
        plan = await self.host.launch_plan(self)
        argv, cwd, env = plan.argv, plan.cwd, plan.env
        proc = await spawn_agent(argv, cwd, env, agent=self.name)
        self.process = proc
        self.returncode = None
        started = self.clock()
        self.host.handle(
            self,
            AgentSpawned(
                agent=self.name,
                pid=proc.pid,
                create_time=proc.create_time,
                argv=argv,
                workspace=str(cwd),
                attempt=self.attempt,
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
        adapter = make_adapter(self.spec.format, self.name, self.host.handoff_max_chars)
        readers = [
            asyncio.create_task(self._read_stdout(proc, adapter)),
            asyncio.create_task(self._read_stderr(proc)),
        ]
        returncode = await self._exited(proc)
        await self._drain(proc, readers)
        for event in adapter.finish():
            self.host.handle(self, event)
        proc.close()
        self.returncode = returncode
        sig = _signal_name(returncode)
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

    async def _exited(self, proc: AgentProcess) -> int:
        """The exit status, as soon as the agent's process has exited.

        Not just ``Process.wait()``: on Python 3.11 that also waits until
        every holder of the agent's stdout/stderr has closed it, so a
        daemon the agent left behind (it called setsid, nobody can find
        it) would keep the agent "running" for as long as the daemon lives.
        """
        waiter = asyncio.ensure_future(proc.process.wait())
        while not waiter.done():
            await asyncio.wait({waiter}, timeout=_EXIT_POLL_SECONDS)
            if proc.process.returncode is not None:
                break
        if waiter.done():
            return waiter.result()
        waiter.cancel()
        returncode = proc.process.returncode
        assert returncode is not None
        return returncode

    async def _drain(self, proc: AgentProcess, readers: list[asyncio.Task[None]]) -> None:
        """Read what is left in the pipes; give up only after ``_DRAIN_SECONDS`` without progress.

        A busy supervisor may still be far behind an agent that has exited:
        that output is real and must be read. Only when the readers make no
        progress for a while is something else (a daemon the agent left
        behind) holding the pipes open.
        """
        pending = set(readers)
        while pending:
            before = self._lines_read
            _, pending = await asyncio.wait(pending, timeout=_DRAIN_SECONDS)
            if pending and self._lines_read == before:
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
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # Closing our ends of the pipes lets asyncio finish the transport (its
        # process has exited, so close() signals nothing); there is no public API.
        transport = getattr(proc.process, "_transport", None)
        if transport is not None:
            transport.close()

    async def _read_stdout(self, proc: AgentProcess, adapter: Adapter) -> None:
        """Frame, adapt and hand on the agent's stdout; wait for the audit log if it floods.

        While the audit writer is far behind (the bus is ``backlogged``), a
        reader may take in one chunk's worth of output per second freely; a
        reader over that (a flooding agent: a full chunk at once, or many
        small ones) waits for room before reading on, so the agent's pipe
        fills and its own writes block. A paced agent's lines are never
        held, so neither is the governor's stop; nor are an exited agent's,
        whose rest is bounded and must be drained without pause.
        """
        stream = proc.process.stdout
        assert stream is not None
        handle = self.host.handle
        bus = self.host.bus
        clock = asyncio.get_running_loop().time
        allowance, refilled = float(CHUNK_BYTES), clock()  # a token bucket, in bytes
        async for batch in read_line_batches(stream):
            self._lines_read += len(batch)
            for item in batch:
                if isinstance(item, MalformedLine):
                    handle(self, item.to_event(self.name, "stdout"))
                else:
                    for event in adapter.feed(item):
                        handle(self, event)
            if bus.backlogged and proc.process.returncode is None:
                now = clock()
                allowance = min(CHUNK_BYTES, allowance + (now - refilled) * CHUNK_BYTES)
                refilled = now
                allowance -= sum(len(i) if isinstance(i, str) else i.length for i in batch)
                if allowance < 0:
                    allowance = 0.0
                    # In short waits: once the agent exits, its rest is read without pause.
                    while not await bus.room(0.1) and proc.process.returncode is None:
                        pass
                    refilled = clock()

    async def _read_stderr(self, proc: AgentProcess) -> None:
        stream = proc.process.stderr
        assert stream is not None
        async for item in read_lines(stream):
            self._lines_read += 1
            if isinstance(item, MalformedLine):
                self.host.handle(self, item.to_event(self.name, "stderr"))
            else:
                self.host.handle(self, AgentOutput(agent=self.name, stream="stderr", text=item))


def find_runner(runners: Mapping[str, AgentRunner], agent: str) -> AgentRunner:
    """The runner of ``agent``; an unknown name is refused, naming the known ones."""
    try:
        return runners[agent]
    except KeyError:
        known = ", ".join(runners) or "none"
        raise ControlError(f"unknown agent {agent!r} (agents: {known})") from None


def _signal_name(returncode: int | None) -> str | None:
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"
