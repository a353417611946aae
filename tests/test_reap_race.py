"""The orphan reaper never steals an agent's own exit status, however soon the agent exits.

The sampler's thread reaps, once a round, the dead orphans adopted from the
agents' cgroups: our zombie children there that are no agent's leader. A
leader the spawner thread has just forked is ours and in its cgroup, and
until its runner holds it the loop knew nothing of it: an agent that exits
at once (a bad flag, a crash at start) was a zombie the reaper took, and its
runner's ``waitpid`` then found no child, which ``subprocess`` reports as
exit status 0: a crashed agent shown as one that succeeded.

Here a thread reaps the run's cgroups flat out, as an unlucky sampler would
at the worst moment, while agents that exit with status 3 at once are
started one after another; every one must report 3.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from controlroom.models import Limits
from controlroom.process.runcgroups import RunCgroups
from controlroom.process.runcontain import RunContainment
from controlroom.process.spawn import spawn_agent

pytestmark = pytest.mark.timeout(120)

STARTS = 60


async def test_a_reaping_round_never_takes_an_agents_own_exit_status(
    run_cgroups: RunCgroups,
) -> None:
    containment = RunContainment(run_cgroups, "")
    done = threading.Event()

    def reap_flat_out() -> None:
        while not done.is_set():
            containment.reap()

    reaper = threading.Thread(target=reap_flat_out, name="test-reaper", daemon=True)
    reaper.start()
    codes: list[int] = []
    try:
        for i in range(STARTS):
            group = run_cgroups.agent(f"quick{i % 4}", Limits())
            proc = await spawn_agent(["/bin/sh", "-c", "exit 3"], "/", {}, cgroup=group)
            codes.append(await asyncio.wait_for(proc.process.wait(), 10))
            proc.close()
    finally:
        done.set()
        reaper.join(10)
    assert codes == [3] * STARTS, f"{codes.count(0)} of {STARTS} exits reported 0"


def test_a_copy_forked_mid_spawn_starts_with_the_registry_free_and_empty() -> None:
    """A fork (not the spawner's) while a leader is forked: the copy's lock is not held by a
    thread it does not have, and the parent's leaders are not its children."""
    import os

    from controlroom.process import leaders

    with leaders.forking() as register:
        register(2**22 + 1)  # no such pid: only the registry sees it
        pid = os.fork()
        if pid == 0:  # the copy: one try at the lock, then out, whatever happens
            try:
                free = leaders._forking.acquire(timeout=2)
                os._exit(0 if free and not leaders._leaders else 1)
            finally:
                os._exit(2)
    _, status = os.waitpid(pid, 0)
    leaders.collected(2**22 + 1)
    assert os.waitstatus_to_exitcode(status) == 0
