"""One line of plain English per significant event, for the headless log and alerts.

Shared by ``controlroom run --headless`` and the dashboard's toasts, so an
operator reads the same words wherever they look. Events that are not worth
a line on their own (usage deltas, log output, state changes the other
events already tell) describe to ``None``.
"""

from __future__ import annotations

import time

from controlroom.models import (
    AgentCrashed,
    AgentExited,
    AgentPaused,
    AgentResumed,
    AgentSpawned,
    AgentState,
    AgentStateChanged,
    BreakerOpened,
    BreakerReset,
    BudgetExceeded,
    BudgetWarning,
    EventBase,
    GateDecided,
    GateExpired,
    GateRequested,
    HandoffEvent,
    HandoffRejected,
    KillCompleted,
    KillRequested,
    OperatorAction,
    OrphanFound,
    RunEnded,
    RunStarted,
)

__all__ = ["describe", "format_line", "format_limit_value"]


def format_limit_value(limit: str, value: float) -> str:
    if "cost" in limit:
        return f"${value:,.4f}"
    if "seconds" in limit:
        return f"{value:,.1f}s"
    return f"{value:,.0f}"


def describe(event: EventBase) -> str | None:  # noqa: C901 - one branch per kind reads best
    """The event in words, or None when it is not worth a line of its own."""
    if isinstance(event, AgentSpawned):
        attempt = f" (attempt {event.attempt})" if event.attempt > 1 else ""
        return f"spawned pid {event.pid}{attempt}"
    if isinstance(event, AgentExited):
        how = event.signal or f"code {event.returncode}"
        return f"exited ({how}) after {event.duration_seconds:.1f}s" + (
            "" if event.success else ": failure"
        )
    if isinstance(event, AgentCrashed):
        return f"crashed: {event.reason}"
    if isinstance(event, BudgetWarning):
        return (
            f"budget warning: {event.limit} at {event.fraction:.0%} "
            f"({format_limit_value(event.limit, event.value)} of "
            f"{format_limit_value(event.limit, event.cap)})"
        )
    if isinstance(event, BudgetExceeded):
        return (
            f"BUDGET STOP: {event.limit} reached "
            f"({format_limit_value(event.limit, event.value)} of "
            f"{format_limit_value(event.limit, event.cap)}, overshoot "
            f"{format_limit_value(event.limit, event.overshoot)})"
        )
    if isinstance(event, BreakerOpened):
        return f"BREAKER OPEN: {event.reason}"
    if isinstance(event, BreakerReset):
        return f"breaker reset by {event.by}"
    if isinstance(event, KillRequested):
        return f"kill requested by {event.by}: {event.reason}"
    if isinstance(event, KillCompleted):
        forced = ", SIGKILL needed" if event.escalated else ""
        return (
            f"killed {event.processes} process(es) in {event.duration_ms:.1f} ms, "
            f"{event.survivors} survivors{forced}"
        )
    if isinstance(event, AgentPaused):
        return f"paused by {event.by}"
    if isinstance(event, AgentResumed):
        return f"resumed by {event.by} after {event.paused_seconds:.1f}s"
    if isinstance(event, HandoffEvent):
        return f"handoff: {event.handoff.changed[:80]}"
    if isinstance(event, HandoffRejected):
        return f"handoff rejected: {event.reason}"
    if isinstance(event, GateRequested):
        title = event.title or event.gate_kind
        return f"gate {event.gate_id} waiting: {title}"
    if isinstance(event, GateDecided):
        verdict = "approved" if event.approved else "rejected"
        why = f": {event.reason}" if event.reason else ""
        return f"gate {event.gate_id} {verdict} by {event.by}{why}"
    if isinstance(event, GateExpired):
        return f"gate {event.gate_id} expired after {event.waited_seconds:.0f}s (rejected)"
    if isinstance(event, OrphanFound):
        return (
            f"ORPHAN: pid {event.pid} of run {event.from_run} is still running"
            + (" (killed)" if event.killed else "")
        )
    if isinstance(event, OperatorAction):
        return f"{event.action} by {event.by}"
    if isinstance(event, AgentStateChanged) and event.state == AgentState.BLOCKED:
        return f"blocked: {event.reason}"
    if isinstance(event, RunStarted):
        return f"run started: swarm {event.swarm} (pid {event.pid})"
    if isinstance(event, RunEnded):
        return f"run ended: {event.outcome}" + (f" ({event.detail})" if event.detail else "")
    return None


def format_line(event: EventBase, text: str) -> str:
    """``02:03:04 #57  runaway       BUDGET STOP: …`` (local time)."""
    clock = time.strftime("%H:%M:%S", time.localtime(event.ts))
    return f"{clock} #{event.seq:<6} {event.agent or '-':<14} {text}"
