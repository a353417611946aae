"""The config schema: what a validated ``config.toml`` is (``controlroom.config`` loads it).

Frozen pydantic models, extra keys forbidden; the loader turns their
validation errors into file:line:key messages.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from controlroom.models.pricing import DEFAULT_PRICING, Pricing

__all__ = [
    "AGENT_NAME_PATTERN",
    "BUDGET_WARNING_PERCENT",
    "AgentFormat",
    "AgentSpec",
    "Breaker",
    "Budget",
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
            best = max(
                (k for k in self.pricing if model.startswith(k)), key=len, default=None
            )
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
