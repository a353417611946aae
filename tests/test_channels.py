"""Identity that fails closed: the operator's channel and each agent's own, tried by agents.

Issue 10, finding 1: the socket server decided "agent or operator?" by
walking /proc up from the peer's pid, and a dead pid read as the operator.
An agent that connected in a forked child which exited at once (reaped
before the socket was used) had its own gate approved. Here a real hostile
agent of a real swarm (``agents/impostor.py``) tries exactly that, and every
other operator verb on its neighbour, on the operator's socket and on its
own channel; every attempt must be refused, change nothing, and be in the
audit log.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from gatekit import gated_swarm
from swarmkit import AGENTS, Swarm, sleeper

from controlroom.models import AgentSpec, AgentState, Breaker, GateRequested, StatusEvent
from controlroom.process.peer import identify_peer

pytestmark = pytest.mark.timeout(120)

VERBS: list[list[Any]] = [
    ["approve", {"gate": "{gate}", "reason": "looks fine to me"}],
    ["kill", {"agent": "victim"}],
    ["pause", {"agent": "victim"}],
    ["restart", {"agent": "victim"}],
    ["reset_breaker", {"agent": "victim"}],
    ["stop_all", {}],
]


def impostor(
    tmp_path: Path, socket: str, *, fork: bool, tries: int, ops: list[list[Any]] = VERBS
) -> AgentSpec:
    """``socket`` "": the agent's own channel, from its environment."""
    plan = {
        "socket": socket,
        "fork": fork,
        "tries": tries,
        "gate": True,
        "gate_file": str(tmp_path / "gate-id"),
        "ops": ops,
    }
    command = [sys.executable, str(AGENTS / "impostor.py"), json.dumps(plan)]
    return AgentSpec(name="impostor", command=command)


async def answers(s: Swarm, tmp_path: Path) -> list[dict[str, Any]]:
    """The gate id handed over, then every answer the impostor heard."""
    asked = await s.log.until(lambda e: isinstance(e, GateRequested) and e.agent == "impostor", 30)
    assert isinstance(asked, GateRequested)
    (tmp_path / "gate-id").write_text(asked.gate_id)
    await s.log.until(
        lambda e: isinstance(e, StatusEvent) and e.agent == "impostor" and e.text == "done", 90
    )
    await s.sup.bus.flush()
    heard = [json.loads(e.text) for e in s.log.of("status", "impostor") if e.text.startswith("{")]
    return [{**h, "answer": json.loads(h["answer"])} for h in heard]


async def assert_nothing_changed(s: Swarm) -> None:
    # the victim is spawned off the loop: it may still be starting, never paused or killed
    assert s.sup.runners["victim"].state in (AgentState.STARTING, AgentState.RUNNING)
    await s.state("victim", {AgentState.RUNNING}, timeout=30)
    assert s.sup.runners["impostor"].state == AgentState.GATED
    (pending,) = s.sup.gates.pending()
    assert pending.agent == "impostor"
    for kind in ("gate_decided", "kill_requested", "agent_paused", "breaker_reset"):
        assert s.log.of(kind) == [], kind
    assert s.log.of("operator_action") == []


async def test_a_connector_that_vanished_is_refused_every_operator_verb(tmp_path: Path) -> None:
    operator = str(tmp_path / "run" / "control.sock")  # an agent can work it out: assume it does
    agents = [sleeper("victim"), impostor(tmp_path, operator, fork=True, tries=5)]
    async with gated_swarm(tmp_path, agents) as (s, api, sock):
        assert str(sock) == operator
        heard = await answers(s, tmp_path)
        assert [h["op"] for h in heard] == [op for op, _ in VERBS for _ in range(5)]
        for h in heard:
            assert h["answer"]["ok"] is False, h
            assert h["answer"]["error"].startswith("refused: pid "), h
        await assert_nothing_changed(s)
        refused = s.log.of("socket_refused")
        assert len(refused) == len(heard)  # every attempt is in the log
        assert {r.channel for r in refused} == {"operator"}
        impostor_pid = s.log.of("agent_spawned", "impostor")[0].pid
        assert impostor_pid not in {r.pid for r in refused}  # the vanished children's pids
        assert all(
            "cannot be identified" in r.reason or "agents have their own channel" in r.reason
            for r in refused
        ), [r.reason for r in refused]


async def test_a_live_agent_is_refused_on_the_operators_socket_even_a_query(
    tmp_path: Path,
) -> None:
    operator = str(tmp_path / "run" / "control.sock")
    ops = [["gates", {}], *VERBS]
    agents = [sleeper("victim"), impostor(tmp_path, operator, fork=False, tries=1, ops=ops)]
    async with gated_swarm(tmp_path, agents) as (s, api, sock):
        heard = await answers(s, tmp_path)
        assert [h["op"] for h in heard] == ["gates", *(op for op, _ in VERBS)]
        for h in heard:
            error = h["answer"]["error"]
            assert error.startswith("refused: pid ") and "belongs to agent 'impostor'" in error
            assert "agents have their own channel" in error
        await assert_nothing_changed(s)
        assert len(s.log.of("socket_refused")) == len(heard)


