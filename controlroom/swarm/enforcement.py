"""Carrying out a stop: stop the agent spending at once, then kill it through the one stop path.

The governor and the breakers decide; this acts. A budget stop has the
agent signalled (or, where its kill waits for a turn, frozen) before the
reader takes anyone's next slice, lets what it already wrote be read and
metered, records how much that was, then stops it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from controlroom.models import AgentState
from controlroom.policy.governor import BudgetGovernor, Decision, Stop
from controlroom.swarm.bus import EventBus
from controlroom.swarm.reader import OutputReader
from controlroom.swarm.runner import AgentRunner
from controlroom.swarm.stops import StopPath

__all__ = ["Enforcer"]


class Enforcer:
    """The supervisor's hands for the governor's and the breakers' stops."""

    def __init__(
        self,
        runners: Mapping[str, AgentRunner],
        bus: EventBus,
        reader: OutputReader,
        governor: BudgetGovernor,
        stops: StopPath,
    ) -> None:
        self.runners = runners
        self.bus = bus
        self.reader = reader
        self.governor = governor
        self.stops = stops
        self._everyone: set[asyncio.Future[Any]] = set()  # stops of the whole swarm under way

    def stop_everyone(self, reason: str) -> None:
        """Stop every agent now, through the one stop path (the audit guard's stop)."""
        stopping = asyncio.ensure_future(
            self.stops.stop_all(self.runners.values(), "controlroom", reason)
        )
        self._everyone.add(stopping)
        stopping.add_done_callback(_settled)
        stopping.add_done_callback(self._everyone.discard)

    def carry_out(self, decisions: list[Decision]) -> None:
        """Publish the governor's warnings; carry out its stops (``budget_stop``)."""
        for decision in decisions:
            if isinstance(decision, Stop) and decision.agent in self.runners:
                self.budget_stop(self.runners[decision.agent], decision)
            else:
                self.bus.publish(decision.event)

    def budget_stop(self, runner: AgentRunner, decision: Stop) -> None:
        """Stop the agent spending now; record the stop once its reported output is read; kill it.

        Before the reader takes anyone's next slice the agent is stopped from
        spending: its SIGTERM is sent then (cgroup containment), else it is
        frozen first (a runaway must not spend while the kill gets its turn).
        What it wrote before is real spend it reported: the rest of the slice
        being read (and, when frozen, whatever is in its pipes) is read and
        metered, and ``budget_exceeded`` says how much of that came after the
        decision.
        """
        frozen = self.freeze(runner)
        meter = self.governor.meters.agent(runner.name)
        tokens, lines = meter.total_tokens, runner.lines_read

        def settle() -> None:
            if frozen:
                for pipe in runner.output:
                    pipe.read_now()
            event = decision.event.model_copy(
                update={
                    "after_decision_tokens": meter.total_tokens - tokens,
                    "after_decision_lines": runner.lines_read - lines,
                }
            )
            self.bus.publish(event)
            reason = f"budget: {event.limit} reached"
            self.stop_soon(runner, AgentState.BUDGET_STOPPED, "governor", reason, freeze=False)

        self.reader.after_slice(settle)

    def freeze(self, runner: AgentRunner) -> bool:
        """Freeze a running agent whose kill waits for a turn; True if done.

        Not when a stop is already under way, nor when the kill's SIGTERM goes
        at once (cgroup containment: ``StopPath.begin`` sends it in the call
        that records the stop, before the reader's next slice). A freeze there
        bought nothing and cost the signal: freezing, then signalling the
        frozen agent, then thawing it each woke the agent, and each wake-up
        let it preempt the control room (5 to 30 ms a time at load 8-12).
        """
        proc = runner.process
        if runner.stop_state is None and proc is not None and runner.alive:
            if proc.contain.terminates_at_once:
                return False
            # The kill runs a loop turn and a tree walk later, and a runaway must
            # not spend meanwhile. The kill's SIGCONT follows its SIGTERM.
            proc.pause()
            return True
        return False

    def stop_soon(
        self,
        runner: AgentRunner,
        final_state: AgentState,
        by: str,
        reason: str,
        *,
        freeze: bool = True,
    ) -> None:
        """Stop ``runner`` without waiting: frozen first (unless ``freeze``), then killed."""
        if freeze:
            self.freeze(runner)
        self.stops.begin(runner, final_state, by, reason)
        self.reader.hurry()  # a kill's task (its first step, if left to it) waits for no flood


def _settled(future: asyncio.Future[Any]) -> None:
    """Take a background stop's outcome: its kills happened; a log that failed says so itself."""
    if not future.cancelled():
        future.exception()
