"""The circuit breaker: a stuck or crash-looping agent stops itself.

One ``CircuitBreaker`` per agent, configured by its ``models.Breaker``. Pure:
it is told about exits and events and answers with verdicts; the supervisor
restarts (after the verdict's delay) or not. Two things open the circuit:

* failures: ``max_failures`` failed exits within ``window_seconds`` (a
  failure exactly ``window_seconds`` old has expired). The exit that makes
  the count reach ``max_failures`` opens it — the 3rd of 3, not the 4th;
* loops: the same tool call (name and canonical JSON of its input) or the
  same error message ``repeat_limit`` times in a row. Tool calls and errors
  form one stream: any different call or error starts a new streak. Other
  events (status, usage, log output) do not break a streak, because a looping
  agent reports usage and status between its identical calls;
* a stall (``stall_turns``, off unless set): the agent's diff has not moved
  for that many model turns. Counting starts with the first ``files_changed``
  (the radar tracks the agent's workspace) and every later one starts over;
  an agent whose workspace nobody tracks never stalls.

The ``BreakerOpened`` event's ``failures`` is what opened it: the failures
in the window, for a loop the number of repeats, for a stall the turns.

Once open, nothing restarts the agent until ``reset(by)``, which returns the
``BreakerReset`` event that records who did it.

Restarts after a failure follow the ``restart`` policy (``never`` or
``on-failure``) with exponential backoff: the n-th failure in the window waits
``backoff_seconds * 2**(n-1)`` seconds, at most ``backoff_max_seconds``. A
successful exit is never restarted.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from controlroom.models import (
    Breaker,
    BreakerOpened,
    BreakerReset,
    ErrorEvent,
    EventBase,
    FilesChanged,
    ToolCall,
    Usage,
)

__all__ = ["BreakerVerdict", "CircuitBreaker", "backoff_delay", "tool_call_key"]

_PREVIEW_CHARS = 160


def tool_call_key(name: str, tool_input: dict[str, Any]) -> str:
    """``name`` plus the canonical JSON of ``tool_input``: equal calls, equal keys."""
    body = json.dumps(
        tool_input, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
    )
    return f"{name} {body}"


def backoff_delay(policy: Breaker, failures: int) -> float:
    """Seconds to wait before restarting after the ``failures``-th failure (1-based)."""
    if failures < 1:
        return 0.0
    # 2**1024 overflows a float; any exponent that large is capped anyway
    exponent = min(failures - 1, 1000)
    return min(policy.backoff_seconds * 2.0**exponent, policy.backoff_max_seconds)


@dataclass(frozen=True, slots=True)
class BreakerVerdict:
    """What to do after an agent exited.

    ``restart`` with ``delay_seconds`` of backoff, or not, and why.
    ``opened`` is the event to publish when this exit opened the circuit.
    ``failures`` counts the failures inside the window, this one included.
    """

    restart: bool
    delay_seconds: float
    reason: str
    failures: int
    opened: BreakerOpened | None = None


class CircuitBreaker:
    """Restart policy, failure window and loop detection for one agent."""

    def __init__(self, agent: str, policy: Breaker | None = None) -> None:
        self.agent = agent
        self.policy = policy if policy is not None else Breaker()
        self._failures: deque[float] = deque()
        self._open_reason: str | None = None
        self._streak_key: str | None = None
        self._streak = 0
        self._still_turns: int | None = None  # turns since the diff last moved; None: untracked

    @property
    def is_open(self) -> bool:
        return self._open_reason is not None

    @property
    def open_reason(self) -> str | None:
        return self._open_reason

    @property
    def counts_turns(self) -> bool:
        """Usage events matter to this breaker (stall detection is on)."""
        return self.policy.stall_turns is not None

    @property
    def streak(self) -> int:
        """How many identical tool calls / errors in a row were seen last."""
        return self._streak

    def failures(self, now: float) -> int:
        """Failures inside the window ending at ``now``."""
        self._expire(now)
        return len(self._failures)

    def _expire(self, now: float) -> None:
        horizon = now - self.policy.window_seconds
        failures = self._failures
        while failures and failures[0] <= horizon:
            failures.popleft()

    def _open(self, reason: str, failures: int) -> BreakerOpened:
        self._open_reason = reason
        return BreakerOpened(agent=self.agent, reason=reason, failures=failures)

    # ------------------------------------------------------------------ exits

    def record_exit(self, success: bool, now: float) -> BreakerVerdict:
        """The agent's process ended: count it and say whether to restart, and when."""
        if self.is_open:
            return BreakerVerdict(
                restart=False,
                delay_seconds=0.0,
                reason=f"circuit open ({self._open_reason}); waiting for an operator reset",
                failures=self.failures(now),
            )
        if success:
            return BreakerVerdict(
                restart=False,
                delay_seconds=0.0,
                reason="exited successfully",
                failures=self.failures(now),
            )
        self._expire(now)
        self._failures.append(now)
        count = len(self._failures)
        policy = self.policy
        if count >= policy.max_failures:
            reason = f"{count} failures within {policy.window_seconds:g} s"
            opened = self._open(reason, count)
            return BreakerVerdict(
                restart=False, delay_seconds=0.0, reason=reason, failures=count, opened=opened
            )
        if policy.restart == "never":
            return BreakerVerdict(
                restart=False,
                delay_seconds=0.0,
                reason="failed; restart policy is never",
                failures=count,
            )
        delay = backoff_delay(policy, count)
        return BreakerVerdict(
            restart=True,
            delay_seconds=delay,
            reason=f"failure {count} of {policy.max_failures}; restart in {delay:g} s",
            failures=count,
        )

    # ------------------------------------------------------------------ loops

    def observe(self, event: EventBase) -> BreakerOpened | None:
        """Watch tool calls, errors, turns and the diff; open the circuit on a loop or a stall."""
        if self.is_open or (event.agent is not None and event.agent != self.agent):
            return None
        if isinstance(event, FilesChanged | Usage):
            return self._progress(event)
        if isinstance(event, ToolCall):
            what = f"tool call {tool_call_key(event.name, event.input)}"
        elif isinstance(event, ErrorEvent):
            what = f"error {event.message!r}"
        else:
            return None
        if what == self._streak_key:
            self._streak += 1
        else:
            self._streak_key = what
            self._streak = 1
        limit = self.policy.repeat_limit
        if self._streak < limit:
            return None
        if len(what) > _PREVIEW_CHARS:
            what = what[: _PREVIEW_CHARS - 1] + "…"
        reason = f"same {what} {self._streak} times in a row"
        return self._open(reason, self._streak)

    def _progress(self, event: FilesChanged | Usage) -> BreakerOpened | None:
        limit = self.policy.stall_turns
        if isinstance(event, FilesChanged):
            self._still_turns = 0
            return None
        if limit is None or self._still_turns is None:
            return None
        self._still_turns += max(0, event.turns)
        if self._still_turns < limit:
            return None
        turns = self._still_turns
        return self._open(f"stalled: its diff has not moved for {turns} turns", turns)

    # ------------------------------------------------------------------ operator

    def reset(self, by: str) -> BreakerReset:
        """Close the circuit (the operator's decision, recorded as ``by``): counts start over."""
        self._open_reason = None
        self._failures.clear()
        self._streak_key = None
        self._streak = 0
        if self._still_turns is not None:
            self._still_turns = 0
        return BreakerReset(agent=self.agent, by=by)
