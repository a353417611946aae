"""Agent processes against real subprocesses, real signals and psutil.

Every process a test starts (and every pid a test agent reports) is killed
at teardown by pid, with psutil's create-time check, if it is still alive.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import psutil
import pytest

from controlroom._errors import AgentError
from controlroom.models import AgentSpec
from controlroom.process import kill as kill_module
from controlroom.process.linux import HAS_PRCTL, IS_LINUX
from controlroom.process.spawn import (
    AgentProcess,
    TreeCache,
    kill_process_tree,
    sample_tree,
    spawn_agent,
)
from controlroom.swarm.launch import build_argv, build_env

AGENTS = Path(__file__).parent / "agents"
ROOT = Path(__file__).parent.parent
pytestmark = pytest.mark.timeout(60)


def gone(pid: int) -> bool:
    """No process at ``pid`` any more, or only its zombie (nobody reaps in some containers)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_until(check: Any, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return bool(check())


class Agents:
    """Starts test agents and remembers every process to clean up."""

    def __init__(self) -> None:
        self.started: list[AgentProcess] = []
        self.extra: list[psutil.Process] = []

    async def start(
        self, script: str, *args: str, env: dict[str, str] | None = None
    ) -> AgentProcess:
        argv = [sys.executable, str(AGENTS / script), *args]
        agent = await spawn_agent(argv, ROOT, env if env is not None else dict(os.environ))
        self.started.append(agent)
        self.track([agent.pid])
        return agent

    def track(self, pids: Iterable[int]) -> None:
        for pid in pids:
            try:
                self.extra.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass

    async def line_with(self, agent: AgentProcess, key: str) -> dict[str, Any]:
        """The first protocol line that has ``key``; reported pids are tracked for cleanup."""
        assert agent.process.stdout is not None
        while True:
            raw = await asyncio.wait_for(agent.process.stdout.readline(), 10)
            assert raw, f"agent exited before printing a line with {key!r}"
            obj = json.loads(raw)
            if "pid" in obj:
                self.track([obj["pid"]])
            if "pids" in obj:
                self.track(obj["pids"])
            if key in obj:
                return dict(obj)

    async def cleanup(self) -> None:
        for proc in self.extra:
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    proc.kill()
            except psutil.Error:
                pass
        for agent in self.started:
            try:  # to EOF, so asyncio closes the pipes while the loop still runs
                await asyncio.wait_for(agent.process.communicate(), 5)
            finally:
                agent.close()


@pytest.fixture
async def agents() -> AsyncIterator[Agents]:
    box = Agents()
    try:
        yield box
    finally:
        await box.cleanup()


# --------------------------------------------------------------------------- env and argv


def test_env_is_an_allowlist() -> None:
    spec = AgentSpec(
        name="coder", command=["x"], env=["GIT_AUTHOR_NAME"], secret_env=["GH", "NOPE"]
    )
    environ = {
        "PATH": "/bin",
        "HOME": "/home/op",
        "LANG": "C.UTF-8",
        "GIT_AUTHOR_NAME": "Op",
        "GH": "ghp_secret",
        "ANTHROPIC_API_KEY": "sk-operator",
        "AWS_SECRET_ACCESS_KEY": "aws",
    }
    env = build_env(spec, "run-1", None, environ)
    assert env == {
        "PATH": "/bin",
        "HOME": "/home/op",
        "LANG": "C.UTF-8",
        "GIT_AUTHOR_NAME": "Op",
        "GH": "ghp_secret",
        "CONTROLROOM_AGENT": "coder",
        "CONTROLROOM_RUN": "run-1",
        "CONTROLROOM_HANDOFF_FILE": "",
    }
    with_all = build_env(spec, "r", "/run/h.json", {**environ, "TERM": "xterm", "LC_ALL": "C"})
    assert with_all["TERM"] == "xterm" and with_all["LC_ALL"] == "C"
    assert with_all["CONTROLROOM_HANDOFF_FILE"] == "/run/h.json"


async def test_agent_process_sees_only_the_allowlist(agents: Agents) -> None:
    spec = AgentSpec(name="envy", command=["x"], env=["CR_NAMED"], secret_env=["CR_TOKEN"])
    environ = {**os.environ, "CR_UNNAMED_SECRET": "s3cret", "CR_NAMED": "v", "CR_TOKEN": "t"}
    env = build_env(spec, "run-7", "/tmp/handoff.json", environ)
    dump = "import json, os; print(json.dumps({'env': dict(os.environ)}))"
    agent = await spawn_agent([sys.executable, "-c", dump], ROOT, env)
    agents.started.append(agent)
    seen = (await agents.line_with(agent, "env"))["env"]

    assert "CR_UNNAMED_SECRET" not in seen and "s3cret" not in seen.values()
    assert seen["CR_NAMED"] == "v" and seen["CR_TOKEN"] == "t"
    assert seen["CONTROLROOM_AGENT"] == "envy"
    assert seen["CONTROLROOM_RUN"] == "run-7"
    assert seen["CONTROLROOM_HANDOFF_FILE"] == "/tmp/handoff.json"
    # LC_CTYPE may be added by Python's own locale coercion inside the child.
    assert set(seen) - {"LC_CTYPE"} == set(env)


def test_argv_placeholders() -> None:
    spec = AgentSpec(
        name="a",
        command=["prog", "{task}", "--from={handoff}", "{other}", '{"json": 1}', "{task}{task}"],
    )
    argv = build_argv(spec, "fix {handoff} bug", "H")
    assert argv == ["prog", "fix {handoff} bug", "--from=H", "{other}", '{"json": 1}'] + [
        "fix {handoff} bugfix {handoff} bug"
    ]


# --------------------------------------------------------------------------- spawn


async def test_spawn_reports_a_missing_or_unusable_program(tmp_path: Path) -> None:
    with pytest.raises(AgentError, match=r"agent 'ghost': cannot start program 'no-such-prog-x'"):
        await spawn_agent(["no-such-prog-x", "-v"], tmp_path, dict(os.environ), agent="ghost")
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(AgentError, match=r"not-executable.sh': Permission denied"):
        await spawn_agent([str(script)], tmp_path, dict(os.environ), agent="a")
    with pytest.raises(AgentError, match=r"working directory '.*nowhere': No such file"):
        await spawn_agent([sys.executable, "-V"], tmp_path / "nowhere", dict(os.environ))


async def test_agent_runs_in_its_own_session(agents: Agents) -> None:
    agent = await agents.start("ignores_sigterm.py")
    await agents.line_with(agent, "pid")
    assert os.getsid(agent.pid) == agent.pid != os.getsid(0)
    assert os.getpgid(agent.pid) == agent.pgid == agent.pid
    assert agent.create_time == psutil.Process(agent.pid).create_time()
    assert (agent.pidfd is not None) == IS_LINUX


# --------------------------------------------------------------------------- kill


async def test_kill_cooperative_tree(agents: Agents) -> None:
    agent = await agents.start("tree4.py")
    pids = (await agents.line_with(agent, "pids"))["pids"]
    assert len(pids) == 4 and not any(gone(p) for p in pids)

    report = await agent.kill(grace=5)

    assert [p for p in pids if not gone(p)] == []
    assert (report.processes, report.survivors, report.escalated) == (4, 0, False)
    assert await agent.process.wait() == -signal.SIGTERM


async def test_kill_reaches_descendants_that_left_the_session(agents: Agents) -> None:
    agent = await agents.start("forks_setsid.py", "2")
    line = await agents.line_with(agent, "pids")
    escaped = line["pids"]
    assert len(escaped) == 4
    assert all(os.getsid(p) == p != agent.pid for p in escaped)  # out of the agent's group

    report = await agent.kill(grace=5)

    assert [p for p in [agent.pid, *escaped] if not gone(p)] == []
    assert (report.processes, report.survivors, report.escalated) == (5, 0, False)


async def test_kill_escalates_when_escaped_descendants_ignore_sigterm(agents: Agents) -> None:
    agent = await agents.start("forks_setsid.py", "2", "--ignore-term")
    escaped = (await agents.line_with(agent, "pids"))["pids"]

    report = await agent.kill(grace=0.3)

    assert [p for p in escaped if not gone(p)] == []
    assert report.escalated and report.survivors == 0 and report.processes == 5
    assert report.duration_ms >= 300  # the grace was given before SIGKILL


async def test_sigterm_ignoring_agent_is_killed_after_grace(agents: Agents) -> None:
    agent = await agents.start("ignores_sigterm.py")
    await agents.line_with(agent, "pid")

    report = await agent.kill(grace=0.5)

    assert gone(agent.pid)
    assert report.escalated and report.survivors == 0 and report.processes == 1
    assert report.duration_ms >= 500  # the grace was given before SIGKILL
    assert await agent.process.wait() == -signal.SIGKILL


async def test_grace_zero_kills_at_once(agents: Agents) -> None:
    agent = await agents.start("ignores_sigterm.py")
    await agents.line_with(agent, "pid")
    report = await agent.kill(grace=0)
    assert gone(agent.pid) and report.survivors == 0 and report.escalated
    # How soon: bench/kill.py ("kill a SIGTERM-ignoring agent, grace 0").


async def test_kill_of_an_exited_agent_is_harmless(agents: Agents) -> None:
    agent = await agents.start("crashes.py")
    assert await agent.process.wait() == 3
    report = await agent.kill(grace=1)
    assert (report.processes, report.survivors, report.escalated) == (0, 0, False)
    nobody = await kill_process_tree(4_194_304 + 1, grace=1)  # beyond the kernel's pid_max
    assert (nobody.processes, nobody.survivors) == (0, 0)


async def test_a_recycled_pid_is_never_signalled(agents: Agents) -> None:
    agent = await agents.start("ignores_sigterm.py")
    await agents.line_with(agent, "pid")
    # Pretend the recorded process started earlier: the one at this pid is "another".
    report = await kill_process_tree(
        agent.pid, grace=0, pgid=agent.pgid, create_time=agent.create_time - 100
    )
    assert report.processes == 0
    await asyncio.sleep(0.1)
    assert psutil.Process(agent.pid).status() != psutil.STATUS_ZOMBIE
    assert agent.process.returncode is None


async def test_kill_by_polling_where_pidfds_are_missing(
    agents: Agents, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kill_module, "_pidfd_works", False)  # as on macOS or old kernels
    tree = await agents.start("tree4.py")
    pids = (await agents.line_with(tree, "pids"))["pids"]
    stubborn = await agents.start("ignores_sigterm.py")
    await agents.line_with(stubborn, "pid")
    assert tree.pidfd is None

    cooperative, escalated = await asyncio.gather(tree.kill(grace=5), stubborn.kill(grace=0.2))

    assert all(gone(p) for p in [*pids, stubborn.pid])
    assert (cooperative.processes, cooperative.survivors, cooperative.escalated) == (4, 0, False)
    assert escalated.escalated and escalated.survivors == 0 and escalated.duration_ms >= 200


# --------------------------------------------------------------------------- pause


async def test_pause_and_resume_the_whole_tree(agents: Agents) -> None:
    agent = await agents.start("forks_setsid.py", "2")
    pids = [agent.pid, *(await agents.line_with(agent, "pids"))["pids"]]

    def statuses() -> set[str]:
        return {psutil.Process(p).status() for p in pids}

    assert agent.pause() == 5
    assert wait_until(lambda: statuses() == {psutil.STATUS_STOPPED}), statuses()
    assert agent.resume() == 5
    assert wait_until(lambda: statuses() <= {psutil.STATUS_RUNNING, psutil.STATUS_SLEEPING}), (
        statuses()
    )

    # A paused tree still dies on SIGTERM: the kill continues it.
    agent.pause()
    assert wait_until(lambda: statuses() == {psutil.STATUS_STOPPED})
    report = await agent.kill(grace=5)
    assert not report.escalated and report.survivors == 0
    assert all(gone(p) for p in pids)


# --------------------------------------------------------------------------- sampling


async def test_sample_tree_counts_processes_memory_and_cpu(agents: Agents) -> None:
    tree = await agents.start("tree4.py")
    await agents.line_with(tree, "pids")
    first = tree.sample()
    assert first.processes == 4 and first.rss_bytes > 4 * 1_000_000
    assert first.cpu_percent == 0.0  # psutil needs a previous call

    busy = await agents.start("runaway.py", "0")
    assert busy.process.stdout is not None
    cache = TreeCache()
    sample_tree(busy.pid, cache)
    burned = psutil.Process(busy.pid).cpu_times
    start = sum(burned()[:2])
    drained = 0
    until = time.monotonic() + 30  # only stops a hung test
    # Keep the pipe moving until it has burned 0.1 s of CPU, however long that takes here.
    while sum(burned()[:2]) - start < 0.1 and time.monotonic() < until:
        drained += len(await busy.process.stdout.read(65536))
    second = sample_tree(busy.pid, cache)
    assert drained > 0 and second.processes == 1 and second.cpu_percent > 0

    await tree.kill(grace=5)
    assert tree.sample().processes == 0
    await busy.kill(grace=5)


# --------------------------------------------------------------------------- Linux extras

SUBREAPER_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    import psutil
    from controlroom.process.linux import become_subreaper
    from controlroom.process.spawn import spawn_agent

    async def main():
        assert become_subreaper()
        agent = await spawn_agent(
            [sys.executable, sys.argv[1], "2", "--orphan-after=0.3"], ".", dict(os.environ))
        while b"grandchildren" not in (line := await agent.process.stdout.readline()):
            pass
        grand = json.loads(line)["grandchildren"]
        print(json.dumps({"cleanup": json.loads(line)["pids"]}), flush=True)
        seen = agent.sample().processes          # while they are still descendants
        children = json.loads(line)["children"]
        while not all(not psutil.pid_exists(c) or psutil.Process(c).status() == "zombie"
                      for c in children):
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
        adopted = [psutil.Process(g).ppid() == os.getpid() for g in grand]
        later = agent.sample().processes         # orphans stay tracked
        report = await agent.kill(grace=2)
        await agent.process.wait()
        print(json.dumps({"seen": seen, "later": later, "adopted": adopted,
                          "grand": grand, "report": report.__dict__,
                          "exist": [psutil.pid_exists(g) for g in grand]}))

    asyncio.run(main())
    """
)


@pytest.mark.skipif(not HAS_PRCTL, reason="needs Linux prctl")
def test_orphans_adopted_by_the_subreaper_are_killed_and_reaped() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SUBREAPER_SCRIPT, str(AGENTS / "forks_setsid.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    lines = [json.loads(x) for x in done.stdout.splitlines()]
    for pid in lines[0]["cleanup"] if lines else []:  # should be dead already; be sure
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)
    assert done.returncode == 0, done.stderr
    result = lines[-1]
    assert result["seen"] == 5  # leader, 2 children, 2 grandchildren
    assert result["adopted"] == [True, True]
    assert result["later"] == 3  # leader and the 2 adopted grandchildren
    assert result["report"]["processes"] == 3 and result["report"]["survivors"] == 0
    assert result["exist"] == [False, False]  # killed, and reaped by us (not left as zombies)


PARENT_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys
    from controlroom.process.spawn import spawn_agent

    async def main():
        agent = await spawn_agent([sys.executable, sys.argv[1]], ".", dict(os.environ))
        await agent.process.stdout.readline()
        print(agent.pid, flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
    """
)


