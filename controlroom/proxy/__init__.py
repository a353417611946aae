"""The metering proxy: agents' model traffic, metered at the wire and capped where it is spent.

An agent's own account of its usage is the weakest meter there is (Claude
Code's stream under-counts output until its result; a hostile agent says
what it likes). The proxy sits between agents and the Messages API and
counts what the API really served, per token kind, and admits a request
only when its worst case fits what is left of the agent's and the swarm's
budgets (admission.py), atomically with every other request in flight.

Modules: ``server`` (the aiohttp app, routes, upstream), ``admission``
(reservations), ``relay`` (metering and cutting answers), ``wire`` (SSE and
usage parsing), ``credentials`` (per-agent passes, swap and passthrough),
``responses`` (API-shaped errors).

May import: models, policy, and aiohttp; never store, swarm or anything above.
The supervisor (swarm/) starts it and feeds what it reports into
``Supervisor.handle``, the one path every event takes.
"""

from controlroom.proxy.admission import Admission, Refusal, Reservation, input_bound
from controlroom.proxy.credentials import AgentPass, CredentialMode, PassBook
from controlroom.proxy.relay import Report
from controlroom.proxy.server import MeteringProxy

__all__ = [
    "Admission",
    "AgentPass",
    "CredentialMode",
    "MeteringProxy",
    "PassBook",
    "Refusal",
    "Report",
    "Reservation",
    "input_bound",
]
