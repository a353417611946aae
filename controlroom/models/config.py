"""The config schema: what a validated ``config.toml`` is (``controlroom.config`` loads it).

Frozen pydantic models, extra keys forbidden; the loader turns their
validation errors into file:line:key messages.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from controlroom.models.pricing import DEFAULT_PRICING, Pricing

__all__ = [
    "AGENT_NAME_PATTERN",
    "BUDGET_WARNING_PERCENT",
    "AgentFormat",
    "AgentSpec",
    "Breaker",
    "Budget",
    "Containment",
    "Limits",
    "ProxySettings",
    "SwarmConfig",
    "SwarmSettings",
]

AGENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""Agent names end up in paths, branch names and env values: keep them boring."""

AgentFormat = Literal["native", "claude-code", "plain"]

BUDGET_WARNING_PERCENT = 80
"""A limit used up to this percentage gets its one ``budget_warning`` (and a warning colour).

A whole number, so the governor's hot path compares integers exactly:
``value * 100 >= cap * BUDGET_WARNING_PERCENT``."""

_DAY = 86_400.0
_MAX_USD = 1_000_000.0
"""The highest cost cap a config may set (an agent's or the swarm's)."""


Containment = Literal["auto", "cgroup", "process-tree"]
"""How agents are contained: ``auto`` (a cgroup each where one can be made, else the process
tree), ``cgroup`` (refuse to start without), ``process-tree`` (never make cgroups)."""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)


def _parse_size(value: object) -> object:
    """``"512M"`` → 536870912 (powers of 1024, as systemd's MemoryMax); ints pass through."""
    if not isinstance(value, str):
        return value
    match = _SIZE.match(value)
    if match is None:
        raise ValueError(f"must be a size: bytes, or a number with K, M, G or T (got {value!r})")
    return int(float(match[1]) * 1024 ** "_KMGT".index(match[2].upper() or "_"))


ByteSize = Annotated[int, BeforeValidator(_parse_size), Field(ge=1 << 20, le=1 << 46)]
"""Bytes, at least 1 MiB (less would kill a shell at once) and at most 64 TiB."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Budget(_Strict):
    """Hard limits for one agent. ``None`` means no limit of that kind.

    Every number has a sane upper bound as well: a limit of 1e308 is no limit,
    and a grace of 1e308 seconds is a kill that never ends.
    """

    max_tokens: int | None = Field(default=None, gt=0, le=10_000_000_000)
    max_cost_usd: float | None = Field(default=None, gt=0, le=_MAX_USD)
    max_wall_seconds: float | None = Field(default=None, gt=0, le=30 * _DAY)
    max_turns: int | None = Field(default=None, gt=0, le=1_000_000)
    kill_grace_seconds: float = Field(default=5.0, ge=0, le=600)


class Limits(_Strict):
    """What one agent's cgroup may use; ``None`` means no limit. Enforced by the kernel.

    ``memory_max`` in bytes (or ``"512M"``); over it the kernel's OOM killer
    strikes and the agent is stopped. ``pids_max`` caps processes and threads;
    a refused fork stops the agent. ``cpu_max`` is in CPUs (``0.5`` = half a
    core) and only throttles.
    """

    memory_max: ByteSize | None = None
    pids_max: int | None = Field(default=None, gt=0, le=4_194_304)  # the kernel's pid_max cap
    cpu_max: float | None = Field(default=None, gt=0, le=1024)

    def is_empty(self) -> bool:
        return self.memory_max is None and self.pids_max is None and self.cpu_max is None


class Breaker(_Strict):
    """Restart policy and circuit breaker for one agent."""

    restart: Literal["never", "on-failure"] = "never"
    max_failures: int = Field(default=3, gt=0, le=1000)
    window_seconds: float = Field(default=300.0, gt=0, le=7 * _DAY)
    repeat_limit: int = Field(default=5, gt=1, le=10_000)
    backoff_seconds: float = Field(default=1.0, ge=0, le=3600)
    backoff_max_seconds: float = Field(default=30.0, ge=0, le=_DAY)


class AgentSpec(_Strict):
    """One ``[[agents]]`` entry, with ``[defaults]`` already merged in."""

    name: str = Field(pattern=AGENT_NAME_PATTERN)
    command: list[str] = Field(min_length=1)
    format: AgentFormat = "native"
    workspace: str = "shared"  # "worktree", "shared", or a path
    env: list[str] = Field(default_factory=list)
    secret_env: list[str] = Field(default_factory=list)
    task: str = ""
    after: list[str] = Field(default_factory=list)
    gate: Literal["human", "auto"] = "auto"
    gate_timeout_seconds: float = Field(default=3600.0, gt=0, le=7 * _DAY)
    on_reject: Literal["retry", "stop"] = "stop"
    max_attempts: int = Field(default=3, gt=0, le=100)
    gate_tools: list[str] = Field(default_factory=list)
    budget: Budget = Field(default_factory=Budget)
    breaker: Breaker = Field(default_factory=Breaker)
    limits: Limits = Field(default_factory=Limits)

    @field_validator("command")
    @classmethod
    def _command_not_blank(cls, value: list[str]) -> list[str]:
        if not value[0].strip():
            raise ValueError("the program (first element) must not be empty")
        return value


class SwarmSettings(_Strict):
    name: str = Field(default="swarm", min_length=1)
    audit_db: str = "controlroom.db"
    run_dir: str = ".controlroom"
    theme: str = "control-room"
    max_cost_usd: float | None = Field(default=None, gt=0, le=_MAX_USD)
    handoff_max_chars: int = Field(default=2000, gt=0, le=100_000)
    anchor_file: str | None = None  # where every run end appends the audit head (store.anchor)
    containment: Containment = "auto"


class ProxySettings(_Strict):
    upstream: str = "https://api.anthropic.com"
    upstream_key_env: str = "ANTHROPIC_API_KEY"


class SwarmConfig(_Strict):
    """A whole, validated swarm config. Build it with ``controlroom.config.load_config``."""

    swarm: SwarmSettings = Field(default_factory=SwarmSettings)
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    agents: list[AgentSpec] = Field(default_factory=list)
    pricing: dict[str, Pricing] = Field(default_factory=lambda: dict(DEFAULT_PRICING))
    source: str = ""  # the file it came from, for messages

    def agent(self, name: str) -> AgentSpec:
        for spec in self.agents:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def price_for(self, model: str | None) -> Pricing:
        if model and model in self.pricing:
            return self.pricing[model]
        if model:
            best = max((k for k in self.pricing if model.startswith(k)), key=len, default=None)
            if best is not None:
                return self.pricing[best]
        return self.pricing.get("default", DEFAULT_PRICING["default"])

    def secret_env_names(self) -> list[str]:
        """Every env var whose value must never reach the audit log."""
        names = {self.proxy.upstream_key_env}
        for spec in self.agents:
            names.update(spec.secret_env)
        return sorted(names)

    def secret_values(self, environ: dict[str, str] | None = None) -> list[str]:
        env = os.environ if environ is None else environ
        return [env[n] for n in self.secret_env_names() if env.get(n)]
