"""Live token meters: what each agent and the whole swarm has spent, and how fast.

Pure bookkeeping, no I/O and no clock of its own: every method that depends
on time takes ``now`` (monotonic seconds), so the supervisor decides what
"now" is and tests are exact. The meter is the one source of truth for spend
and for an agent's running time; the budget governor reads it, the TUI shows
its snapshots.

The meters live in their own modules (agent_meter, swarm_meter, burn, runclock,
price, meter_snapshots); this one names them all. Figures kept per agent:

* token counts of the four Anthropic kinds, turns, and the cost the meter
  priced itself from those tokens (``price_usage``) — an event's own
  ``cost_usd`` is never trusted, so an agent cannot under-report its price;
* Claude Code's own price (``AgentResult.reported_cost_usd``), kept beside it
  and flagged when the two differ by more than 5 %;
* burn rates over a sliding 60 s window, and from them the projected seconds
  until the tightest limit of the agent's ``Budget``;
* running time that excludes paused time;
* spend that only goes up: every count and price adds; a negative delta
  counts as 0;
* *where* spend was measured: once the metering proxy has metered an agent
  (a ``source = "proxy"`` usage), its counts are the wire's alone: what the
  agent reports about itself from then on (and what it had reported before,
  which the wire now replaces) is kept in ``reported`` (selfreport.py),
  compared, and never counted twice;
* cpu / memory / process count, as last set by a sampler.

Spend is counted for the agent's whole life, across restarts. A budget
applies to a *period*: it starts when the meter is made and again at each
``rebase`` (the operator's audited restart with a fresh or bigger budget), so
limits are checked against spend since the last rebase while the lifetime
totals and the swarm total keep counting.
"""

from __future__ import annotations

from controlroom.policy.agent_meter import LIMIT_NAMES, AgentMeter
from controlroom.policy.burn import BUCKET_SECONDS, WINDOW_SECONDS
from controlroom.policy.meter_snapshots import (
    AgentMeterSnapshot,
    LimitStatus,
    SwarmMeterSnapshot,
)
from controlroom.policy.price import (
    COST_DISAGREEMENT_FRACTION,
    PricingFn,
    costs_disagree,
    price_usage,
)
from controlroom.policy.swarm_meter import SwarmMeter

__all__ = [
    "BUCKET_SECONDS",
    "COST_DISAGREEMENT_FRACTION",
    "LIMIT_NAMES",
    "WINDOW_SECONDS",
    "AgentMeter",
    "AgentMeterSnapshot",
    "LimitStatus",
    "PricingFn",
    "SwarmMeter",
    "SwarmMeterSnapshot",
    "costs_disagree",
    "price_usage",
]
