"""Who is calling, and with which key: per-agent passes and the two credential modes.

Every agent gets a pass: an unguessable ``token`` that is part of its base
URL (``http://127.0.0.1:PORT/a/<token>``) and, in ``swap`` mode, a per-agent
dummy ``key`` it presents as its API key. The token says which budget a
request spends; a request whose token is unknown (or revoked: an agent whose
run ended) is refused. A pass is issued for each run of an agent and revoked
when that run ends, so nothing an ended agent left behind can spend.

Modes:

* ``swap``: the agent must present its own dummy key (``x-api-key`` or
  ``Authorization: Bearer``, as it likes); the proxy replaces it with the
  operator's key in the same header. The operator's key lives in this
  process's memory only: no agent's environment, no file, no log line.
* ``passthrough``: the agent keeps its own credential (an API key, or a
  Claude subscription login sent as a bearer token) and the proxy forwards
  it untouched; spend is metered the same way, and its price is an
  API-equivalent estimate.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from multidict import CIMultiDict

__all__ = ["AgentPass", "CredentialMode", "PassBook", "upstream_headers"]

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "accept-encoding",
    }
)
_KEY_HEADERS = frozenset({"x-api-key", "authorization"})


class CredentialMode(StrEnum):
    SWAP = "swap"
    PASSTHROUGH = "passthrough"


@dataclass(frozen=True, slots=True)
class AgentPass:
    """One run of one agent: the token in its URL and its dummy key (swap mode)."""

    agent: str
    token: str
    key: str


class PassBook:
    """The passes in force, by token."""

    def __init__(self) -> None:
        self._by_token: dict[str, AgentPass] = {}
        self._by_agent: dict[str, AgentPass] = {}

    def issue(self, agent: str) -> AgentPass:
        """A fresh pass for ``agent``; its previous pass, if any, stops working."""
        self.revoke(agent)
        issued = AgentPass(
            agent=agent,
            token=secrets.token_urlsafe(24),
            key="sk-ant-controlroom-" + secrets.token_urlsafe(24),
        )
        self._by_token[issued.token] = issued
        self._by_agent[agent] = issued
        return issued

    def revoke(self, agent: str) -> None:
        old = self._by_agent.pop(agent, None)
        if old is not None:
            self._by_token.pop(old.token, None)

    def find(self, token: str) -> AgentPass | None:
        return self._by_token.get(token)

    def current(self, agent: str) -> AgentPass | None:
        return self._by_agent.get(agent)

    def agents(self) -> Iterable[str]:
        return self._by_agent.keys()


def presented_key(headers: Mapping[str, str]) -> tuple[str, str]:
    """(the key a client presented, the header it used: "x-api-key", "bearer" or "")."""
    key = headers.get("x-api-key")
    if key:
        return key, "x-api-key"
    auth = headers.get("authorization") or ""
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip(), "bearer"
    return "", ""


def upstream_headers(
    headers: Mapping[str, str],
    mode: CredentialMode,
    agent_pass: AgentPass,
    operator_key: str,
    *,
    probe: bool = False,
) -> CIMultiDict[str] | str:
    """The headers to send upstream, or why the request is refused (a 401's message).

    A ``probe`` (``HEAD /``, a connectivity check that costs nothing) needs no
    key in swap mode and is sent upstream with none.
    """
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lower = name.lower()
        if lower in _HOP_BY_HOP or lower.startswith("x-controlroom-"):
            continue
        if mode is CredentialMode.SWAP and lower in _KEY_HEADERS:
            continue
        out.add(name, value)
    if mode is CredentialMode.PASSTHROUGH or probe:
        return out
    key, how = presented_key(headers)
    if not key or not hmac.compare_digest(key.encode(), agent_pass.key.encode()):
        return "invalid x-api-key: present the key controlroom gave this agent"
    if how == "bearer":
        out["Authorization"] = f"Bearer {operator_key}"
    else:
        out["x-api-key"] = operator_key
    return out
