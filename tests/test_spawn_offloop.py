"""Agents are forked and exec'd on the spawner thread: a spawn never stops the event loop.

A spawn waits, blocking, until its child has exec'd (a fork with a pre-exec
step, then the exec). On the loop thread that blinded the reader, and the
governor on its path, for every spawn of a burst. The first tests hold a
real spawn in its pre-exec step (the child joins a *frozen* cgroup, and the
kernel freezes it there, before its exec) and show the loop reading another
agent's lines all the while, and a cancelled start leaving nothing behind.
The last one shows what the long-lived spawner thread is for: the agents'
parent-death signal fires when the process dies, not when the thread (or
event loop) that asked for the spawn ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from controlroom.models import Limits
from controlroom.process.cgroup import AgentCgroup, cgroup_of
from controlroom.process.linux import HAS_PRCTL
from controlroom.process.runcgroups import RunCgroups
from controlroom.process.spawn import AgentProcess, spawn_agent

ROOT = Path(__file__).parent.parent
pytestmark = pytest.mark.timeout(120)
WATCHDOG_SECONDS = 30.0

TALKER = "import sys, time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.005)"


@contextlib.contextmanager
def frozen(group: AgentCgroup) -> Iterator[None]:
    """``group`` frozen; thawed at the end, or by a watchdog thread if the loop never gets there.

    A spawn on the loop thread would block the loop until its child's exec,
    which the freeze holds off forever: the watchdog turns that hang into a
    failure (the child then exec's before the test looked).
    """
    group.freeze(True)
    watchdog = threading.Timer(WATCHDOG_SECONDS, group.freeze, (False,))
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()
        group.freeze(False)


async def held_in_pre_exec(group: AgentCgroup) -> int:
    """The pid of the child frozen in ``group`` before its exec (still a copy of this process)."""
    while not group.pids():
        await asyncio.sleep(0.005)
    [pid] = group.pids()
    assert psutil.Process(pid).cmdline() == psutil.Process().cmdline()  # not exec'd yet
    return pid


async def read_lines(agent: AgentProcess, count: int) -> None:
    assert agent.process.stdout is not None
    for _ in range(count):
        assert await asyncio.wait_for(agent.process.stdout.readline(), 10) == b"tick\n"


async def finish(*agents: AgentProcess) -> None:
    for agent in agents:
        await agent.kill(grace=0)
        await asyncio.wait_for(agent.process.wait(), 10)
        agent.close()


async def test_a_spawn_held_before_its_exec_leaves_the_loop_reading(
    run_cgroups: RunCgroups,
) -> None:
    talker = await spawn_agent([sys.executable, "-c", TALKER], ROOT, dict(os.environ))
    group = run_cgroups.agent("held", Limits())
    argv = [sys.executable, "-c", "print('started', flush=True)"]
    try:
        with frozen(group):
            start = asyncio.create_task(spawn_agent(argv, ROOT, dict(os.environ), cgroup=group))
            await held_in_pre_exec(group)
            await read_lines(talker, 20)  # the loop reads on while the spawn waits for its exec
            assert not start.done()
        agent = await asyncio.wait_for(start, 30)
        assert agent.process.stdout is not None
        assert await asyncio.wait_for(agent.process.stdout.readline(), 10) == b"started\n"
        assert await asyncio.wait_for(agent.process.wait(), 10) == 0
        agent.close()
        assert agent.process.returncode == 0
    finally:
        await finish(talker)


async def test_a_start_cancelled_before_its_exec_leaves_no_process(
    run_cgroups: RunCgroups,
) -> None:
    group = run_cgroups.agent("cancelled", Limits())
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    with frozen(group):
        start = asyncio.create_task(spawn_agent(argv, ROOT, dict(os.environ), cgroup=group))
        pid = await held_in_pre_exec(group)
        start.cancel()
        with pytest.raises(asyncio.CancelledError):
            await start
    assert await group.wait_for("populated", 0, 10)  # killed as soon as it could be
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and time.monotonic() < deadline:  # and reaped: no zombie
        await asyncio.sleep(0.01)
    assert not psutil.pid_exists(pid) or cgroup_of(pid) != group.name


async def test_a_failed_start_in_a_burst_fails_alone() -> None:
    ok = [sys.executable, "-c", "pass"]
    results = await asyncio.gather(
        spawn_agent(ok, ROOT, dict(os.environ)),
        spawn_agent(["no-such-prog-x"], ROOT, dict(os.environ), agent="ghost"),
        spawn_agent(ok, ROOT, dict(os.environ)),
        return_exceptions=True,
    )
    first, failed, last = results
    assert (
        str(failed)
        == "agent 'ghost': cannot start program 'no-such-prog-x': No such file or directory"
    )
    for agent in (first, last):
        assert isinstance(agent, AgentProcess)
        assert await asyncio.wait_for(agent.process.wait(), 10) == 0
        agent.close()


OUTLIVES = textwrap.dedent(
    """
    import asyncio, os, sys, threading, time
    from controlroom.process.spawn import spawn_agent

    started = []

    def asker():  # its own thread and event loop, both gone once the spawn returned
        argv = [sys.executable, "-c", "import time; time.sleep(60)"]
        started.append(asyncio.run(spawn_agent(argv, ".", dict(os.environ))))

    thread = threading.Thread(target=asker)
    thread.start()
    thread.join()
    time.sleep(0.3)  # the asking thread is gone: a parent-death signal tied to it has fired
    print(started[0].pid, flush=True)
    time.sleep(60)
    """
)


@pytest.mark.skipif(not HAS_PRCTL, reason="PR_SET_PDEATHSIG is Linux only")
def test_agents_outlive_the_thread_that_asked_and_die_with_the_process() -> None:
    host = subprocess.Popen(
        [sys.executable, "-c", OUTLIVES], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert host.stdout is not None
        agent = psutil.Process(int(host.stdout.readline()))
        assert agent.status() != psutil.STATUS_ZOMBIE and agent.ppid() == host.pid
        host.send_signal(signal.SIGKILL)  # no cleanup runs: only the kernel's signal
        host.wait(10)
        agent.wait(10)  # gone (re-parented to init, or to a subreaper, and reaped)
    finally:
        host.kill()
        host.wait(10)
        if host.stdout is not None:
            host.stdout.close()
