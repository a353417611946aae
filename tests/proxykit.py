"""Test harness: the real metering proxy between the real anthropic SDK and the simulator.

``metered(...)`` starts a ``SimServer`` (which requires the operator's key,
so a request that reaches it proves the swap), a ``MeteringProxy`` on
127.0.0.1 in front of it, and a real ``BudgetGovernor`` whose meters the
proxy's admission reads; the proxy's report records into that governor as
``Supervisor.handle`` does and keeps what it decided. Each agent named in
``budgets`` gets a pass; ``client(agent)`` is an ``AsyncAnthropic`` pointed
at the agent's own base URL with its own dummy key.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx2

from controlroom.models import Budget, EventBase, Usage
from controlroom.policy.governor import BudgetGovernor, Stop
from controlroom.proxy import Admission, AgentPass, CredentialMode, MeteringProxy
from controlroom.sim import Ledger, Script, SimServer

OPERATOR_KEY = "sk-ant-operator-7f3e9c2b1a0d-never-shown-to-agents"
KINDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation_1h_input_tokens",
)


@dataclass
class Metered:
    sim: SimServer
    proxy: MeteringProxy
    governor: BudgetGovernor
    passes: dict[str, AgentPass]
    events: list[EventBase] = field(default_factory=list)
    stops: list[Stop] = field(default_factory=list)
    clients: list[anthropic.AsyncAnthropic] = field(default_factory=list)

    def client(
        self, agent: str, *, key: str | None = None, **kwargs: Any
    ) -> anthropic.AsyncAnthropic:
        agent_pass = self.passes[agent]
        return self.sdk(self.proxy.url_for(agent_pass), api_key=key or agent_pass.key, **kwargs)

    def sdk(self, base_url: str, **kwargs: Any) -> anthropic.AsyncAnthropic:
        """An SDK client closed with the harness (so no socket outlives the test's loop)."""
        client = anthropic.AsyncAnthropic(base_url=base_url, max_retries=0, timeout=20, **kwargs)
        self.clients.append(client)
        return client

    def unix_client(self, agent: str) -> anthropic.AsyncAnthropic:
        """The agent's client over the proxy's unix socket (as a sandboxed agent reaches it)."""
        assert self.proxy.unix_path is not None
        transport = httpx2.AsyncHTTPTransport(uds=str(self.proxy.unix_path))
        return self.client(agent, http_client=httpx2.AsyncClient(transport=transport))

    def usage(self, agent: str) -> list[Usage]:
        return [e for e in self.events if isinstance(e, Usage) and e.agent == agent]

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if getattr(e, "kind", None) == kind]

    def metered(self, agent: str) -> dict[str, int]:
        """The governor's meter of ``agent``, per token kind."""
        meter = self.governor.meters.agent(agent)
        return {kind: getattr(meter, kind) for kind in KINDS}


def per_kind(ledger: Ledger) -> dict[str, int]:
    return {kind: getattr(ledger, kind) for kind in KINDS}


@asynccontextmanager
async def metered(
    script: Script,
    budgets: Mapping[str, Budget],
    *,
    swarm_max_cost_usd: float | None = None,
    mode: CredentialMode = CredentialMode.SWAP,
    routes: Mapping[str, Script] | None = None,
    unix_path: Path | None = None,
    sim_key: str | None = OPERATOR_KEY,
) -> AsyncIterator[Metered]:
    governor = BudgetGovernor.from_budgets(budgets, swarm_max_cost_usd=swarm_max_cost_usd)
    events: list[EventBase] = []
    stops: list[Stop] = []

    def report(event: EventBase) -> None:
        events.append(event)
        decisions = governor.observe(event, time.monotonic())
        stops.extend(d for d in decisions if isinstance(d, Stop))

    with SimServer(script, routes=routes, api_key=sim_key) as sim:
        proxy = MeteringProxy(
            sim.url,
            Admission(governor, governor.meters.pricing_fn),
            report,
            mode=mode,
            operator_key=OPERATOR_KEY if mode is CredentialMode.SWAP else "",
            unix_path=unix_path,
        )
        await proxy.start()
        passes = {name: proxy.passes.issue(name) for name in budgets}
        handle = Metered(sim, proxy, governor, passes, events, stops)
        try:
            yield handle
        finally:
            for client in handle.clients:
                await client.close()
            await proxy.stop()
