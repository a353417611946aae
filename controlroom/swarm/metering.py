"""The supervisor's side of the metering proxy: start it, give every agent run a pass, and
route what the proxy meters into the supervisor's one path (``Supervisor.handle``).

The proxy (proxy/) knows nothing of runners or the bus; here its reports
become ordinary events of the agent that made the request, so the governor
acts on wire meters exactly as on anything else an agent does.

What each agent is given (``agent_env``), for every start of it:

* every agent: ``CONTROLROOM_MODEL_URL`` (its own base URL at the proxy,
  ``http://127.0.0.1:PORT/a/<token>``), ``CONTROLROOM_MODEL_SOCKET`` (the unix
  socket serving the same routes, for a sandbox's bridge) and, in swap mode,
  ``CONTROLROOM_MODEL_KEY`` (its per-agent key);
* a ``claude-code`` agent: ``ANTHROPIC_BASE_URL`` set to that URL, and in swap
  mode ``ANTHROPIC_API_KEY`` set to its per-agent key;
* in swap mode no agent ever holds the operator's key: if its ``env`` or
  ``secret_env`` names ``[proxy] upstream_key_env``, it gets its per-agent key
  under that name instead.

A pass is revoked when the agent's process ends (an exit or a crash), so
nothing an ended run left behind can spend; the next start gets a new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from controlroom._errors import ConfigError, ConfigProblem
from controlroom.models import AgentSpec, EventBase, MeterDisagreement, ProxyStarted, SwarmConfig
from controlroom.models.views import ProxyView
from controlroom.policy.governor import BudgetGovernor
from controlroom.proxy import Admission, CredentialMode, MeteringProxy

__all__ = ["PROXY_SOCKET", "Metering", "credential_mode"]

PROXY_SOCKET = "proxy.sock"
"""The proxy's unix socket, in the run folder."""


class MeteringHost(Protocol):
    """What the metering needs from the supervisor."""

    governor: BudgetGovernor

    def publish(self, event: EventBase) -> None: ...

    def handle_agent_event(self, event: EventBase) -> None: ...


def credential_mode(config: SwarmConfig, environ: Mapping[str, str]) -> CredentialMode:
    """``[proxy] credentials``; by default swap when the upstream key is set, else passthrough."""
    key_env = config.proxy.upstream_key_env
    if config.proxy.credentials is not None:
        mode = CredentialMode(config.proxy.credentials)
        if mode is CredentialMode.SWAP and not environ.get(key_env):
            where = config.source or "config"
            raise ConfigError(
                [
                    ConfigProblem(
                        where,
                        None,
                        "proxy.credentials",
                        f'"swap" needs the operator\'s key in ${key_env}, which is not set',
                    )
                ]
            )
        return mode
    return CredentialMode.SWAP if environ.get(key_env) else CredentialMode.PASSTHROUGH


class Metering:
    """The run's metering proxy, its passes, and the env it puts into each agent's launch."""

    def __init__(
        self,
        host: MeteringHost,
        config: SwarmConfig,
        environ: Mapping[str, str],
        run_dir: Path,
    ) -> None:
        self.host = host
        self.mode = credential_mode(config, environ)
        self.key_env = config.proxy.upstream_key_env
        governor = host.governor
        self.proxy = MeteringProxy(
            config.proxy.upstream,
            Admission(governor, governor.meters.pricing_fn),
            host.handle_agent_event,
            mode=self.mode,
            operator_key=environ.get(self.key_env, "") if self.mode is CredentialMode.SWAP else "",
            unix_path=run_dir / PROXY_SOCKET,
        )
        self.started = False
        self._flagged: set[tuple[str, int]] = set()  # (agent, attempt) already flagged

    async def start(self) -> None:
        """Listen; recorded as ``proxy_started`` before any agent can use it."""
        await self.proxy.start()
        self.started = True
        self.host.publish(
            ProxyStarted(
                url=self.proxy.url,
                socket=str(self.proxy.unix_path or ""),
                upstream=self.proxy.upstream,
                credentials=self.mode.value,
            )
        )

    async def stop(self) -> None:
        if self.started:
            self.started = False
            await self.proxy.stop()

    def agent_env(self, spec: AgentSpec, env: dict[str, str]) -> None:
        """Give one start of ``spec`` a fresh pass, and its model URL and key in ``env``."""
        if not self.started:
            return
        agent_pass = self.proxy.passes.issue(spec.name)
        url = self.proxy.url_for(agent_pass)
        swap = self.mode is CredentialMode.SWAP
        env["CONTROLROOM_MODEL_URL"] = url
        env["CONTROLROOM_MODEL_SOCKET"] = str(self.proxy.unix_path or "")
        if swap:
            env["CONTROLROOM_MODEL_KEY"] = agent_pass.key
            if self.key_env in env:  # named in env/secret_env: never the operator's own key
                env[self.key_env] = agent_pass.key
        if spec.format == "claude-code":
            env["ANTHROPIC_BASE_URL"] = url
            if swap:
                env["ANTHROPIC_API_KEY"] = agent_pass.key

    def view(self) -> ProxyView | None:
        """Where agents' model traffic goes, for screens (None before the proxy listens).

        In passthrough mode costs are an API-equivalent estimate: agents pay
        with their own credential (a subscription is not billed per token).
        """
        if not self.started:
            return None
        return ProxyView(
            url=self.proxy.url,
            socket=str(self.proxy.unix_path or ""),
            upstream=self.proxy.upstream,
            credentials=self.mode.value,
        )

    def disagreement(self, agent: str, attempt: int) -> MeterDisagreement | None:
        """The flag for an agent whose own report is over 5 % off the wire (once per run)."""
        meter = self.host.governor.meters.agent(agent)
        if not meter.meter_disagreement or (agent, attempt) in self._flagged:
            return None
        self._flagged.add((agent, attempt))
        return MeterDisagreement(
            agent=agent,
            wire_tokens=meter.total_tokens,
            reported_tokens=meter.reported.total_tokens,
            wire_cost_usd=round(meter.cost_usd, 9),
            reported_cost_usd=round(meter.reported.cost_usd, 9),
            fraction=round(meter.wire_disagreement() or 0.0, 6),
        )

    def revoke(self, agent: str) -> None:
        """The agent's process ended: its pass stops working."""
        self.proxy.passes.revoke(agent)
