"""Events of a run and of its agents' lives: start, output, state, exit.

What the supervisor and the adapters publish as agents come and go; the
headless log and the timeline tell a run from these.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from controlroom.models.config import Budget
from controlroom.models.event_base import EventBase
from controlroom.models.pricing import Pricing

__all__ = [
    "AgentCrashed",
    "AgentExited",
    "AgentOutput",
    "AgentResult",
    "AgentSpawned",
    "AgentStateChanged",
    "ConfigLoaded",
    "ContainmentReady",
    "ErrorEvent",
    "MalformedOutput",
    "OrphanFound",
    "RunEnded",
    "RunStarted",
    "StatusEvent",
    "ToolCall",
]


class RunStarted(EventBase):
    kind: Literal["run_started"] = "run_started"
    swarm: str
    pid: int
    version: str = ""
    mode: str = "headless"  # headless, tui, demo


class RunEnded(EventBase):
    """How a run ended, and what its meters counted: the log's own statement of the spend,
    which the usage rows before it must add up to (``audit runs`` checks)."""

    kind: Literal["run_ended"] = "run_ended"
    outcome: str  # "success", "failed", "stopped", "interrupted", "audit_failed"
    detail: str = ""
    total_tokens: int | None = None
    cost_usd: float | None = None


class ContainmentReady(EventBase):
    """How this run contains its agents, and why (published right after ``run_started``).

    ``mode`` is ``cgroup`` (each agent in its own cgroup: kill, pause and
    limits by the kernel) or ``process-tree`` (the tree walk plus the
    environment-marker sweep); ``reason`` says why the other was not used.
    ``limits`` maps each limit controller to how it is enforced here (or why
    not); ``cgroups`` lists every cgroup directory this run made, so the next
    start can clean up after a crash; ``cleaned`` the leftovers of earlier
    runs this start removed.
    """

    kind: Literal["containment"] = "containment"
    mode: Literal["cgroup", "process-tree"]
    path: str = ""
    reason: str = ""
    limits: dict[str, str] = Field(default_factory=dict)
    cgroups: list[str] = Field(default_factory=list)
    cleaned: list[str] = Field(default_factory=list)


class ConfigLoaded(EventBase):
    kind: Literal["config_loaded"] = "config_loaded"
    path: str
    agents: list[str]
    sha256: str = ""
    # What ``controlroom replay`` needs to rebuild the dashboard from the log alone
    # (policy/swarmfold.py); empty in logs written before replay existed.
    budgets: dict[str, Budget] = Field(default_factory=dict)
    after: dict[str, list[str]] = Field(default_factory=dict)
    formats: dict[str, str] = Field(default_factory=dict)
    max_cost_usd: float | None = None
    pricing: dict[str, Pricing] = Field(default_factory=dict)


class OrphanFound(EventBase):
    """An agent of an earlier run still alive when the control room started."""

    kind: Literal["orphan_found"] = "orphan_found"
    pid: int
    create_time: float
    from_run: str
    killed: bool = False


class AgentSpawned(EventBase):
    kind: Literal["agent_spawned"] = "agent_spawned"
    pid: int
    create_time: float
    argv: list[str]
    workspace: str
    attempt: int = 1
    cgroup: str = ""  # the agent's own cgroup, when the run contains agents in cgroups
    sandbox: str = ""  # "workspace" when it runs under bubblewrap
    allow_hosts: list[str] = Field(default_factory=list)  # its egress allowlist, if sandboxed


class AgentOutput(EventBase):
    """A log line from an agent (stdout that is not protocol, or stderr)."""

    kind: Literal["agent_output"] = "agent_output"
    stream: Literal["stdout", "stderr"] = "stdout"
    text: str


class MalformedOutput(EventBase):
    """A line that could not be read: too long, not UTF-8, binary, broken JSON."""

    kind: Literal["malformed_output"] = "malformed_output"
    stream: Literal["stdout", "stderr"] = "stdout"
    reason: str
    preview: str = ""
    length: int = 0


class AgentExited(EventBase):
    kind: Literal["agent_exited"] = "agent_exited"
    returncode: int | None
    signal: str | None = None  # e.g. "SIGTERM" when it died of a signal
    success: bool
    duration_seconds: float = 0.0


class AgentStateChanged(EventBase):
    """Every transition of an agent's state (see ``AgentState``), with why."""

    kind: Literal["agent_state"] = "agent_state"
    state: str
    previous: str = ""
    reason: str = ""


class AgentCrashed(EventBase):
    """An agent could not be started, or its process was lost unexpectedly."""

    kind: Literal["agent_crashed"] = "agent_crashed"
    reason: str


class AgentResult(EventBase):
    """An agent's own final report (Claude Code's ``result`` event)."""

    kind: Literal["agent_result"] = "agent_result"
    is_error: bool
    subtype: str = ""
    num_turns: int | None = None
    reported_cost_usd: float | None = None
    text: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)


class StatusEvent(EventBase):
    kind: Literal["status"] = "status"
    text: str
    extra: dict[str, Any] = Field(default_factory=dict)


class ToolCall(EventBase):
    kind: Literal["tool_call"] = "tool_call"
    name: str
    input: dict[str, Any] = Field(default_factory=dict)
    tool_use_id: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class ErrorEvent(EventBase):
    """An error an agent reported (native ``error``) or the control room met."""

    kind: Literal["error"] = "error"
    message: str
    where: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)