@pytest.mark.skipif(not HAS_PRCTL, reason="needs Linux prctl")
def test_agent_dies_with_the_control_room() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT_SCRIPT, str(AGENTS / "ignores_sigterm.py")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    agent: psutil.Process | None = None
    try:
        assert parent.stdout is not None
        agent = psutil.Process(int(parent.stdout.readline()))
        assert agent.ppid() == parent.pid and not gone(agent.pid)
        parent.kill()
        parent.wait(5)
        assert wait_until(lambda: gone(agent.pid), 2.0)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(5)
        if agent is not None and agent.is_running() and not gone(agent.pid):
            agent.kill()


# --------------------------------------------------------------------------- the test agents


async def test_well_behaved_speaks_the_protocol(agents: Agents) -> None:
    agent = await agents.start("well_behaved.py", "write docs", "0")
    out, _ = await asyncio.wait_for(agent.process.communicate(), 10)
    lines = [json.loads(x) for x in out.decode().splitlines() if x.startswith("{")]
    kinds = [x["type"] for x in lines]
    assert kinds.count("usage") == 3 and kinds.count("tool") == 3 and kinds[-1] == "handoff"
    assert set(lines[-1]) == {"type", "changed", "next_needs", "risks"}
    assert "write docs" in lines[-1]["changed"]
    assert agent.process.returncode == 0


