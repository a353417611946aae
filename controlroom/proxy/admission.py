"""Admission: a request goes upstream only if its worst case fits what is left of every budget.

The race this closes: gateways that check a cap and *then* record spend let
twenty concurrent requests all see the same headroom, and the cap is passed
twenty times over. Here every request, before it is forwarded, reserves its
worst case — its input (an upper bound, or the exact count) plus its
``max_tokens`` of output — against the agent's remaining tokens, cost and
turns and the swarm's remaining cost, minus everything other requests in
flight have reserved. Check and reserve are one synchronous step on the
event loop, so no other request can slip between them.

When the worst case does not fit, ``max_tokens`` is lowered to what does;
when not even the input (and one output token) fits, the request is refused
and never leaves the machine. As the answer streams, its reservation shrinks
by what the meter has counted (the input is known at ``message_start``,
output at each ``message_delta``) and ends at zero: the reservation is
replaced by what was served.

"Spent" is read from the governor's own meters (policy.meters), the one
source of truth, so admission and the governor can never disagree about a
figure. Pure bookkeeping: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from controlroom.policy.governor import SWARM_LIMIT, BudgetGovernor
from controlroom.policy.meters import PricingFn

__all__ = [
    "HIDDEN_PROMPT_MARGIN",
    "STOPPED",
    "WAIT",
    "Admission",
    "Refusal",
    "Reservation",
    "Wait",
    "input_bound",
]

HIDDEN_PROMPT_MARGIN = 2048
"""Tokens the API may add to a prompt that are not in its body (the tool-use system prompt)."""

STOPPED = "stopped"
"""The ``limit`` of a refusal because the governor has already stopped the agent."""

_UNBOUNDED = re.compile(rb'"type"\s*:\s*"(?:url|file)"|"file_id"')


def input_bound(body: bytes) -> int | None:
    """An upper bound of a request's input tokens from its bytes, or None when there is none.

    A token is at least one byte of text, so the body's length (plus what the
    API adds unseen) bounds the prompt. Content fetched by reference (an image
    or document by URL or file id) has no such bound: ask ``count_tokens``.
    """
    if _UNBOUNDED.search(body):
        return None
    return len(body) + HIDDEN_PROMPT_MARGIN


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request may not go upstream: the limit without room, what it needed, what was left."""

    limit: str
    needed: float
    available: float
    cap: float
    reason: str


@dataclass(slots=True)
class Reservation:
    """What one request in flight holds: its worst case, less what the meter has counted."""

    agent: str
    asked: int  # max_tokens as the agent sent it
    max_tokens: int  # as forwarded (lowered to fit, or as asked)
    limit: str | None  # the limit that lowered it
    out_rate: float  # USD per output token
    tokens: int = 0
    cost: float = 0.0
    turns: int = 0
    released: bool = False

    @property
    def lowered(self) -> bool:
        return self.max_tokens < self.asked


class Wait:
    """The request fits what is spent but not what is in flight: ask again after a release."""

    def __repr__(self) -> str:
        return "WAIT"


WAIT = Wait()

_Left = tuple[int | None, float | None, int | None, float | None]


@dataclass(frozen=True, slots=True)
class _Ask:
    input_tokens: int
    max_tokens: int
    in_cost: float
    out_rate: float


@dataclass(slots=True)
class _Held:
    tokens: int = 0
    cost: float = 0.0
    turns: int = 0


