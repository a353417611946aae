"""Events of spend and its limits: usage, budgets, the kernel's limits, the proxies.

What the meters count and the governor, the metering proxy and the egress
proxy decide; every figure here is one the budget may rely on.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from controlroom.models.event_base import EventBase
from controlroom.models.tokens import TokenTotal

__all__ = [
    "BudgetExceeded",
    "BudgetWarning",
    "Egress",
    "LimitExceeded",
    "MeterDisagreement",
    "ProxyStarted",
    "RequestRefused",
    "StreamCut",
    "Usage",
]


class Usage(EventBase, TokenTotal):
    """Token deltas. Field names are the Anthropic API's own.

    ``turns`` is how many model turns this delta covers (one API response is
    one turn; a reconciliation may add some). ``source`` says who counted: the
    agent itself, the metering proxy, or a reconciliation to an authoritative
    total (Claude Code's ``result``). Every count is a delta that only adds:
    meters only go up, so a total reported lower than what was already
    counted is kept as ``extra["discrepancy"]``, never as a negative count.

    ``cache_creation_input_tokens`` counts every cache write, as the API's own
    field does; ``cache_creation_1h_input_tokens`` is the part of it written
    with the 1-hour TTL (the API's ``cache_creation.ephemeral_1h_input_tokens``),
    which is priced at its own, higher rate.
    """

    kind: Literal["usage"] = "usage"
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cache_read_input_tokens: int = Field(default=0, ge=0)
    cache_creation_input_tokens: int = Field(default=0, ge=0)
    cache_creation_1h_input_tokens: int = Field(default=0, ge=0)
    model: str | None = None
    turns: int = Field(default=1, ge=0)
    source: Literal["agent", "proxy", "reconcile"] = "agent"
    cost_usd: float = 0.0  # priced by the meter when the event is published
    extra: dict[str, Any] = Field(default_factory=dict)


class BudgetWarning(EventBase):
    kind: Literal["budget_warning"] = "budget_warning"
    limit: str  # max_tokens, max_cost_usd, max_wall_seconds, max_turns, swarm_max_cost_usd
    value: float
    cap: float
    fraction: float


class BudgetExceeded(EventBase):
    """A limit was reached and the agent stopped.

    ``value`` and ``overshoot`` are as of the decision. The agent is sent
    SIGTERM before the reader's next slice, but what it had already written
    (the rest of the slice being read) is still metered: ``after_decision_tokens``
    and ``after_decision_lines`` say how much that was (0 in logs written
    before they were recorded). Whatever it writes later is read and metered too.
    """

    kind: Literal["budget_exceeded"] = "budget_exceeded"
    limit: str
    value: float
    cap: float
    overshoot: float
    after_decision_tokens: int = 0
    after_decision_lines: int = 0


class LimitExceeded(EventBase):
    """The kernel enforced one of an agent's ``limits``: an OOM kill, a refused fork.

    ``limit`` names it (``memory_max``, ``pids_max``); ``count`` is how many
    times the kernel struck so far (OOM kills, refused forks); ``cap`` the
    configured value. The agent is then stopped: this is why, not a crash.
    """

    kind: Literal["limit_exceeded"] = "limit_exceeded"
    limit: str
    cap: float
    count: int = 1
    detail: str = ""


class MeterDisagreement(EventBase):
    """What an agent reported about its own usage differs from the wire meter by over 5 %.

    The budget uses the wire figures; both are kept, and this flags the gap.
    """

    kind: Literal["meter_disagreement"] = "meter_disagreement"
    wire_tokens: int
    reported_tokens: int
    wire_cost_usd: float
    reported_cost_usd: float
    fraction: float  # the larger relative gap, of tokens or of cost


class ProxyStarted(EventBase):
    """The metering proxy is listening: every agent's model traffic is metered from here on."""

    kind: Literal["proxy_started"] = "proxy_started"
    url: str  # http://127.0.0.1:PORT (agents add /a/<their token>)
    socket: str = ""  # the unix socket serving the same routes, for sandboxed agents
    upstream: str
    credentials: Literal["swap", "passthrough"]


class RequestRefused(EventBase):
    """The proxy answered a request itself, with an API-shaped error: nothing went upstream.

    ``limit`` names the budget that did not have room (the governor then stops
    the agent); it is None for a refusal that is not about money (an unknown
    token, a path the proxy does not forward, a body that is not JSON).
    """

    kind: Literal["request_refused"] = "request_refused"
    status: int
    reason: str
    limit: str | None = None
    needed: float = 0.0  # what the request needed at least (tokens, or USD for a cost limit)
    available: float = 0.0  # what was left of the limit
    cap: float = 0.0  # the limit's cap


class StreamCut(EventBase):
    """A streamed answer crossed a cap: the proxy ended it there with an API error event."""

    kind: Literal["stream_cut"] = "stream_cut"
    limit: str
    reason: str
    events_relayed: int = 0


class Egress(EventBase):
    """A sandboxed agent's connection through the egress proxy: allowed or refused.

    Recorded before it is carried out, with the host and port the agent
    asked for (``method`` is ``CONNECT`` for HTTPS and raw TCP, or the plain
    HTTP method); ``reason`` says why a refused one was refused.
    """

    kind: Literal["egress"] = "egress"
    host: str
    port: int
    method: str = "CONNECT"
    allowed: bool
    reason: str = ""
