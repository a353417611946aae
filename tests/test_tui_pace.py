"""The main screen's pace (``tui.pace``): 4 Hz while refreshes are cheap, never under 1 Hz,
and news the operator must see (a gate waiting) pulls the next tick in, once a second at most.

The dashboard runs by Pilot on a ``ControlPort`` of one fixed swarm view whose
snapshot costs a set amount of CPU, as a big swarm's does; the times asserted
are the ones the screen asked for its snapshots at, with generous slack for a
loaded machine (the bounds, not the speed, are what is pinned).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual.pilot import Pilot
from tui_harness import SIZE, isolated_config, until  # noqa: F401 - a fixture

from controlroom._errors import ControlError
from controlroom.control.calls import Request
from controlroom.models import AgentState, GateKind
from controlroom.models.events import Event, GateRequested
from controlroom.models.views import AgentView, SwarmView
from controlroom.tui.app import ControlRoomApp
from controlroom.tui.pace import (
    CPU_BUDGET,
    HURRY_EVERY_SECONDS,
    MAX_REFRESH_SECONDS,
    WARMUP_REFRESHES,
)
from controlroom.tui.screens.main import REFRESH_SECONDS, MainScreen

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("isolated_config")]

R = TypeVar("R")

VIEW = SwarmView(
    swarm="paced",
    run="run-paced",
    ts=1_700_000_000.0,
    agents=[AgentView(name=f"a{i:02d}", state=AgentState.RUNNING) for i in range(12)],
)


class CostlyPort:
    """One fixed swarm view whose every snapshot burns ``cost`` s of this thread's CPU."""

    read_only = False
    description = "a swarm whose snapshots are dear"

    def __init__(self, cost: float) -> None:
        self.cost = cost
        self.asked: list[float] = []  # monotonic time of each snapshot asked for
        self.news: asyncio.Queue[Event] = asyncio.Queue()

    async def snapshot(self) -> SwarmView:
        self.asked.append(time.monotonic())
        until_cpu = time.thread_time() + self.cost
        while time.thread_time() < until_cpu:
            pass
        return VIEW.model_copy(deep=True)

    async def call(self, request: Request[R]) -> R:
        raise ControlError(f"not here: {request.op}")

    async def events(self, skip: Collection[str] = ()) -> AsyncIterator[Event]:
        while True:
            event = await self.news.get()
            if event.kind not in skip:
                yield event

    async def close(self) -> None:
        return None


class NoSwarm:
    """The ``Session`` of a swarm that runs elsewhere: owns nothing, starts nothing."""

    owns_swarm = False
    socket_path = Path("paced.sock")

    async def open(self) -> CostlyPort:
        raise NotImplementedError

    async def start(self) -> None:
        return None

    def orphan_pids(self) -> list[tuple[int, str]]:
        return []

    async def close(self) -> None:
        return None


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


async def _main(pilot: Pilot[Any]) -> MainScreen:
    app = pilot.app
    return await until(
        pilot, lambda: next((s for s in app.screen_stack if isinstance(s, MainScreen)), None)
    )


async def test_cheap_refreshes_come_at_4_hz_and_dear_ones_never_under_1_hz() -> None:
    cheap = CostlyPort(cost=0.0)
    async with ControlRoomApp(NoSwarm(), cheap).run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(cheap.asked) >= 8)
        # the first tick comes after the resume delay; then the pace's shortest wait
        assert all(gap < REFRESH_SECONDS + 0.35 for gap in gaps(cheap.asked[2:])), cheap.asked

    dear = CostlyPort(cost=0.1)  # over the budget: 0.1 s / 3 % is 3.3 s, held to 1 s
    async with ControlRoomApp(NoSwarm(), dear).run_test(size=SIZE) as pilot:
        main = await _main(pilot)
        await until(pilot, lambda: len(dear.asked) >= WARMUP_REFRESHES + 4, timeout=60)
        assert main.pace.cost >= 0.1 and main.pace.cost / CPU_BUDGET > MAX_REFRESH_SECONDS
        assert main.pace.interval(REFRESH_SECONDS) == MAX_REFRESH_SECONDS
        for gap in gaps(dear.asked[WARMUP_REFRESHES + 1 :]):  # a refresh, then 1 s after it
            assert MAX_REFRESH_SECONDS + 0.1 <= gap < MAX_REFRESH_SECONDS + 0.8, dear.asked


async def test_a_gate_opening_pulls_the_next_tick_in_once_a_second_at_most() -> None:
    port = CostlyPort(cost=0.1)
    async with ControlRoomApp(NoSwarm(), port).run_test(size=SIZE) as pilot:
        await _main(pilot)
        await until(pilot, lambda: len(port.asked) >= WARMUP_REFRESHES + 2, timeout=60)
        asked = len(port.asked)
        await until(pilot, lambda: time.monotonic() > port.asked[-1] + 0.3)  # mid-wait
        news = time.monotonic()
        port.news.put_nowait(
            GateRequested(seq=1, agent="a01", gate_id="g-1", gate_kind=GateKind.HANDOFF)
        )
        await until(pilot, lambda: len(port.asked) > asked)
        assert port.asked[asked] - news < REFRESH_SECONDS + 0.35  # not the 1 s pace

        # more news within the second: no pull-in, the pace holds
        port.news.put_nowait(
            GateRequested(seq=2, agent="a02", gate_id="g-2", gate_kind=GateKind.HANDOFF)
        )
        await until(pilot, lambda: len(port.asked) > asked + 1, timeout=60)
        assert port.asked[asked + 1] - port.asked[asked] >= MAX_REFRESH_SECONDS + 0.1
        assert HURRY_EVERY_SECONDS <= MAX_REFRESH_SECONDS  # so the next news is pulled in again
