"""The one wording of every event, and the one way to write each kind of number.

Every surface that puts an event into words says it the same way: the
headless and detached logs, ``controlroom audit list``/``show``/``timeline``,
the dashboard's toasts, agent log tails and audit screen. ``describe`` takes a
typed event (stored payloads and control-API dicts are parsed first, with
``describe_payload``); the sentences are the ones ``audit timeline --format
jsonl`` has always carried in its ``step`` field, which is public interface,
so they must not change. ``worth_a_line`` says which events the logs print.

Every sentence is inert (``controlroom.inert``): whatever an agent wrote
into an event (a status, a tool, an error, a gate title) comes out without
a control or escape sequence, on one line, so no surface that prints a
sentence can have its terminal driven by an agent. The events themselves,
and the audit log, keep the original.

The formatters (tokens, money, durations, limits) are the only ones: a
screen, a table or a sentence that shows a number of that kind calls one of
them. Imports ``models`` and ``inert`` only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple, TypeVar

from pydantic import ValidationError

from controlroom.inert import inert_line
from controlroom.models import (
    EVENT_ADAPTER,
    AgentCrashed,
    AgentExited,
    AgentOutput,
    AgentPaused,
    AgentResult,
    AgentResumed,
    AgentSpawned,
    AgentState,
    AgentStateChanged,
    AuditFailed,
    AuditRecovered,
    BreakerOpened,
    BreakerReset,
    BudgetExceeded,
    BudgetWarning,
    CollisionCleared,
    CollisionFound,
    ConfigLoaded,
    ContainmentReady,
    Egress,
    ErrorEvent,
    EventBase,
    FileChange,
    FilesChanged,
    GateDecided,
    GateExpired,
    GateRequested,
    HandoffChecked,
    HandoffEvent,
    HandoffRejected,
    IntegrationReady,
    KillCompleted,
    KillRequested,
    LimitExceeded,
    MalformedOutput,
    MergeCompleted,
    MergeRefused,
    MergeSkipped,
    MeterDisagreement,
    NotificationFailed,
    NotificationSent,
    OperatorAction,
    OrphanFound,
    ProxyStarted,
    RequestRefused,
    RunEnded,
    RunStarted,
    ScopeViolation,
    StatusEvent,
    StreamCut,
    ToolCall,
    Usage,
)

__all__ = [
    "BASE_KEYS",
    "LIMITS",
    "LOG_KINDS",
    "LimitName",
    "bytes_short",
    "changes_cell",
    "changes_summary",
    "describe",
    "describe_containment",
    "describe_payload",
    "duration",
    "exit_text",
    "file_line",
    "format_line",
    "limit_label",
    "limit_value",
    "money",
    "one_line",
    "rate_per_hour",
    "tokens",
    "tokens_short",
    "worth_a_line",
]

BASE_KEYS = frozenset({"run", "seq", "ts", "agent", "kind"})
"""Keys every stored event has; the rest are the event's own fields."""

# --------------------------------------------------------------------------- numbers


def tokens(value: float | None) -> str:
    """``1,234,567``: a token count, exact."""
    return "-" if value is None else f"{int(value):,}"


def tokens_short(value: float | None) -> str:
    """``950``, ``12.3k``, ``4.56M``: a token count in at most six characters."""
    if value is None:
        return "-"
    n = float(value)
    if abs(n) < 1000:
        return f"{n:.0f}"
    if abs(n) < 1_000_000:
        return f"{n / 1000:.1f}k"
    if abs(n) < 1_000_000_000:
        return f"{n / 1_000_000:.2f}M"
    return f"{n / 1_000_000_000:.2f}G"


def money(value: float | None) -> str:
    """``$0.0123`` below a dollar (agents spend cents), ``$12.34`` above."""
    if value is None:
        return "-"
    if abs(value) < 1:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def rate_per_hour(value: float | None) -> str:
    """A burn rate in dollars per hour."""
    return "-" if value is None else f"{money(value)}/h"


