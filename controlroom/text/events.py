"""The sentences of a run, its agents, their spend and the operator's control.

Each is registered for its event type (``registry.words``); the sentences
are public interface (``audit timeline``'s ``step`` field): they must not
change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controlroom.models import (
    AgentCrashed,
    AgentExited,
    AgentOutput,
    AgentPaused,
    AgentResult,
    AgentResumed,
    AgentSpawned,
    AgentStateChanged,
    AuditFailed,
    AuditRecovered,
    BreakerOpened,
    BreakerReset,
    BudgetExceeded,
    BudgetWarning,
    ConfigLoaded,
    ContainmentReady,
    Egress,
    ErrorEvent,
    GateDecided,
    GateExpired,
    GateRequested,
    HandoffEvent,
    HandoffRejected,
    KillCompleted,
    KillRequested,
    LimitExceeded,
    MalformedOutput,
    MeterDisagreement,
    OperatorAction,
    OrphanFound,
    ProxyStarted,
    RequestRefused,
    RunEnded,
    RunStarted,
    SocketRefused,
    StatusEvent,
    StreamCut,
    ToolCall,
    Usage,
)
from controlroom.text.numbers import counted, duration, limit_value, money
from controlroom.text.registry import colon, exit_text, one_line, words

__all__ = ["audit_banner", "describe_containment"]


def metered(tokens: int | None, cost: float | None) -> str:
    """``; metered 1,018,660 tokens, $18.34`` (nothing for a run_ended of an older version)."""
    if tokens is None:
        return ""
    return f"; metered {tokens:,} tokens" + ("" if cost is None else f", {money(cost)}")


def agent_list(names: list[str]) -> str:
    """``no agent``, ``1 agent (a)``, ``3 agents (a, b, c)``."""
    if not names:
        return "no agent"
    return f"{counted(len(names), 'agent')} ({', '.join(names)})"


def audit_banner(audit: Mapping[str, Any]) -> str:
    """What ``status`` and the dashboard say while the audit log cannot be written."""
    frozen = ", ".join(audit.get("frozen") or []) or "none"
    if audit.get("stopping"):
        then = "the swarm is being stopped"
    else:
        then = f"the swarm stops in {duration(audit.get('stops_in_seconds'))} unless it recovers"
    return (
        f"AUDIT LOG CANNOT BE WRITTEN for {duration(audit.get('failing_seconds'))}: "
        f"{one_line(str(audit.get('reason', '')), 400)}; frozen: {frozen}; {then}"
    )


words(RunStarted)(lambda e: f"run started: swarm {e.swarm} ({e.mode}, pid {e.pid})")
words(RunEnded)(
    lambda e: f"run ended: {e.outcome}{colon(e.detail)}{metered(e.total_tokens, e.cost_usd)}"
)
words(ConfigLoaded)(lambda e: f"config loaded from {e.path}: {', '.join(e.agents)}")


@words(ContainmentReady)
def describe_containment(e: ContainmentReady) -> str:
    """``containment: cgroup v2 at … (limits: …)`` or ``containment: process tree (why)``."""
    if e.mode != "cgroup":
        return f"containment: process tree ({e.reason})"
    limits = ", ".join(
        f"{name} not enforced" if how.startswith("unavailable") else f"{name} via {how}"
        for name, how in e.limits.items()
    )
    cleaned = f"; removed {counted(len(e.cleaned), 'leftover cgroup')}" if e.cleaned else ""
    return f"containment: cgroup v2 at {e.path} (limits: {limits or 'none'}){cleaned}"


words(AgentSpawned)(lambda e: f"spawned pid {e.pid} (attempt {e.attempt}) in {e.workspace}")
words(AgentOutput)(lambda e: f"[{e.stream}] {one_line(e.text)}")
words(MalformedOutput)(lambda e: f"malformed {e.stream} line ({e.reason}, {e.length} bytes)")
words(AgentExited)(
    lambda e: (
        f"exited, {'succeeded' if e.success else 'failed'} "
        f"({exit_text(e.returncode, e.signal)}) after {e.duration_seconds:.1f}s"
    )
)
words(AgentCrashed)(lambda e: f"crashed: {one_line(e.reason)}")
words(AgentStateChanged)(lambda e: f"state {e.previous or '?'} → {e.state}{colon(e.reason)}")
words(AgentResult)(
    lambda e: (
        f"result {e.subtype}{' (error)' if e.is_error else ''}, {e.num_turns} turns{colon(e.text)}"
    )
)
words(StatusEvent)(lambda e: f"status: {one_line(e.text)}")
words(ToolCall)(lambda e: f"tool {e.name} {one_line(e.input, 120)}")
words(HandoffRejected)(lambda e: f"handoff rejected: {e.field}: {one_line(e.reason)}")
words(GateRequested)(lambda e: f"gate {e.gate_id} requested ({e.gate_kind}){colon(e.title)}")
words(GateDecided)(
    lambda e: (
        f"gate {e.gate_id} {'approved' if e.approved else 'rejected'} by {e.by}{colon(e.reason)}"
    )
)
words(GateExpired)(
    lambda e: f"gate {e.gate_id} expired after {e.waited_seconds:.0f}s (counts as rejected)"
)
words(BudgetWarning)(
    lambda e: f"budget warning: {e.limit} at {e.fraction:.0%} ({e.value} of {e.cap})"
)
words(BudgetExceeded)(lambda e: f"budget exceeded: {e.limit} {e.value} over cap {e.cap}")
words(LimitExceeded)(
    lambda e: f"limit exceeded: {e.limit} {limit_value(e.limit, e.cap)}{colon(e.detail)}"
)
words(Egress)(
    lambda e: (
        f"egress {e.method} {e.host}:{e.port} "
        + ("allowed" if e.allowed else f"REFUSED{colon(e.reason)}")
    )
)
words(BreakerOpened)(
    lambda e: f"circuit breaker opened after {e.failures} failures{colon(e.reason)}"
)
words(BreakerReset)(lambda e: f"circuit breaker reset by {e.by}")
words(KillRequested)(lambda e: f"kill requested by {e.by}{colon(e.reason)}")
words(KillCompleted)(
    lambda e: (
        f"kill completed{' with SIGKILL' if e.escalated else ''}: "
        f"{counted(e.processes, 'process', 'processes')} in {e.duration_ms:.0f} ms, "
        f"{counted(e.survivors, 'survivor')}"
    )
)
words(AgentPaused)(lambda e: f"paused by {e.by}")
words(AgentResumed)(lambda e: f"resumed by {e.by} after {e.paused_seconds:.0f}s")
words(OperatorAction)(
    lambda e: f"operator {e.by}: {e.action}{' ' + one_line(e.detail) if e.detail else ''}"
)
words(SocketRefused)(
    lambda e: f"refused on the {e.channel} channel: pid {e.pid} (uid {e.uid})"
    f"{' asking ' + one_line(e.op) if e.op else ''}{colon(e.reason)}"
)
words(OrphanFound)(
    lambda e: f"orphan pid {e.pid} from run {e.from_run}{' (killed)' if e.killed else ''}"
)
words(ErrorEvent)(lambda e: f"error: {one_line(e.message)}{' in ' + e.where if e.where else ''}")
words(AuditFailed)(
    lambda e: (
        f"AUDIT LOG CANNOT BE WRITTEN: {one_line(e.reason)}; froze "
        f"{agent_list(e.frozen)}; the swarm stops in {duration(e.grace_seconds)} "
        "unless it recovers"
    )
)
words(AuditRecovered)(
    lambda e: (
        f"audit log written again after {duration(e.failed_seconds)}; thawed "
        f"{agent_list(e.thawed)}"
    )
)


words(ProxyStarted)(
    lambda e: f"metering proxy on {e.url} -> {e.upstream} ({e.credentials} credentials)"
)
words(RequestRefused)(lambda e: f"request refused ({e.limit or e.status}): {one_line(e.reason)}")
words(StreamCut)(
    lambda e: f"stream cut at {e.limit}: {one_line(e.reason)}, after {e.events_relayed} events"
)
words(MeterDisagreement)(
    lambda e: (
        f"meter disagreement ({e.fraction:.0%}): the agent reported "
        f"{e.reported_tokens:,} tokens, {money(e.reported_cost_usd)}; the wire metered "
        f"{e.wire_tokens:,}, {money(e.wire_cost_usd)} (the budget uses the wire)"
    )
)


@words(Usage)
def _usage(e: Usage) -> str:
    text = (
        f"tokens in {e.input_tokens:,} out {e.output_tokens:,}"
        f" cache read {e.cache_read_input_tokens:,}"
        f" cache write {e.cache_creation_input_tokens:,} ${e.cost_usd:.4f}"
    )
    return text + (f" ({e.model})" if e.model else "")


@words(HandoffEvent)
def _handoff(e: HandoffEvent) -> str:
    h = e.handoff
    return (
        f"handoff (attempt {e.attempt}): changed: {one_line(h.changed, 60)}"
        f" | next: {one_line(h.next_needs, 60)} | risks: {one_line(h.risks, 60)}"
    )
