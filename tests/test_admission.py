"""Admission and wire parsing, as pure code: properties over arbitrary interleavings.

The proxy's end-to-end tests (test_proxy.py) show the guarantee on real
traffic; these check the bookkeeping under any order of requests starting,
streaming and ending, against the real governor and meters.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from controlroom.models import Budget, Pricing, Usage
from controlroom.policy.governor import BudgetGovernor
from controlroom.proxy import Admission, Refusal, Reservation
from controlroom.proxy.admission import WAIT, input_bound
from controlroom.proxy.wire import EventSplitter, WireCounts, event_data, event_name

PRICE = Pricing(input_per_mtok=3.0, output_per_mtok=15.0, cache_write_per_mtok=3.75)


def admission(budget: Budget, swarm: float | None = None) -> Admission:
    governor = BudgetGovernor.from_budgets(
        {"a": budget}, swarm_max_cost_usd=swarm, pricing_fn=lambda _: PRICE
    )
    return Admission(governor, governor.meters.pricing_fn)


def serve(adm: Admission, r: Reservation, input_tokens: int, output: int) -> None:
    """What the proxy does for one answer: meter its input, then its output, then release."""
    for usage in (
        Usage(agent="a", input_tokens=input_tokens, output_tokens=1, source="proxy"),
        Usage(agent="a", output_tokens=output - 1, turns=0, source="proxy"),
    ):
        adm.governor.observe(usage, 0.0)
        adm.progress(r, usage.output_tokens)
    adm.release(r)


@settings(max_examples=200, deadline=None)
@given(
    cap=st.integers(100, 5000),
    asks=st.lists(
        st.tuples(st.integers(1, 400), st.integers(1, 800), st.floats(0, 1)), max_size=30
    ),
    order=st.randoms(use_true_random=False),
)
def test_no_interleaving_passes_a_token_cap(
    cap: int, asks: list[tuple[int, int, float]], order: object
) -> None:
    adm = admission(Budget(max_tokens=cap))
    open_: list[tuple[Reservation, int, float]] = []
    for input_tokens, max_tokens, share in asks:
        decision = adm.admit("a", "m", input_tokens, max_tokens)
        if isinstance(decision, Reservation):
            assert decision.max_tokens <= max_tokens
            open_.append((decision, input_tokens, share))
        elif decision is WAIT:
            assert open_  # only ever asked to wait for something in flight
        else:
            assert isinstance(decision, Refusal)
        if open_ and order.random() < 0.5:  # type: ignore[attr-defined]
            r, inp, part = open_.pop(int(order.random() * len(open_)))  # type: ignore[attr-defined]
            serve(adm, r, inp, max(1, int(r.max_tokens * part)))
        assert adm.meters.agent("a").period_tokens() <= cap
    for r, inp, _ in open_:
        serve(adm, r, inp, r.max_tokens)  # every worst case comes true
    assert adm.meters.agent("a").period_tokens() <= cap
    assert adm.in_flight("a") == (0, 0.0, 0)


def test_cost_caps_lower_max_tokens_by_the_output_price() -> None:
    adm = admission(Budget(max_cost_usd=0.01))
    # 1,000 input tokens cost $0.003; $0.007 buys 466 output tokens at $15/M
    grant = adm.admit("a", "m", 1000, 4000)
    assert isinstance(grant, Reservation) and grant.max_tokens == 466
    assert grant.limit == "max_cost_usd"
    refused = adm.admit("a", "m", 10, 10)
    assert refused is WAIT  # the first holds the rest of the budget
    serve(adm, grant, 1000, 10)
    again = adm.admit("a", "m", 10, 10)
    assert isinstance(again, Reservation) and again.max_tokens == 10


def test_cache_writes_reserve_the_dearest_input_rate() -> None:
    adm = admission(Budget(max_cost_usd=0.01))
    grant = adm.admit("a", "m", 1000, 4000, cache_writes=True)  # 1h writes: $6/M
    assert isinstance(grant, Reservation) and grant.max_tokens == 266


def test_a_swarm_cap_is_shared_and_a_stopped_agent_is_refused_at_once() -> None:
    adm = admission(Budget(), swarm=0.001)
    assert isinstance(adm.admit("a", "m", 100, 10), Reservation)
    governor = adm.governor
    governor.observe(Usage(agent="a", output_tokens=100_000, source="proxy"), 0.0)
    assert governor.is_stopped("a")
    refusal = adm.admit("a", "m", 1, 1)
    assert isinstance(refusal, Refusal) and refusal.limit == "swarm_max_cost_usd"


def test_the_input_bound_is_the_body_unless_content_comes_by_reference() -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
    assert input_bound(body) == len(body) + 2048
    by_url = {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
    assert input_bound(json.dumps({"messages": [{"content": [by_url]}]}).encode()) is None


# --------------------------------------------------------------------------- the wire


def test_usage_is_cumulative_and_never_goes_backwards() -> None:
    counts = WireCounts()
    start = counts.advance(
        {
            "input_tokens": 10,
            "output_tokens": 1,
            "cache_read_input_tokens": 5,
            "cache_creation_input_tokens": 7,
            "cache_creation": {"ephemeral_5m_input_tokens": 3, "ephemeral_1h_input_tokens": 4},
        }
    )
    assert (start.input_tokens, start.cache_creation_input_tokens) == (10, 7)
    assert start.cache_creation_1h_input_tokens == 4
    delta = counts.advance({"output_tokens": 30, "input_tokens": 10})
    assert (delta.output_tokens, delta.input_tokens, delta.total_tokens) == (29, 0, 29)
    assert counts.advance({"output_tokens": 5, "input_tokens": True}).total_tokens == 0
    split_only = WireCounts().advance(
        {"cache_creation": {"ephemeral_5m_input_tokens": 2, "ephemeral_1h_input_tokens": 3}}
    )
    assert split_only.cache_creation_input_tokens == 5


@given(cuts=st.lists(st.integers(0, 400), max_size=12))
def test_events_split_the_same_whatever_the_chunks(cuts: list[int]) -> None:
    stream = b"".join(
        f"event: {name}\ndata: {json.dumps({'type': name, 'n': i})}\n\n".encode()
        for i, name in enumerate(["message_start", "ping", "content_block_delta", "message_delta"])
    )
    stream = stream.replace(b"\n", b"\r\n") if len(cuts) % 2 else stream
    splitter, got = EventSplitter(), []
    previous = 0
    for cut in sorted({*cuts, len(stream)}):
        got.extend(splitter.feed(stream[previous:cut]))
        previous = cut
    assert [event_name(e) for e in got] == [
        b"message_start",
        b"ping",
        b"content_block_delta",
        b"message_delta",
    ]
    assert [event_data(e)["n"] for e in got] == [0, 1, 2, 3]
    assert splitter.rest == b""