def duration(seconds: float | None) -> str:
    """``42s``, ``3m07s``, ``30m``, ``1h02m``, ``2d03h``: the two largest units, whole seconds."""
    if seconds is None:
        return "-"
    total = max(0, int(seconds))
    for big, small, size, small_size in (("d", "h", 86_400, 3600), ("h", "m", 3600, 60)):
        if total >= size:
            whole, rest = divmod(total, size)
            part = rest // small_size
            return f"{whole}{big}{part:02d}{small}" if part else f"{whole}{big}"
    minutes, secs = divmod(total, 60)
    if minutes:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    return f"{secs}s"


def bytes_short(value: float | None) -> str:
    """``512K``, ``45M``, ``1.2G``."""
    if value is None:
        return "-"
    n = float(value)
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            scaled = n / size
            return f"{scaled:.1f}{unit}" if scaled < 10 else f"{scaled:.0f}{unit}"
    return f"{n:.0f}B"


class LimitName(NamedTuple):
    label: str  # in a sentence: "tokens 360 / 200,000"
    short: str  # in a narrow column
    unit: Literal["tokens", "usd", "seconds", "count", "bytes", "cpus"]


LIMITS: Mapping[str, LimitName] = {
    "max_tokens": LimitName("tokens", "tok", "tokens"),
    "max_cost_usd": LimitName("cost", "cost", "usd"),
    "max_wall_seconds": LimitName("wall time", "time", "seconds"),
    "max_turns": LimitName("turns", "turns", "count"),
    "swarm_max_cost_usd": LimitName("swarm cost", "swarm", "usd"),
    "memory_max": LimitName("memory", "mem", "bytes"),
    "pids_max": LimitName("processes", "pids", "count"),
    "cpu_max": LimitName("CPU", "cpu", "cpus"),  # "CPU 1.5 cores"
}
"""Every budget and kernel limit by its config key: what to call it, and its unit."""


def limit_label(limit: str, *, short: bool = False) -> str:
    name = LIMITS.get(limit)
    if name is None:
        return limit
    return name.short if short else name.label


def limit_value(limit: str, value: float | None, *, short: bool = False) -> str:
    """``5,000`` (short: ``5.0k``) tokens, ``$0.0123``, ``3m07s``: a value in its limit's unit."""
    if value is None:
        return "-"
    unit = LIMITS[limit].unit if limit in LIMITS else "count"
    if unit == "usd":
        return money(value)
    if unit == "seconds":
        return duration(value)
    if unit == "bytes":
        return bytes_short(value)
    if unit == "cpus":
        return f"{value:g} cores"
    if unit == "tokens" and short:
        return tokens_short(value)
    return tokens(value)


# --------------------------------------------------------------------------- words


