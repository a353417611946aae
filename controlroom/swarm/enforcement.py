"""Carrying out a stop: signal the agent at once, then kill it through the one stop path.

The governor and the breakers decide; this acts. A budget stop lets the
slice being delivered be metered, records how much of it came after the
decision, and has the agent signalled before the reader takes anyone's
next slice.
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
        """Record the stop once the slice being delivered is done; signal the agent then.

        Before the reader takes anyone's next slice, ``budget_exceeded`` and
        ``kill_requested`` are recorded and the agent is sent its SIGTERM
        (``StopPath.begin`` takes the kill's first step in its own call).
        What the rest of the slice holds is real spend it reported: it is
        metered, and ``budget_exceeded`` says how much of it came after the
        decision. There is no freeze first: it protected ~1 ms of loop work
        and cost the signal its delay (freezing, signalling the frozen agent
        and thawing it each woke the agent, and each wake-up let it preempt
        the control room: 5 to 30 ms a time at load 8-12).
        """
        meter = self.governor.meters.agent(runner.name)
        tokens, lines = meter.total_tokens, runner.lines_read

        def settle() -> None:
            event = decision.event.model_copy(
                update={
                    "after_decision_tokens": meter.total_tokens - tokens,
                    "after_decision_lines": runner.lines_read - lines,
                }
            )
            self.bus.publish(event)
            reason = f"budget: {event.limit} reached"
            self.stop_soon(runner, AgentState.BUDGET_STOPPED, "governor", reason)

        self.reader.after_slice(settle)

    def stop_soon(self, runner: AgentRunner, final_state: AgentState, by: str, reason: str) -> None:
        """Stop ``runner`` without waiting: signalled now, killed by the stop path's task."""
        self.stops.begin(runner, final_state, by, reason)
        self.reader.hurry()  # a kill's task (its first step, if left to it) waits for no flood


def _settled(future: asyncio.Future[Any]) -> None:
    """Take a background stop's outcome: its kills happened; a log that failed says so itself."""
    if not future.cancelled():
        future.exception()