@pytest.mark.parametrize("fork", [False, True], ids=["live", "vanished"])
async def test_on_its_own_channel_an_agent_gets_no_operator_verb(
    tmp_path: Path, fork: bool
) -> None:
    agents = [sleeper("victim"), impostor(tmp_path, "", fork=fork, tries=1)]
    async with gated_swarm(tmp_path, agents) as (s, api, sock):
        heard = await answers(s, tmp_path)
        for h in heard:
            verb = h["op"].replace("_", " ")
            why = f"refused: {verb} is the operator's; agents cannot use it"
            # a vanished connector is refused at once, unless it was seen alive (and its own)
            error = h["answer"]["error"]
            assert error == why or (fork and "cannot be identified" in error), h
        await assert_nothing_changed(s)
        refused = s.log.of("socket_refused")
        assert len(refused) == len(heard)
        assert {r.channel for r in refused} == {"agent impostor"}


SANDBOXED_PROBE = r"""
import json, os, socket, sys, time
time.sleep(1)  # its neighbour's channel is open outside by now
own = os.environ["CONTROLROOM_SOCKET"]
seen = {}
def ping(path):
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(path)
        s.sendall(b'{"id": 1, "op": "ping"}\n')
        return json.loads(s.makefile("rb").readline())
    except Exception as exc:
        return f"{type(exc).__name__}"
seen["own"] = ping(own)
seen["operator"] = ping(sys.argv[1])
seen["neighbour"] = ping(os.path.join(os.path.dirname(own), "other.sock"))
seen["listing"] = sorted(os.listdir(os.path.dirname(own)))
seen["service"] = ping(sys.argv[2]) if sys.argv[2] else "none"
print(json.dumps({"type": "status", "text": "seen", "seen": seen}), flush=True)
"""


async def test_a_sandboxed_agent_reaches_its_own_channel_and_nothing_else() -> None:
    from controlroom.process.sandbox import probe_bwrap

    ok, why = probe_bwrap()
    if not ok:
        pytest.skip(f"no sandbox here: {why}")
    # The run lives on the real root file system: only the sandbox, not a private /tmp, hides it.
    outside = Path(tempfile.mkdtemp(prefix="controlroom-channels-test-", dir="/var/tmp"))
    # A host service's socket under /run (systemd, D-Bus, Docker listen there), where we can.
    service_dir = tempfile.mkdtemp(prefix="cr-", dir="/run") if os.access("/run", os.W_OK) else ""
    service = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if service_dir:
            service.bind(f"{service_dir}/s.sock")
            service.listen(1)
        operator = str(outside / "run" / "control.sock")
        boxed = AgentSpec(
            name="boxed",
            command=[
                sys.executable, "-c", SANDBOXED_PROBE, operator,
                f"{service_dir}/s.sock" if service_dir else "",
            ],  # fmt: skip
            sandbox="workspace",
            breaker=Breaker(restart="never"),
        )
        async with gated_swarm(outside, [boxed, sleeper("other")]) as (s, api, sock):
            status = await s.log.status("boxed", "seen", timeout=60)
            seen = status.extra["seen"]
            assert Path(operator).is_socket() and (await s.sup.channels.open("other")).is_socket()
            assert seen["own"]["ok"] is True and seen["own"]["result"]["agent"] == "boxed"
            assert seen["operator"] == "FileNotFoundError"  # the run directory is hidden
            assert seen["neighbour"] == "FileNotFoundError"  # only its own socket is bound in
            assert seen["listing"] == ["boxed.sock"]
            assert seen["service"] in ("FileNotFoundError", "none")  # /run is hidden
            assert s.log.of("socket_refused") == []
    finally:
        service.close()
        shutil.rmtree(outside, ignore_errors=True)
        if service_dir:
            shutil.rmtree(service_dir, ignore_errors=True)


def test_the_kernel_pins_the_peer_and_one_that_vanished_is_nobody(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    server.settimeout(20)
    held: list[socket.socket] = [server]
    proc = None
    try:
        mine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        mine.connect(path)
        conn, _ = server.accept()
        held += [mine, conn]
        me = identify_peer(conn, run_id="r1", cgroup=None)
        assert (me.pid, me.uid, me.alive, me.agent_side, me.agent) == (
            os.getpid(), os.getuid(), True, False, None
        )
        assert me.operator

        left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:  # connect, vanish
            try:
                left.connect(path)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        conn, _ = server.accept()
        held += [left, conn]
        gone = identify_peer(conn, run_id="r1", cgroup=None)
        assert gone.pid == pid and not gone.alive and not gone.operator
        assert gone.why == "the process that connected is gone"

        code = "import socket, sys, time\ns = socket.socket(socket.AF_UNIX)\n"
        code += "s.connect(sys.argv[1])\ntime.sleep(30)"
        env = {**os.environ, "CONTROLROOM_RUN": "r1", "CONTROLROOM_AGENT": "coder"}
        proc = subprocess.Popen([sys.executable, "-c", code, path], env=env)
        conn, _ = server.accept()
        held.append(conn)
        marked = identify_peer(conn, run_id="r1", cgroup=None)
        assert (marked.pid, marked.alive, marked.agent_side, marked.agent) == (
            proc.pid, True, True, "coder"
        )
        assert not marked.operator
        other_run = identify_peer(conn, run_id="r2", cgroup=None)
        assert other_run.agent is None and other_run.agent_side  # still our descendant
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        for sock in held:
            sock.close()