def one_line(value: Any, limit: int = 160) -> str:
    """``value`` on one line (JSON for data), inert, cut at ``limit`` characters with ``…``."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = inert_line(" ⏎ ".join(part.strip() for part in text.strip().splitlines()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def exit_text(returncode: int | None, signal: str | None) -> str:
    """``killed by SIGTERM`` or ``exit code 3``."""
    return f"killed by {signal}" if signal else f"exit code {returncode}"


def _colon(value: str) -> str:
    return f": {one_line(value)}" if value else ""


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


def _metered(tokens: int | None, cost: float | None) -> str:
    """``; metered 1,018,660 tokens, $18.34`` (nothing for a run_ended of an older version)."""
    if tokens is None:
        return ""
    return f"; metered {tokens:,} tokens" + ("" if cost is None else f", {money(cost)}")


def _agents(names: list[str]) -> str:
    """``no agent``, ``1 agent (a)``, ``3 agents (a, b, c)``."""
    if not names:
        return "no agent"
    return f"{len(names)} agent{'s' if len(names) != 1 else ''} ({', '.join(names)})"


E = TypeVar("E", bound=EventBase)
_WORDS: dict[type[EventBase], Callable[[Any], str]] = {}


def _words(kind: type[E]) -> Callable[[Callable[[E], str]], Callable[[E], str]]:
    def register(describer: Callable[[E], str]) -> Callable[[E], str]:
        _WORDS[kind] = describer
        return describer

    return register


def describe(event: EventBase) -> str:
    """The event in words: one line of plain English, inert whatever the agent wrote."""
    describer = _WORDS.get(type(event))
    if describer is None:  # a kind without a sentence yet: its fields, as data
        fields = event.model_dump(mode="json", exclude=set(BASE_KEYS))
        return one_line({k: fields[k] for k in sorted(fields)})
    return inert_line(describer(event))


def describe_payload(data: Mapping[str, Any]) -> str:
    """A stored payload or control-API event dict in words (parsed into its event first)."""
    try:
        event = EVENT_ADAPTER.validate_python(dict(data))
    except ValidationError:  # not a current event (an older or damaged record): its fields
        return one_line({k: data[k] for k in sorted(data) if k not in BASE_KEYS})
    return describe(event)


_words(RunStarted)(lambda e: f"run started: swarm {e.swarm} ({e.mode}, pid {e.pid})")
_words(RunEnded)(
    lambda e: f"run ended: {e.outcome}{_colon(e.detail)}{_metered(e.total_tokens, e.cost_usd)}"
)
_words(ConfigLoaded)(lambda e: f"config loaded from {e.path}: {', '.join(e.agents)}")


@_words(ContainmentReady)
def describe_containment(e: ContainmentReady) -> str:
    """``containment: cgroup v2 at … (limits: …)`` or ``containment: process tree (why)``."""
    if e.mode != "cgroup":
        return f"containment: process tree ({e.reason})"
    limits = ", ".join(
        f"{name} not enforced" if how.startswith("unavailable") else f"{name} via {how}"
        for name, how in e.limits.items()
    )
    cleaned = f"; removed {len(e.cleaned)} leftover cgroup(s)" if e.cleaned else ""
    return f"containment: cgroup v2 at {e.path} (limits: {limits or 'none'}){cleaned}"


_words(AgentSpawned)(
    lambda e: f"spawned pid {e.pid} (attempt {e.attempt}) in {e.workspace}"
)
_words(AgentOutput)(lambda e: f"[{e.stream}] {one_line(e.text)}")
_words(MalformedOutput)(
    lambda e: f"malformed {e.stream} line ({e.reason}, {e.length} bytes)"
)
_words(AgentExited)(
    lambda e: f"exited, {'succeeded' if e.success else 'failed'} "
    f"({exit_text(e.returncode, e.signal)}) after {e.duration_seconds:.1f}s"
)
_words(AgentCrashed)(lambda e: f"crashed: {one_line(e.reason)}")
_words(AgentStateChanged)(
    lambda e: f"state {e.previous or '?'} → {e.state}{_colon(e.reason)}"
)
_words(AgentResult)(
    lambda e: f"result {e.subtype}{' (error)' if e.is_error else ''}, {e.num_turns} turns"
    f"{_colon(e.text)}"
)
_words(StatusEvent)(lambda e: f"status: {one_line(e.text)}")
_words(ToolCall)(lambda e: f"tool {e.name} {one_line(e.input, 120)}")
_words(HandoffRejected)(lambda e: f"handoff rejected: {e.field}: {one_line(e.reason)}")
_words(GateRequested)(
    lambda e: f"gate {e.gate_id} requested ({e.gate_kind}){_colon(e.title)}"
)
_words(GateDecided)(
    lambda e: f"gate {e.gate_id} {'approved' if e.approved else 'rejected'} by {e.by}"
    f"{_colon(e.reason)}"
)
_words(GateExpired)(
    lambda e: f"gate {e.gate_id} expired after {e.waited_seconds:.0f}s (counts as rejected)"
)
_words(BudgetWarning)(
    lambda e: f"budget warning: {e.limit} at {e.fraction:.0%} ({e.value} of {e.cap})"
)
_words(BudgetExceeded)(lambda e: f"budget exceeded: {e.limit} {e.value} over cap {e.cap}")
_words(LimitExceeded)(
    lambda e: f"limit exceeded: {e.limit} {limit_value(e.limit, e.cap)}{_colon(e.detail)}"
)
_words(Egress)(
    lambda e: f"egress {e.method} {e.host}:{e.port} "
    + ("allowed" if e.allowed else f"REFUSED{_colon(e.reason)}")
)
_words(BreakerOpened)(
    lambda e: f"circuit breaker opened after {e.failures} failures{_colon(e.reason)}"
)
_words(BreakerReset)(lambda e: f"circuit breaker reset by {e.by}")
_words(KillRequested)(lambda e: f"kill requested by {e.by}{_colon(e.reason)}")
_words(KillCompleted)(
    lambda e: f"kill completed{' with SIGKILL' if e.escalated else ''}: {e.processes} "
    f"processes in {e.duration_ms:.0f} ms, {e.survivors} survivors"
)
_words(AgentPaused)(lambda e: f"paused by {e.by}")
_words(AgentResumed)(lambda e: f"resumed by {e.by} after {e.paused_seconds:.0f}s")
_words(OperatorAction)(
    lambda e: f"operator {e.by}: {e.action}{' ' + one_line(e.detail) if e.detail else ''}"
)
_words(OrphanFound)(
    lambda e: f"orphan pid {e.pid} from run {e.from_run}{' (killed)' if e.killed else ''}"
)
_words(ErrorEvent)(
    lambda e: f"error: {one_line(e.message)}{' in ' + e.where if e.where else ''}"
)
_words(AuditFailed)(
    lambda e: f"AUDIT LOG CANNOT BE WRITTEN: {one_line(e.reason)}; froze "
    f"{_agents(e.frozen)}; the swarm stops in {duration(e.grace_seconds)} unless it recovers"
)
_words(AuditRecovered)(
    lambda e: f"audit log written again after {duration(e.failed_seconds)}; thawed "
    f"{_agents(e.thawed)}"
)


_words(ProxyStarted)(
    lambda e: f"metering proxy on {e.url} -> {e.upstream} ({e.credentials} credentials)"
)
_words(RequestRefused)(
    lambda e: f"request refused ({e.limit or e.status}): {one_line(e.reason)}"
)
_words(StreamCut)(
    lambda e: f"stream cut at {e.limit}: {one_line(e.reason)}, after {e.events_relayed} events"
)
_words(MeterDisagreement)(
    lambda e: f"meter disagreement ({e.fraction:.0%}): the agent reported "
    f"{e.reported_tokens:,} tokens, {money(e.reported_cost_usd)}; the wire metered "
    f"{e.wire_tokens:,}, {money(e.wire_cost_usd)} (the budget uses the wire)"
)


@_words(Usage)
def _usage(e: Usage) -> str:
    text = (
        f"tokens in {e.input_tokens:,} out {e.output_tokens:,}"
        f" cache read {e.cache_read_input_tokens:,}"
        f" cache write {e.cache_creation_input_tokens:,} ${e.cost_usd:.4f}"
    )
    return text + (f" ({e.model})" if e.model else "")


@_words(HandoffEvent)
def _handoff(e: HandoffEvent) -> str:
    h = e.handoff
    return (
        f"handoff (attempt {e.attempt}): changed: {one_line(h.changed, 60)}"
        f" | next: {one_line(h.next_needs, 60)} | risks: {one_line(h.risks, 60)}"
    )


# --------------------------------------------------------------------------- workspaces


def _files(count: int) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


@_words(FilesChanged)
def _files_changed(e: FilesChanged) -> str:
    if not e.file_count:
        return f"no changes against {e.base[:7]}"
    return f"changed {_files(e.file_count)} (+{e.added} -{e.removed}) against {e.base[:7]}"


@_words(HandoffChecked)
def _handoff_checked(e: HandoffChecked) -> str:
    found = len(e.discrepancies)
    claims = f"{found} discrepanc{'y' if found == 1 else 'ies'}" if found else "it matches"
    return f"handoff held against {_files(e.file_count)}: {claims}; {e.verdict}"


@_words(MergeRefused)
def _merge_refused(e: MergeRefused) -> str:
    why = f"conflicts in {', '.join(e.conflicts)}" if e.conflicts else one_line(e.reason)
    return f"merge into {e.into} refused: {why}"


_STATUS_MARKS = {"added": "A", "modified": "M", "deleted": "D"}


def file_line(change: FileChange) -> str:
    """``M  src/client.py  +12 -3``: one changed file as the gate screen and ``diff`` list it."""
    mark = _STATUS_MARKS.get(change.status, "?")
    return f"{mark}  {inert_line(change.path)}  {change.counts()}"


def changes_summary(count: int, added: int, removed: int) -> str:
    """``3 files, +52 -3``: the whole of a change set."""
    return f"{_files(count)}, +{added} -{removed}"


def changes_cell(count: int, added: int, removed: int) -> str:
    """``3 +52-3``: the agent table's files-changed cell (``0`` for no change)."""
    return f"{count} +{added}-{removed}" if count else "0"


