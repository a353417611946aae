"""The config schema: what a validated ``config.toml`` is (``controlroom.config`` loads it).

Frozen pydantic models, extra keys forbidden; the loader turns their
validation errors into file:line:key messages.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from controlroom.models.ops import MetricsSettings, NotifySpec
from controlroom.models.pricing import DEFAULT_PRICING, Pricing

__all__ = [
    "AGENT_NAME_PATTERN",
    "BUDGET_WARNING_PERCENT",
    "DEFAULT_MANIFESTS",
    "AgentFormat",
    "AgentSpec",
    "Breaker",
    "Budget",
    "Containment",
    "Limits",
    "ProxySettings",
    "SwarmConfig",
    "SwarmSettings",
    "branch_name_problem",
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
DEFAULT_MANIFESTS: tuple[str, ...] = (
    "pyproject.toml",
    "requirements*.txt",
    "setup.cfg",
    "uv.lock",
    "poetry.lock",
    "Pipfile",
    "Pipfile.lock",
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "Cargo.toml",
    "Cargo.lock",
    "go.mod",
    "go.sum",
)
"""Dependency manifests and lock files: two agents changing one are a ``manifest`` collision.

Patterns match a file's name (or, with a ``/``, its path from the repository's top).
"""

_REF_FORBIDDEN = frozenset(" ~^:?*[\\")


def branch_name_problem(name: str) -> str | None:
    """Why git would refuse ``name`` as a branch (``git check-ref-format --branch``), or None."""
    if not name:
        return "empty"
    if name.startswith("-") or name == "@":
        return f"{name!r} cannot start with '-' or be '@'"
    if any(ord(c) < 32 or ord(c) == 127 or c in _REF_FORBIDDEN for c in name):
        return "spaces, control characters and ~^:?*[\\ are not allowed"
    if ".." in name or "@{" in name or "//" in name:
        return "'..', '@{' and '//' are not allowed"
    if name.startswith("/") or name.endswith(("/", ".")):
        return "cannot start with '/' or end with '/' or '.'"
    if any(part.startswith(".") or part.endswith(".lock") for part in name.split("/")):
        return "no part may start with '.' or end with '.lock'"
    return None


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
    stall_turns: int | None = Field(default=None, gt=0, le=1_000_000)
    """Open the breaker when the agent's diff has not moved for this many turns (None: off)."""


class AgentSpec(_Strict):
    """One ``[[agents]]`` entry, with ``[defaults]`` already merged in."""

    name: str = Field(pattern=AGENT_NAME_PATTERN)
    command: list[str] = Field(min_length=1)
    format: AgentFormat = "native"
    workspace: str = "shared"  # "worktree", "shared", or a path
    env: list[str] = Field(default_factory=list)
    secret_env: list[str] = Field(default_factory=list)
    task: str = ""
    role: str = ""  # who the agent is (the built-in worker's system prompt): $CONTROLROOM_ROLE
    after: list[str] = Field(default_factory=list)
    gate: Literal["human", "auto"] = "auto"
    gate_timeout_seconds: float = Field(default=3600.0, gt=0, le=7 * _DAY)
    on_reject: Literal["retry", "stop"] = "stop"
    max_attempts: int = Field(default=3, gt=0, le=100)
    gate_tools: list[str] = Field(default_factory=list)
    on_approve: Literal["none", "merge"] = "none"
    """``merge``: once its handoff is approved, merge its work into the integration branch."""
    budget: Budget = Field(default_factory=Budget)
    breaker: Breaker = Field(default_factory=Breaker)
    limits: Limits = Field(default_factory=Limits)
    sandbox: Literal["off", "workspace"] = "off"  # "workspace": under bubblewrap, no network
    allow_hosts: list[str] = Field(default_factory=list, max_length=1000)  # egress allowlist
    binds: list[str] = Field(default_factory=list, max_length=100)  # "PATH", "PATH:ro", "PATH:rw"
    tools: list[str] = Field(default_factory=list, max_length=100)  # programs bound in read-only

    @field_validator("on_approve")
    @classmethod
    def _merge_needs_a_branch(cls, value: str, info: ValidationInfo) -> str:
        if value == "merge" and info.data.get("workspace", "worktree") != "worktree":
            raise ValueError(
                "'merge' needs workspace = \"worktree\": only a worktree's branch can be merged"
            )
        return value

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
    # how long the swarm stays frozen while its audit log cannot be written, before it is stopped
    audit_grace_seconds: float = Field(default=60.0, ge=0, le=_DAY)
    radar: bool = True
    """Track what each agent changes in git workspaces and watch for collisions."""
    integration_branch: str = "controlroom/{run}/integration"
    """Where ``on_approve = "merge"`` merges (``{run}`` is the run id); made from the base."""
    manifests: list[str] = Field(default_factory=lambda: list(DEFAULT_MANIFESTS))

    @field_validator("integration_branch")
    @classmethod
    def _a_branch_name(cls, value: str) -> str:
        problem = branch_name_problem(value.replace("{run}", "run"))
        if problem:
            raise ValueError(f"not a usable git branch name: {problem}")
        return value

    @field_validator("manifests")
    @classmethod
    def _patterns_not_blank(cls, value: list[str]) -> list[str]:
        if any(not pattern.strip() for pattern in value):
            raise ValueError("a manifest pattern must not be empty")
        return value


class ProxySettings(_Strict):
    """The metering proxy: where agents' model requests go, and whose key pays.

    ``credentials``: ``"swap"`` gives each agent a per-agent key and sends the
    operator's (from ``upstream_key_env``) upstream; ``"passthrough"``
    forwards each agent's own credential untouched. Unset: swap when the
    key's variable is set, else passthrough.
    """

    upstream: str = "https://api.anthropic.com"
    upstream_key_env: str = "ANTHROPIC_API_KEY"
    credentials: Literal["swap", "passthrough"] | None = None


class SwarmConfig(_Strict):
    """A whole, validated swarm config. Build it with ``controlroom.config.load_config``."""

    swarm: SwarmSettings = Field(default_factory=SwarmSettings)
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    agents: list[AgentSpec] = Field(default_factory=list)
    pricing: dict[str, Pricing] = Field(default_factory=lambda: dict(DEFAULT_PRICING))
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    notify: list[NotifySpec] = Field(default_factory=list)
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
        values = [env[n] for n in self.secret_env_names() if env.get(n)]
        return values + [secret for spec in self.notify for secret in spec.secrets()]