async def test_crashes_exits_three_with_stderr(agents: Agents) -> None:
    agent = await agents.start("crashes.py")
    out, err = await asyncio.wait_for(agent.process.communicate(), 10)
    assert agent.process.returncode == 3
    assert json.loads(out)["type"] == "status" and b"Traceback" in err


async def test_garbage_then_good_lines(agents: Agents) -> None:
    agent = await agents.start("garbage.py", "2")
    out, _ = await asyncio.wait_for(agent.process.communicate(), 10)
    lines = out.split(b"\n")
    assert agent.process.returncode == 0
    assert b"\x00" in lines[0] and len(lines[1]) == 5 * 1024 * 1024
    with pytest.raises(UnicodeDecodeError):
        lines[2].decode()
    assert [json.loads(x)["type"] for x in lines[-3:-1]] == ["usage", "usage"]


@pytest.mark.parametrize(("approved", "code"), [(True, 0), (False, 1)])
async def test_gate_asker_follows_the_decision(agents: Agents, approved: bool, code: int) -> None:
    agent = await agents.start("gate_asker.py", "ship it?")
    gate = await agents.line_with(agent, "title")
    assert gate == {"type": "gate", "title": "ship it?", "detail": "asked by gate_asker"}
    decision = {"type": "gate_decision", "approved": approved, "reason": "looks fine"}
    out, _ = await asyncio.wait_for(
        agent.process.communicate(json.dumps(decision).encode() + b"\n"), 10
    )
    assert agent.process.returncode == code
    assert json.loads(out)["text"].startswith("approved" if approved else "rejected")


@pytest.mark.parametrize("script", ["runaway.py", "repeats_tool.py"])
async def test_endless_agents_repeat_their_lines(agents: Agents, script: str) -> None:
    agent = await agents.start(script)
    assert agent.process.stdout is not None
    lines = [json.loads(await agent.process.stdout.readline()) for _ in range(20)]
    tools = [x for x in lines if x["type"] == "tool"]
    assert all(x["type"] in ("usage", "tool") for x in lines)
    assert len({json.dumps(t) for t in tools}) <= 1  # always the same call
    if script == "runaway.py":
        assert all(x["input_tokens"] + x["output_tokens"] == 1000 for x in lines)
    else:
        assert len(tools) >= 9
    report = await agent.kill(grace=5)
    assert report.survivors == 0 and not report.escalated