_words(CollisionFound)(lambda e: f"collision ({e.collision_kind}) {e.path}: {one_line(e.detail)}")
_words(CollisionCleared)(
    lambda e: f"collision cleared ({e.collision_kind}) {e.path}: {', '.join(e.agents)}"
)
_words(ScopeViolation)(lambda e: f"scope violation: {e.path} {one_line(e.detail)}")
_words(IntegrationReady)(
    lambda e: f"integration branch {e.branch} {'made' if e.created else 'found'} "
    f"at {e.commit[:7]}"
)
_words(MergeCompleted)(
    lambda e: f"merged into {e.into} as {e.commit[:7]} ({_files(e.files)})"
)
_words(MergeSkipped)(
    lambda e: f"approved without merging into {e.into} by {e.by}{_colon(e.reason)}"
)


# --------------------------------------------------------------------------- notifications


def _tries(attempts: int) -> str:
    return f"{attempts} attempt{'' if attempts == 1 else 's'}"


def _by(channel: str, target: str) -> str:
    return f"{channel} {target}" if target and target != channel else channel


_words(NotificationSent)(
    lambda e: f"notified {e.notice} by {_by(e.channel, e.target)} ({e.notify}; "
    f"{_tries(e.attempts)}, {e.duration_ms:.0f} ms)"
)
_words(NotificationFailed)(
    lambda e: f"notification of {e.notice} by {_by(e.channel, e.target)} FAILED after "
    f"{_tries(e.attempts)} ({e.notify}){_colon(one_line(e.error))}"
)