class Admission:
    """Reservations of every request in flight, against the governor's meters."""

    def __init__(self, governor: BudgetGovernor, pricing: PricingFn) -> None:
        self.governor = governor
        self.meters = governor.meters
        self.pricing = pricing
        self._held: dict[str, _Held] = {}
        self._swarm_cost = 0.0

    # ------------------------------------------------------------------ admit

    def admit(
        self,
        agent: str,
        model: str | None,
        input_tokens: int,
        max_tokens: int,
        *,
        cache_writes: bool = False,
        lower: bool = True,
    ) -> Reservation | Refusal | Wait | None:
        """Reserve the worst case of one request, or say why not.

        ``input_tokens`` must not be below what the request will be billed as
        input. ``cache_writes``: the request marks prompt blocks for caching,
        so its input is priced at the dearest cache-write rate.

        What is *spent* decides: the request is refused when not even its
        input fits what is left after spending, and its ``max_tokens`` is
        lowered to what fits. When it fits what is spent but not what other
        requests in flight hold, the answer is ``WAIT``: ask again once one
        of them is released (their worst cases rarely come true). With
        ``lower`` False, a request that does not fit as it is gets None and
        nothing is reserved (``input_tokens`` was a loose bound: the caller
        counts the input exactly and asks again).
        """
        refusal = self._stopped(agent)
        if refusal is not None:
            return refusal
        price = self.pricing(model)
        in_rate = price.input_per_mtok
        if cache_writes:
            in_rate = max(in_rate, price.cache_write_per_mtok, price.write_1h_per_mtok)
        ask = _Ask(
            input_tokens, max_tokens, input_tokens * in_rate / 1e6, price.output_per_mtok / 1e6
        )
        spent = self._fit(agent, ask, self.left(agent, held=False))
        if isinstance(spent, Refusal):
            return None if not lower else spent
        fits, binding = spent
        if fits < max_tokens and not lower:
            return None
        now = self._fit(agent, ask, self.left(agent))
        if isinstance(now, Refusal) or now[0] < fits:
            return WAIT
        reservation = Reservation(agent, max_tokens, fits, binding, ask.out_rate)
        self._hold(reservation, input_tokens + fits, ask.in_cost + fits * ask.out_rate, 1)
        return reservation

    def _fit(self, agent: str, ask: _Ask, left: _Left) -> tuple[int, str | None] | Refusal:
        """(max_tokens that fit ``left``, the limit that bound it), or a refusal."""
        tokens_left, cost_left, turns_left, swarm_left = left
        if turns_left is not None and turns_left < 1:
            return _refuse("max_turns", 1, turns_left, self._cap(agent, "max_turns"), "turns")
        fits, binding = ask.max_tokens, None
        if tokens_left is not None:
            room = tokens_left - ask.input_tokens
            if room < 1:
                cap = self._cap(agent, "max_tokens")
                return _refuse("max_tokens", ask.input_tokens + 1, tokens_left, cap, "tokens")
            if room < fits:
                fits, binding = room, "max_tokens"
        for limit, usd in (("max_cost_usd", cost_left), (SWARM_LIMIT, swarm_left)):
            if usd is None:
                continue
            room = _output_room(usd - ask.in_cost, ask.out_rate, fits)
            if room < 1:
                cap = self._cap(agent, limit)
                return _refuse(limit, ask.in_cost + ask.out_rate, usd, cap, "USD")
            if room < fits:
                fits, binding = room, limit
        return fits, binding

    def left(self, agent: str, *, held: bool = True) -> _Left:
        """(tokens, USD, turns) left to ``agent`` and USD left to the swarm; None: no limit.

        With ``held``, what requests in flight have reserved is taken off too.
        """
        meter = self.meters.agent(agent)
        hold = (self._held.get(agent) if held else None) or _Held()
        swarm_held = self._swarm_cost if held else 0.0
        tokens_cap, cost_cap, turns_cap, _ = meter.caps
        swarm_cap = self.meters.max_cost_usd
        return (
            None if tokens_cap is None else tokens_cap - meter.period_tokens() - hold.tokens,
            None if cost_cap is None else cost_cap - meter.period_cost() - hold.cost,
            None if turns_cap is None else turns_cap - meter.period_turns() - hold.turns,
            None if swarm_cap is None else swarm_cap - self.meters.charged_usd - swarm_held,
        )

    def _stopped(self, agent: str) -> Refusal | None:
        if self.governor.swarm_exceeded:
            cap = self.meters.max_cost_usd or 0.0
            return Refusal(SWARM_LIMIT, 0.0, 0.0, cap, "the swarm's cost cap is reached")
        if self.governor.is_stopped(agent):
            return Refusal(STOPPED, 0.0, 0.0, 0.0, "the agent was stopped by its budget")
        return None

    def _cap(self, agent: str, limit: str) -> float:
        if limit == SWARM_LIMIT:
            return self.meters.max_cost_usd or 0.0
        budget = self.meters.agent(agent).budget
        value = getattr(budget, limit)
        return float(value) if value is not None else 0.0

    # ------------------------------------------------------------------ as it is served

    def progress(self, reservation: Reservation, output_tokens: int) -> None:
        """The meter has counted the answer's input and ``output_tokens`` of output so far."""
        if reservation.released:
            return
        left = max(0, reservation.max_tokens - output_tokens)
        self._hold(reservation, left, left * reservation.out_rate, 0)

    def release(self, reservation: Reservation) -> None:
        """The request is over (served, failed or refused upstream): it holds nothing more."""
        if not reservation.released:
            self._hold(reservation, 0, 0.0, 0)
            reservation.released = True

    def over_cap(self, agent: str) -> str | None:
        """The limit ``agent`` (or the swarm) has gone *past* — not merely reached — or None."""
        meter = self.meters.agent(agent)
        tokens_cap, cost_cap, _, _ = meter.caps
        if tokens_cap is not None and meter.period_tokens() > tokens_cap:
            return "max_tokens"
        if cost_cap is not None and meter.period_cost() > cost_cap:
            return "max_cost_usd"
        swarm_cap = self.meters.max_cost_usd
        if swarm_cap is not None and self.meters.charged_usd > swarm_cap:
            return SWARM_LIMIT
        return None

    def in_flight(self, agent: str) -> tuple[int, float, int]:
        """What ``agent``'s requests in flight hold: (tokens, USD, turns)."""
        held = self._held.get(agent) or _Held()
        return held.tokens, held.cost, held.turns

    def _hold(self, reservation: Reservation, tokens: int, cost: float, turns: int) -> None:
        held = self._held.get(reservation.agent)
        if held is None:
            held = self._held[reservation.agent] = _Held()
        held.tokens += tokens - reservation.tokens
        held.cost += cost - reservation.cost
        held.turns += turns - reservation.turns
        self._swarm_cost += cost - reservation.cost
        reservation.tokens, reservation.cost, reservation.turns = tokens, cost, turns
        if held.tokens == 0 and held.turns == 0:  # no float residue once nothing is in flight
            held.cost = 0.0
            if not any(h.turns or h.tokens for h in self._held.values()):
                self._swarm_cost = 0.0


def _output_room(usd_left: float, out_rate: float, at_most: int) -> int:
    """How many output tokens ``usd_left`` pays for (at most ``at_most``)."""
    if usd_left < 0:
        return 0
    if out_rate <= 0:
        return at_most
    room = math.floor(usd_left / out_rate + 1e-9)
    if room * out_rate > usd_left + 1e-15:
        room -= 1
    return min(room, at_most)


def _refuse(limit: str, needed: float, left: float, cap: float, unit: str) -> Refusal:
    if unit == "USD":
        what = f"${needed:.6f} at least, ${max(left, 0):.6f} left"
    else:
        what = f"{needed:,.0f} {unit} at least, {max(left, 0):,.0f} left"
    return Refusal(limit, needed, left, cap, f"{limit}: this request needs {what}")
