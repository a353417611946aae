"""The metering proxy, spoken to by the real anthropic SDK, in front of the simulator.

Every test here is written as the agent: it holds only its own base URL and
dummy key, and it tries to spend what it has not got. The simulator's ledger
is the truth each meter is checked against, per token kind.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from proxykit import KINDS, OPERATOR_KEY, Metered, metered, per_kind

from controlroom.models import Budget, BudgetExceeded, Pricing, RequestRefused, StreamCut
from controlroom.proxy import CredentialMode
from controlroom.sim import Script, Turn, count_input_tokens

pytestmark = pytest.mark.timeout(60)

SONNET = "claude-sonnet-4-5"
LONG = Turn.say("All done. " * 200, output_tokens=5000)  # answers up to max_tokens
ROOMY = Budget(max_tokens=1_000_000)


def request(text: str, max_tokens: int = 200, *, ttl: str | None = None) -> dict[str, Any]:
    """A request with a long system prompt, marked for caching when ``ttl`` is given."""
    system: dict[str, Any] = {"type": "text", "text": "You are a careful reviewer. " * 30}
    if ttl is not None:
        system["cache_control"] = {"type": "ephemeral", "ttl": ttl}
    return {
        "model": SONNET,
        "max_tokens": max_tokens,
        "system": [system],
        "messages": [{"role": "user", "content": text}],
    }


async def stream_text(client: anthropic.AsyncAnthropic, body: dict[str, Any]) -> str:
    async with client.messages.stream(**body) as stream:
        return "".join([text async for text in stream.text_stream])


def priced(m: Metered) -> float:
    """What the simulator served, priced at the built-in prices."""
    from controlroom.models import DEFAULT_PRICING

    total = 0.0
    for s in m.sim.served:
        price: Pricing = DEFAULT_PRICING[SONNET]
        total += price.cost(
            s.input_tokens,
            s.output_tokens,
            s.cache_read_input_tokens,
            s.cache_creation_input_tokens,
            s.cache_creation_1h_input_tokens,
        )
    return total


# --------------------------------------------------------------------------- metering


async def test_the_meter_equals_what_was_served_per_token_kind_streamed_or_not() -> None:
    async with metered(Script([Turn.say("Looks good to me. " * 20)]), {"a": ROOMY}) as m:
        client = m.client("a")
        await client.messages.create(**request("first", ttl="5m"))  # writes the 5-minute cache
        await stream_text(client, request("second", ttl="5m"))  # reads it
        hour = {"type": "ephemeral", "ttl": "1h"}
        other = [{"type": "text", "text": "Another prompt. " * 40, "cache_control": hour}]
        await stream_text(client, request("third") | {"system": other})  # writes an hour
        await client.messages.create(**request("fourth"))  # no cache at all

        served = per_kind(m.sim.ledger())
        assert served["cache_creation_input_tokens"] > served["cache_creation_1h_input_tokens"] > 0
        assert served["cache_read_input_tokens"] > 0 and served["output_tokens"] > 0
        assert m.metered("a") == served
        usage = m.usage("a")
        assert {u.source for u in usage} == {"proxy"}
        assert sum(u.turns for u in usage) == 4 == m.sim.requests
        meter = m.governor.meters.agent("a")
        assert meter.cost_usd == pytest.approx(priced(m), rel=1e-12)
        assert not m.of("request_refused") and not m.stops


async def test_max_tokens_is_lowered_to_what_fits() -> None:
    body = request("go", max_tokens=4000)
    needed = count_input_tokens(body)
    cap = needed + 700
    async with metered(Script([LONG]), {"a": Budget(max_tokens=cap)}) as m:
        message = await m.client("a").messages.create(**body)
        (served,) = m.sim.served
        assert served.max_tokens == 700 and message.stop_reason == "max_tokens"
        assert message.usage.output_tokens == 700
        assert m.metered("a") == per_kind(m.sim.ledger())
        assert m.governor.meters.agent("a").period_tokens() == cap  # used up exactly, not passed
        first = m.usage("a")[0]
        assert first.extra["max_tokens"] == {"asked": 4000, "granted": 700, "limit": "max_tokens"}


async def test_a_spent_budget_refuses_the_next_request_without_an_upstream_call() -> None:
    body = request("go", max_tokens=4000)
    cap = count_input_tokens(body) + 100
    async with metered(Script([LONG]), {"a": Budget(max_tokens=cap)}) as m:
        client = m.client("a")
        await client.messages.create(**body)
        assert [s.event.limit for s in m.stops] == ["max_tokens"]  # reached: the governor stops
        upstream_calls = (m.sim.requests, m.sim.counts, m.sim.heads)
        with pytest.raises(anthropic.APIStatusError) as refused:
            await client.messages.create(**request("and more"))
        assert refused.value.status_code == 402
        assert refused.value.body["error"]["type"] == "billing_error"  # type: ignore[index]
        assert refused.value.response.headers["x-should-retry"] == "false"
        assert (m.sim.requests, m.sim.counts, m.sim.heads) == upstream_calls
        with pytest.raises(anthropic.APIStatusError):
            await stream_text(client, request("streamed"))
        assert (m.sim.requests, m.sim.counts, m.sim.heads) == upstream_calls
        assert m.metered("a") == per_kind(m.sim.ledger())


async def test_a_request_whose_input_does_not_fit_never_reaches_the_model() -> None:
    body = request("a long question " * 50, max_tokens=10)
    needed = count_input_tokens(body)
    async with metered(Script([LONG]), {"a": Budget(max_tokens=needed - 1)}) as m:
        with pytest.raises(anthropic.APIStatusError) as refused:
            await m.client("a").messages.create(**body)
        assert refused.value.status_code == 402
        assert m.sim.requests == 0 and m.usage("a") == []
        (refusal,) = m.of("request_refused")
        assert isinstance(refusal, RequestRefused)
        assert (refusal.limit, refusal.needed, refusal.available) == (
            "max_tokens",
            needed + 1,
            needed - 1,
        )
        (stop,) = m.stops
        assert stop.agent == "a" and isinstance(stop.event, BudgetExceeded)
        assert stop.event.limit == "max_tokens" and stop.event.overshoot == 2


async def test_a_stream_that_crosses_its_cap_is_cut_at_that_event() -> None:
    # A server tool adds input while the answer streams: admission could not know it.
    surprise = Turn(text="searching the web... " * 20, server_input_tokens=5000)
    body = request("look it up", max_tokens=300)
    cap = count_input_tokens(body) + 300 + 1000
    async with metered(Script([surprise]), {"a": Budget(max_tokens=cap)}) as m:
        received: list[str] = []
        with pytest.raises(anthropic.APIStatusError) as cut:
            async with m.client("a").messages.stream(**body) as stream:
                async for event in stream:
                    received.append(event.type)
        assert "billing_error" in str(cut.value) and "crossed" in str(cut.value)
        assert "content_block_delta" in received
        assert "message_delta" not in received and "message_stop" not in received
        (stop,) = m.stops
        assert stop.event.limit == "max_tokens" and stop.event.value > cap
        (cut_event,) = m.of("stream_cut")
        assert isinstance(cut_event, StreamCut) and cut_event.limit == "max_tokens"
        # the crossing delta was metered: the meter still equals what was served
        assert m.metered("a") == per_kind(m.sim.ledger())


# --------------------------------------------------------------------------- who pays


async def test_an_agent_cannot_spend_another_agents_budget() -> None:
    budgets = {"a": ROOMY, "b": Budget(max_tokens=50)}
    async with metered(Script([Turn.say("ok")]), budgets) as m:
        await m.client("a").messages.create(**request("mine"))
        # a's key on b's URL: refused, b's budget untouched
        with pytest.raises(anthropic.AuthenticationError):
            await m.client("b", key=m.passes["a"].key).messages.create(**request("theirs"))
        # b itself has no room: a's spending cannot help it, and it cannot take a's room
        with pytest.raises(anthropic.APIStatusError) as refused:
            await m.client("b").messages.create(**request("mine too"))
        assert refused.value.status_code == 402
        assert m.sim.requests == 1 and {s.api_key for s in m.sim.served} == {OPERATOR_KEY}
        assert m.metered("b") == dict.fromkeys(KINDS, 0)
        assert m.metered("a") == per_kind(m.sim.ledger())
        assert [s.agent for s in m.stops] == ["b"]


async def test_an_unknown_or_revoked_token_is_refused_as_the_api_would() -> None:
    async with metered(Script([Turn.say("ok")]), {"a": ROOMY}) as m:
        stranger = m.sdk(f"{m.proxy.url}/a/not-a-token", api_key=m.passes["a"].key)
        with pytest.raises(anthropic.AuthenticationError) as refused:
            await stranger.messages.create(**request("hello"))
        assert refused.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
        client = m.client("a")
        m.proxy.passes.revoke("a")  # its run ended
        with pytest.raises(anthropic.AuthenticationError):
            await client.messages.create(**request("hello"))
        assert (m.sim.requests, m.sim.counts, m.sim.heads) == (0, 0, 0)
        refusals = m.of("request_refused")
        assert [(r.agent, r.status) for r in refusals] == [(None, 401), (None, 401)]
        assert not m.stops


# --------------------------------------------------------------------------- the protocol


async def test_head_count_tokens_models_and_query_strings_are_forwarded() -> None:
    async with metered(Script([Turn.say("ok")]), {"a": ROOMY}) as m:
        base = m.proxy.url_for(m.passes["a"])
        async with httpx2.AsyncClient() as http:
            head = await http.head(base)
            assert head.status_code == 200 and m.sim.heads == 1
            batches = await http.post(
                base + "/v1/messages/batches",
                headers={"x-api-key": m.passes["a"].key},
                json={"requests": []},
            )
            assert batches.status_code == 404
            assert batches.json()["error"]["type"] == "not_found_error"
        client = m.client("a")
        counted = await client.messages.count_tokens(
            model=SONNET, messages=[{"role": "user", "content": "how long is this?"}]
        )
        assert counted.input_tokens == count_input_tokens(
            {"messages": [{"role": "user", "content": "how long is this?"}]}
        )
        # as Claude Code sends it
        await client.messages.create(**request("beta"), extra_query={"beta": "true"})
        (served,) = m.sim.served
        assert served.path == "/v1/messages?beta=true"
        assert m.metered("a") == per_kind(m.sim.ledger())


async def test_swap_mode_accepts_x_api_key_and_bearer_and_sends_the_operators_key() -> None:
    async with metered(Script([Turn.say("ok")]), {"a": ROOMY}) as m:
        await m.client("a").messages.create(**request("bearer"))  # the SDK sends Bearer
        base = m.proxy.url_for(m.passes["a"])
        async with httpx2.AsyncClient() as http:
            plain = await http.post(
                base + "/v1/messages",
                headers={"x-api-key": m.passes["a"].key, "anthropic-version": "2023-06-01"},
                json=request("x-api-key"),
            )
            assert plain.status_code == 200
            wrong = await http.post(
                base + "/v1/messages", headers={"x-api-key": OPERATOR_KEY}, json=request("guess")
            )
            assert wrong.status_code == 401
        assert [(s.auth, s.api_key) for s in m.sim.served] == [
            ("bearer", OPERATOR_KEY),
            ("x-api-key", OPERATOR_KEY),
        ]
        assert OPERATOR_KEY not in repr(m.proxy)


async def test_passthrough_forwards_the_agents_own_bearer_token_unchanged() -> None:
    own = "sk-ant-oat01-the-agents-own-subscription-login"
    script = Script([Turn.say("ok")])
    async with metered(script, {"a": ROOMY}, mode=CredentialMode.PASSTHROUGH, sim_key=own) as m:
        client = m.sdk(m.proxy.url_for(m.passes["a"]), auth_token=own)
        await client.messages.create(**request("mine"))
        (served,) = m.sim.served
        assert (served.auth, served.api_key) == ("bearer", own)
        assert m.metered("a") == per_kind(m.sim.ledger())


async def test_the_unix_socket_serves_the_same_metered_routes(tmp_path: Path) -> None:
    sock = tmp_path / "proxy.sock"
    async with metered(Script([Turn.say("ok")]), {"a": ROOMY}, unix_path=sock) as m:
        assert sock.stat().st_mode & 0o777 == 0o600
        await stream_text(m.unix_client("a"), request("from the sandbox"))
        assert m.sim.requests == 1
        assert m.metered("a") == per_kind(m.sim.ledger())
    assert not sock.exists()


# --------------------------------------------------------------------------- no race


async def test_twenty_concurrent_streams_never_pass_the_agents_cap() -> None:
    cap = 9000
    async with metered(Script([LONG]), {"a": Budget(max_tokens=cap)}) as m:
        m.sim.event_delay = 0.002  # the streams overlap
        client = m.client("a")

        async def one(i: int) -> str:
            try:
                return await stream_text(client, request(f"question {i}", max_tokens=1500))
            except anthropic.APIStatusError as exc:
                return f"refused {exc.status_code}"

        answers = await asyncio.gather(*(one(i) for i in range(20)))
        ledger = m.sim.ledger()
        assert ledger.total_tokens <= cap  # zero overshoot, on the simulator's own ledger
        # ... and the cap was used, not wasted on worst cases that never came true
        assert ledger.total_tokens > cap - count_input_tokens(request("question 10"))
        assert ledger.requests >= 5 and any(a == "refused 402" for a in answers)
        assert m.metered("a") == per_kind(ledger)
        assert m.proxy.admission.in_flight("a") == (0, 0.0, 0)


async def test_five_agents_sharing_a_swarm_cap_never_pass_it() -> None:
    cap_usd = 0.12
    agents = {f"agent-{i}": Budget() for i in range(5)}
    async with metered(Script([LONG]), agents, swarm_max_cost_usd=cap_usd) as m:
        m.sim.event_delay = 0.002

        async def spend(agent: str) -> int:
            client, refused = m.client(agent), 0
            for round_ in range(6):
                results = await asyncio.gather(
                    *(
                        stream_text(client, request(f"{agent} {round_} {i}", 1500))
                        for i in range(4)
                    ),
                    return_exceptions=True,
                )
                refused += sum(isinstance(r, anthropic.APIStatusError) for r in results)
            return refused

        refusals = await asyncio.gather(*(spend(a) for a in agents))
        assert priced(m) <= cap_usd + 1e-12  # zero overshoot, priced from the ledger
        assert sum(refusals) > 0
        for agent in agents:
            assert m.metered(agent) == per_kind(
                m.sim.ledger(lambda s, a=agent: json.dumps(s.request).find(a + " ") >= 0)
            )