def notice_text(swarm: str, notice: str, event: EventBase, waited: float | None = None) -> str:
    """What a notification says: ``[swarm] agent: gate_waiting for 5:00: gate g-1 requested…``."""
    who = f"{event.agent}: " if event.agent else ""
    wait = f" for {duration(waited)}" if waited is not None else ""
    return inert_line(f"[{swarm}] {who}{notice.replace('_', ' ')}{wait}: {describe(event)}")


# --------------------------------------------------------------------------- the log


LOG_KINDS = frozenset(
    {
        "run_started",
        "run_ended",
        "agent_spawned",
        "agent_exited",
        "agent_crashed",
        "budget_warning",
        "budget_exceeded",
        "limit_exceeded",
        "containment",
        "egress",
        "breaker_opened",
        "breaker_reset",
        "kill_requested",
        "kill_completed",
        "agent_paused",
        "agent_resumed",
        "handoff",
        "handoff_rejected",
        "gate_requested",
        "gate_decided",
        "gate_expired",
        "orphan_found",
        "operator_action",
        "proxy_started",
        "request_refused",
        "stream_cut",
        "meter_disagreement",
        "collision",
        "collision_cleared",
        "scope_violation",
        "handoff_checked",
        "integration_ready",
        "merge_completed",
        "merge_refused",
        "merge_skipped",
        "audit_failed",
        "audit_recovered",
        "notification_sent",
        "notification_failed",
    }
)
"""Kinds the headless and detached logs print a line for (usage and output stay in the log)."""


def worth_a_line(event: EventBase) -> bool:
    """Whether a log prints ``event``: the kinds above, an agent blocked by its upstream, and a
    change set once git confirmed it (the watcher's quick looks between stay in the log)."""
    kind: str = getattr(event, "kind", "")
    if kind in LOG_KINDS:
        return True
    if isinstance(event, FilesChanged):
        return event.confirmed
    return isinstance(event, AgentStateChanged) and event.state == AgentState.BLOCKED


def format_line(event: EventBase) -> str:
    """``02:03:04 #57     runaway        budget exceeded: …`` (local time)."""
    clock = time.strftime("%H:%M:%S", time.localtime(event.ts))
    return f"{clock} #{event.seq:<6} {event.agent or '-':<14} {describe(event)}"
