"""The dashboard's two ports on one real swarm: the same typed answers, in-process or by socket.

``LocalPort`` hands over the control API's own models; ``RemotePort``
validates the socket's JSON once, as the ``Call`` registry says. Both are
asked the same things of one live supervisor (agents, a pending gate, its
history) and must answer with the same types and the same values; every
operation the API serves is in the registry, and no other.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from gatekit import gated_swarm
from swarmkit import agent_cmd

from controlroom._errors import ReadOnly
from controlroom.control import calls
from controlroom.control.client import AsyncControlClient
from controlroom.control.port import LocalPort, RemotePort
from controlroom.models import AgentSpec, AgentState, EventBase, GateState
from controlroom.models.events import AgentSpawned, AgentStateChanged, Event
from controlroom.models.radarviews import RadarView
from controlroom.models.views import GateView, PingView, ProcessesView, SwarmView

pytestmark = pytest.mark.timeout(60)


def _agents() -> list[AgentSpec]:
    return [
        AgentSpec(name="up", command=agent_cmd("well_behaved", "up", "0.01")),
        AgentSpec(name="down", command=agent_cmd("well_behaved"), after=["up"], gate="human"),
        AgentSpec(name="slow", command=agent_cmd("well_behaved", "slow", "30")),
    ]


async def test_local_and_remote_ports_answer_the_same_typed_views(tmp_path: Path) -> None:
    async with gated_swarm(tmp_path, _agents()) as (s, api, socket):
        local, remote = LocalPort(api), RemotePort(socket)
        try:
            await s.state("up", {AgentState.GATED})
            await s.state("slow", {AgentState.RUNNING})
            assert set(calls.CALLS) == set(api._ops)  # one registry, the API's every operation

            mine, theirs = await local.snapshot(), await remote.snapshot()
            assert isinstance(mine, SwarmView) and isinstance(theirs, SwarmView)
            assert [(a.name, a.state) for a in mine.agents] == [
                (a.name, a.state) for a in theirs.agents
            ]
            assert [g.id for g in mine.gates] == [g.id for g in theirs.gates] != []

            ping = await remote.call(calls.PING())
            assert isinstance(ping, PingView) and ping.run == s.run_id
            gates = await remote.call(calls.GATES(every=True))
            assert all(isinstance(g, GateView) for g in gates)
            assert [g.state for g in gates] == [GateState.PENDING]
            assert isinstance(await remote.call(calls.RADAR()), RadarView)

            history = await local.call(calls.EVENTS(0, 100))
            wire = await remote.call(calls.EVENTS(0, 100))
            assert all(isinstance(e, EventBase) for e in wire)
            # the agents go on meanwhile: the later answer may have more, never other, events
            assert [e.model_dump() for e in wire][: len(history)] == [
                e.model_dump() for e in history
            ]
            assert {e.agent for e in wire if isinstance(e, AgentSpawned)} == {"up", "slow"}

            paused = await remote.call(calls.PAUSE("slow"))
            assert isinstance(paused, ProcessesView) and paused.processes >= 1
            resumed = await local.call(calls.RESUME("slow"))
            assert resumed.agent == "slow" and resumed.processes == paused.processes

            decided = await remote.call(calls.APPROVE(gates[0].id, "ok"))
            assert decided.state is GateState.APPROVED and decided.decision is not None
            spawned = remote.events()
            seen = await asyncio.wait_for(anext(spawned), 10)  # typed as it arrives
            assert isinstance(seen, EventBase) and seen.run == s.run_id
            await spawned.aclose()
        finally:
            await remote.close()


async def test_a_read_only_port_refuses_commands_before_it_asks(tmp_path: Path) -> None:
    async with gated_swarm(tmp_path, _agents()[2:]) as (s, api, socket):
        remote = RemotePort(socket, read_only=True)
        try:
            await s.state("slow", {AgentState.RUNNING})
            for port in (LocalPort(api, read_only=True), remote):
                with pytest.raises(ReadOnly, match="read-only: kill"):
                    await port.call(calls.KILL("slow"))
                assert (await port.snapshot()).agent("slow") is not None
        finally:
            await remote.close()


async def _until_stopped(stream: AsyncIterator[Event], agent: str) -> list[Event]:
    """What ``stream`` yields up to ``agent``'s state turning done."""
    seen: list[Event] = []
    async for event in stream:
        seen.append(event)
        if isinstance(event, AgentStateChanged) and event.agent == agent:
            if event.state == AgentState.DONE:
                return seen
    raise AssertionError(f"the stream ended before {agent} was done")


async def test_both_ports_drop_skipped_kinds_at_the_source_and_keep_every_other_in_order(
    tmp_path: Path,
) -> None:
    """The dashboard's stream (``skip={"usage"}``): every other event, in seq order, no hole."""
    agents = [AgentSpec(name="w", command=agent_cmd("well_behaved", "w", "0.5"))]
    async with gated_swarm(tmp_path, agents) as (s, api, socket):
        local, remote = LocalPort(api), RemotePort(socket)
        try:
            mine = local.events(skip={"usage"})
            theirs = remote.events(skip={"usage"})
            raw = AsyncControlClient(socket).subscribe(skip={"usage"})  # the server's side
            first = await asyncio.wait_for(anext(mine), 10)  # subscribed from here on
            await asyncio.wait_for(anext(theirs), 10)
            await asyncio.wait_for(anext(raw), 10)
            got = [first, *await asyncio.wait_for(_until_stopped(mine, "w"), 20)]
            over_socket = await asyncio.wait_for(_until_stopped(theirs, "w"), 20)
            sent = []
            async for line in raw:  # what the server wrote, unfiltered by any client
                sent.append(line)
                if line.get("kind") == "agent_state" and line.get("state") == "done":
                    break
            await mine.aclose()
            await theirs.aclose()
            await raw.aclose()

            log = await local.call(calls.EVENTS(got[0].seq - 1, 1000))
            wanted = [e for e in log if e.seq <= got[-1].seq]
            usage = [e.seq for e in wanted if e.kind == "usage"]
            assert usage  # usage lines were published meanwhile, and skipped
            assert [e.seq for e in got] == [e.seq for e in wanted if e.kind != "usage"]
            assert [e.seq for e in over_socket] == [e.seq for e in got][-len(over_socket) :]
            assert not any(e.kind == "usage" for e in over_socket)
            assert [e["seq"] for e in sent] == [e.seq for e in got][-len(sent) :]
            assert local.events_seen >= len(wanted)  # the skipped ones were taken in too
        finally:
            await remote.close()
