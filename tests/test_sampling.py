"""The resource sampler reads the kernel off the loop and applies what it found on it.

Real agents under a real supervisor, both containments. A probe on the
agents' own ``sample`` records which thread read them: never the event
loop's, where each of its system calls could wait for the GIL behind the
audit writer while a crossing line waits to be read.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from swarmkit import CONTAINMENTS, need_containment, sleeper, swarm

from controlroom.models import Containment
from controlroom.process.procscan import ProcTable
from controlroom.process.spawn import AgentProcess
from controlroom.process.tree import TreeSample


@pytest.mark.parametrize("mode", CONTAINMENTS)
async def test_agents_are_read_off_the_loop_and_their_meters_show_it(
    tmp_path: Path, mode: Containment, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_containment(mode)
    readers: list[int] = []
    original: Callable[[AgentProcess, ProcTable | None], TreeSample] = AgentProcess.sample

    def probed(self: AgentProcess, table: ProcTable | None = None) -> TreeSample:
        readers.append(threading.get_ident())
        return original(self, table)

    monkeypatch.setattr(AgentProcess, "sample", probed)
    agents = [sleeper("a"), sleeper("b")]
    async with swarm(tmp_path, agents, sample_seconds=0.05, containment=mode) as s:
        meters = s.sup.governor.meters

        async def both_sampled() -> None:
            while not all(meters.agent(n).processes == 1 for n in ("a", "b")):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(both_sampled(), 10)
        pid = s.spawned("a")[0].pid
        rss = meters.agent("a").rss_bytes
        assert rss is not None and rss > 0
        assert psutil.pid_exists(pid)
        # a kill right after a pass is still exact: the sampler's state is its own
        report = await asyncio.wait_for(s.sup.kill("a", by="test"), 5)
        assert report is not None and report.survivors == 0 and not psutil.pid_exists(pid)

    loop_thread = threading.main_thread().ident
    assert len(readers) >= 2
    assert loop_thread not in readers
    assert len(set(readers)) == 1  # one sampler thread, so no two passes overlap
