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
        self.answered: list[float] = []  # and of each answer
        self.news: asyncio.Queue[Event] = asyncio.Queue()

    async def snapshot(self) -> SwarmView:
        self.asked.append(time.monotonic())
        until_cpu = time.thread_time() + self.cost
        while time.thread_time() < until_cpu:
            pass
        self.answered.append(time.monotonic())
        return VIEW.model_copy(deep=True)

    def waits(self, first: int) -> list[float]:
        """From each answer (from the ``first``) to the next question: the wait the screen armed."""
        return [b - a for a, b in zip(self.answered[first:], self.asked[first + 1 :], strict=False)]

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
        assert all(wait < REFRESH_SECONDS + 0.35 for wait in cheap.waits(2)), cheap.waits(0)

    dear = CostlyPort(cost=0.1)  # over the budget: 0.1 s / 3 % is 3.3 s, held to 1 s
    async with ControlRoomApp(NoSwarm(), dear).run_test(size=SIZE) as pilot:
        main = await _main(pilot)
        await until(pilot, lambda: len(dear.asked) >= WARMUP_REFRESHES + 4, timeout=60)
        assert main.pace.cost >= 0.1 and main.pace.cost / CPU_BUDGET > MAX_REFRESH_SECONDS
        assert main.pace.interval(REFRESH_SECONDS) == MAX_REFRESH_SECONDS
        for wait in dear.waits(WARMUP_REFRESHES + 1):  # the apply and paint, then 1 s
            assert MAX_REFRESH_SECONDS <= wait < MAX_REFRESH_SECONDS + 0.5, dear.waits(0)


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
        assert port.asked[asked + 1] - port.answered[asked] >= MAX_REFRESH_SECONDS
        assert HURRY_EVERY_SECONDS <= MAX_REFRESH_SECONDS  # so the next news is pulled in again
