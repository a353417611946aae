"""The control socket with a real supervisor, real agent processes and a real audit file.

Each test serves a real ``Supervisor`` through ``ControlAPI`` and
``ControlSocketServer`` on a unix socket in a temporary folder, and talks to
it over real connections: asyncio streams, the blocking ``ControlClient`` (in
a thread, since the server shares this event loop), a forked child that has
dropped to another uid, and an agent process that tries to command its own
control room. Hostile input (garbage, 5 MiB lines, silent clients, 100
clients at once) must leave the server answering the next good request.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sqlite3
import stat
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from swarmkit import swarm

from controlroom._errors import (
    AgentNotFound,
    ControlError,
    GateAlreadyDecided,
    GateNotFound,
    ReadOnly,
)
from controlroom.control.api import ControlAPI
from controlroom.control.client import AsyncControlClient, ControlClient
from controlroom.control.server import ControlSocketServer
from controlroom.models import AgentSpec, SwarmConfig, SwarmSettings, new_run_id
from controlroom.store.writer import AuditStore
from controlroom.swarm.supervisor import Supervisor

pytestmark = pytest.mark.timeout(30)

AGENTS = Path(__file__).parent / "agents"


def sleeper(name: str, **kwargs: Any) -> AgentSpec:
    """A native agent that sits in a 30 s sleep between lines (dies on SIGTERM)."""
    return AgentSpec(
        name=name, command=[sys.executable, str(AGENTS / "well_behaved.py"), name, "30"], **kwargs
    )


@dataclass
class Served:
    sup: Supervisor
    server: ControlSocketServer
    path: Path
    db: Path

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_unix_connection(str(self.path), limit=1 << 24)

    def events(self, kind: str) -> list[dict[str, Any]]:
        conn = sqlite3.connect(self.db)
        try:
            rows = conn.execute("SELECT payload FROM events WHERE kind = ?", (kind,)).fetchall()
        finally:
            conn.close()
        return [json.loads(payload) for (payload,) in rows]


@asynccontextmanager
async def served(
    tmp_path: Path, agents: list[AgentSpec], run_dir: Path | None = None
) -> AsyncIterator[Served]:
    """A started supervisor behind a listening control socket; everything stopped on exit."""
    settings = {"name": "sock", "run_dir": str(run_dir or tmp_path / "run")}
    async with swarm(tmp_path, agents, settings=settings, serve=True) as s:
        assert s.server is not None
        yield Served(s.sup, s.server, s.server.path, s.db)


async def ask(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: dict[str, Any] | bytes
) -> dict[str, Any]:
    data = request if isinstance(request, bytes) else json.dumps(request).encode() + b"\n"
    writer.write(data)
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 5)
    assert line, "the server closed the connection instead of answering"
    answer: dict[str, Any] = json.loads(line)
    return answer


async def ping_ok(srv: Served) -> None:
    reader, writer = await srv.open()
    try:
        answer = await ask(reader, writer, {"id": 7, "op": "ping", "args": {}})
        assert answer == {
            "id": 7,
            "ok": True,
            "result": {"swarm": "sock", "run": srv.sup.run_id, "read_only": False},
        }
    finally:
        writer.close()


# --------------------------------------------------------------------------- basics


async def test_ping_and_snapshot_round_trip_and_socket_is_private(tmp_path: Path) -> None:
    async with served(tmp_path, [sleeper("a")]) as srv:
        mode = os.stat(srv.path).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        assert stat.S_IMODE(os.stat(srv.path.parent).st_mode) == 0o700
        await ping_ok(srv)
        viewer = ControlSocketServer(ControlAPI(srv.sup, read_only=True), tmp_path / "ro.sock")
        await viewer.start()
        reader, writer = await srv.open()
        snap = await ask(reader, writer, {"id": 2, "op": "snapshot", "args": {}})
        assert snap["ok"] is True and snap["id"] == 2
        assert [a["name"] for a in snap["result"]["agents"]] == ["a"]
        assert snap["result"]["run"] == srv.sup.run_id
        unknown = await ask(reader, writer, {"id": 3, "op": "launch_missiles"})
        assert unknown["ok"] is False and "unknown operation 'launch_missiles'" in unknown["error"]
        bad_agent = await ask(reader, writer, {"id": 4, "op": "kill", "args": {"agent": "zz"}})
        assert bad_agent == {
            "id": 4,
            "ok": False,
            "error": "unknown agent 'zz' (agents: a)",
            "code": "agent_not_found",
        }
        writer.close()
        # The blocking client, in a thread (the server runs on this loop).
        with ControlClient(srv.path, timeout=5) as client:
            result = await asyncio.to_thread(client.request, "ping")
            again = await asyncio.to_thread(client.request, "snapshot")
            with pytest.raises(AgentNotFound, match="unknown agent 'zz'"):  # the same class
                await asyncio.to_thread(client.request, "pause", {"agent": "zz"})
            with pytest.raises(GateNotFound, match="no gate 'g-0'"):
                await asyncio.to_thread(client.request, "approve", {"gate": "g-0"})
            with pytest.raises(ControlError) as plain:
                await asyncio.to_thread(client.request, "launch_missiles")
            assert type(plain.value) is ControlError
        with ControlClient(viewer.path, timeout=5) as client:
            with pytest.raises(ReadOnly, match="read-only: kill is not allowed"):
                await asyncio.to_thread(client.request, "kill", {"agent": "a"})
        await viewer.close()
        assert result["run"] == srv.sup.run_id
        assert again["totals"]["agents"] == 1
    assert not srv.path.exists(), "close() must remove the socket file"


async def test_operator_is_recorded_by_uid_and_name(tmp_path: Path) -> None:
    async with served(tmp_path, [sleeper("a")]) as srv:
        await srv.sup.bus.flush()
        async with AsyncControlClient(srv.path) as client:
            await _until_running(srv, "a")
            paused = await client.request("pause", {"agent": "a"})
            assert paused == {"agent": "a", "processes": 1}
            await client.request("resume", {"agent": "a"})
        await srv.sup.bus.flush()
        by = srv.events("agent_paused")[0]["by"]
        assert by == "uid 0 (root)" if os.getuid() == 0 else by.startswith(f"uid {os.getuid()} (")


async def _until_running(srv: Served, agent: str) -> None:
    async def poll() -> None:
        while srv.sup.runners[agent].state != "running":
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), 5)


# --------------------------------------------------------------------------- who may connect


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to drop to another uid")
async def test_another_uid_is_refused_by_peer_credentials_and_audited(tmp_path: Path) -> None:
    # The socket must be reachable by uid 65534, so that the credential check,
    # not the file mode, is what refuses it: a folder outside the 0700 pytest tree.
    shared = Path(tempfile.mkdtemp(prefix="cr-sock-", dir="/tmp"))
    try:
        os.chmod(shared, 0o711)
        async with served(tmp_path, [], run_dir=shared / "run") as srv:
            os.chmod(srv.path.parent, 0o755)
            os.chmod(srv.path, 0o666)
            reply, child = await asyncio.to_thread(_connect_as, 65534, srv.path)
            assert reply == {
                "id": None,
                "ok": False,
                "error": "refused: uid 65534 is not the control room's user",
            }
            await ping_ok(srv)  # the server is unharmed
            (refusal,) = srv.events("socket_refused")
            assert refusal["channel"] == "operator"
            assert (refusal["uid"], refusal["pid"]) == (65534, child)
            assert refusal["reason"] == "uid 65534 is not the control room's user"
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def _connect_as(uid: int, path: Path) -> tuple[dict[str, Any], int]:
    """Fork; the child drops to ``uid``, connects, and sends back what the server said."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no event loop, no pytest, only a socket and os._exit
        code = 0
        try:
            os.close(rfd)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            sock.connect(str(path))
            try:
                sock.sendall(b'{"id": 1, "op": "stop_all", "args": {}}\n')
            except BrokenPipeError:
                pass  # refused and hung up before we spoke (a loaded machine): read why
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            os.write(wfd, data)
        except BaseException as exc:  # report anything, never return into pytest
            os.write(wfd, json.dumps({"child_error": repr(exc)}).encode())
            code = 1
        finally:
            os._exit(code)
    os.close(wfd)
    data = b""
    while chunk := os.read(rfd, 65536):
        data += chunk
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, data
    return json.loads(data), pid


async def test_an_agent_is_refused_at_the_operators_socket(tmp_path: Path) -> None:
    # An agent runs inside the control room's process tree: the operator's socket
    # refuses it at once (even a ping); its own channel is where it may ask.
    # The fuller hostile cases (a connector that vanished, every verb) are in test_channels.
    code = (
        "import json, socket, sys\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
        "try: s.sendall(json.dumps({'id': 1, 'op': 'ping'}).encode() + b'\\n')\n"
        "except OSError: pass  # refused and closed before it spoke: read why\n"
        "line = s.makefile('rb').readline().decode()\n"
        "print(json.dumps({'type': 'status', 'text': line}), flush=True)\n"
    )
    run = tmp_path / "run"
    sneaky = AgentSpec(
        name="sneaky", command=[sys.executable, "-c", code, str(run / "control.sock")]
    )
    async with served(tmp_path, [sleeper("v"), sneaky], run_dir=run) as srv:
        deadline = time.monotonic() + 20  # only stops a hang
        said: list[dict[str, Any]] = []
        while not said and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            await srv.sup.bus.flush()  # what it said may predate any subscription: read the log
            said = [e for e in srv.events("status") if e["agent"] == "sneaky"]
        ping = json.loads(said[0]["text"])
        assert ping["ok"] is False and ping["id"] is None
        assert "belongs to agent 'sneaky'" in ping["error"]
        assert "agents have their own channel" in ping["error"]
        await srv.sup.bus.flush()
        (refusal,) = srv.events("socket_refused")
        assert refusal["channel"] == "operator" and refusal["agent"] == "sneaky"


# --------------------------------------------------------------------------- hostile input


async def test_hostile_clients_leave_the_server_answering(tmp_path: Path) -> None:
    async with served(tmp_path, [sleeper("a")]) as srv:
        # A client that connects and says nothing, and one that sends half a line.
        silent_r, silent_w = await srv.open()
        half_r, half_w = await srv.open()
        half_w.write(b'{"id": 1, "op": "pi')
        await half_w.drain()

        # Garbage bytes: an error, and the same connection still works.
        reader, writer = await srv.open()
        garbage = await ask(reader, writer, b"\xff\xfe\x00garbage{{\n")
        assert garbage["ok"] is False and garbage["error"].startswith("invalid JSON")
        not_object = await ask(reader, writer, b"[1, 2, 3]\n")
        assert not_object == {"id": None, "ok": False, "error": "a request must be a JSON object"}
        bad_args = await ask(reader, writer, {"id": 5, "op": "kill", "args": "a"})
        assert bad_args == {"id": 5, "ok": False, "error": "'args' must be an object"}
        fine = await ask(reader, writer, {"id": 6, "op": "ping"})
        assert fine["ok"] is True and fine["id"] == 6
        writer.close()

        # 5 MiB in one line: refused, connection closed; nothing was executed.
        big_r, big_w = await srv.open()
        huge = {"id": 9, "op": "kill", "args": {"agent": "a", "reason": "x" * (5 << 20)}}
        big_w.write(json.dumps(huge).encode() + b"\n")
        drain = asyncio.ensure_future(big_w.drain())
        line = await asyncio.wait_for(big_r.readline(), 5)
        assert json.loads(line) == {
            "id": None,
            "ok": False,
            "error": "request too large (limit 1 MiB per line)",
        }
        try:
            assert await asyncio.wait_for(big_r.read(), 5) == b""
        except ConnectionResetError:
            pass  # closed with our unread megabytes in its buffer: also closed
        await asyncio.gather(drain, return_exceptions=True)
        big_w.close()
        # nothing was executed: no kill asked for, the agent still starting or running
        # (it is spawned off the loop, so it may not have exec'd yet)
        await srv.sup.bus.flush()
        assert srv.events("kill_requested") == []
        assert srv.sup.runners["a"].state in ("starting", "running")

        # While the silent clients hold their connections, others are answered: a server
        # that waited on them would never answer (the timeout only stops a hung test).
        await asyncio.wait_for(ping_ok(srv), 30)

        # 100 clients at once: all connected first, then all asking together.
        conns = await asyncio.gather(*(srv.open() for _ in range(100)))
        answers = await asyncio.gather(
            *(ask(r, w, {"id": i, "op": "snapshot"}) for i, (r, w) in enumerate(conns))
        )
        assert [a["id"] for a in answers] == list(range(100))
        assert all(a["ok"] and a["result"]["run"] == srv.sup.run_id for a in answers)
        for _, w in conns:
            w.close()

        # The half line, completed late, is still answered: nobody was blocked by it.
        half_w.write(b'ng", "args": {}}\n')
        late = json.loads(await asyncio.wait_for(half_r.readline(), 5))
        assert late["ok"] is True and late["id"] == 1
        await ping_ok(srv)
        silent_w.close()
        half_w.close()
        del silent_r


async def test_requests_on_one_connection_are_answered_in_order(tmp_path: Path) -> None:
    async with served(tmp_path, [sleeper("a")]) as srv:
        reader, writer = await srv.open()
        ops = ["ping", "snapshot", "gates", "nonsense", "handoffs", "ping"]
        writer.write(b"".join(json.dumps({"id": i, "op": op}).encode() + b"\n"
                              for i, op in enumerate(ops)))
        await writer.drain()
        answers = [json.loads(await asyncio.wait_for(reader.readline(), 5)) for _ in ops]
        assert [a["id"] for a in answers] == list(range(len(ops)))
        assert [a["ok"] for a in answers] == [True, True, True, False, True, True]
        writer.close()


# --------------------------------------------------------------------------- blocking ops, streams


async def test_a_waiting_tool_gate_blocks_only_its_own_connection(tmp_path: Path) -> None:
    async with served(tmp_path, [sleeper("coder", gate_tools=["Bash"])]) as srv:
        await _until_running(srv, "coder")
        hook = AsyncControlClient(srv.path, timeout=None)
        ask_gate = asyncio.ensure_future(
            hook.request(
                "tool_gate",
                {"agent": "coder", "tool": "Bash", "input": {"command": "rm -rf build"}},
            )
        )
        async with AsyncControlClient(srv.path) as operator:
            async def pending() -> list[dict[str, Any]]:
                while not (gates := await operator.request("gates")):
                    await asyncio.sleep(0.01)
                return gates  # type: ignore[no-any-return]

            gates = await asyncio.wait_for(pending(), 5)
            assert not ask_gate.done()
            assert [(g["kind"], g["agent"], g["tool"]["name"]) for g in gates] == [
                ("tool", "coder", "Bash")
            ]
            assert gates[0]["tool"]["input"] == {"command": "rm -rf build"}
            with pytest.raises(ControlError, match="needs a reason"):
                await operator.request("reject", {"gate": gates[0]["id"], "reason": " "})
            decided = await operator.request("reject", {"gate": gates[0]["id"], "reason": "no"})
            assert decided["state"] == "rejected"
            answer = await asyncio.wait_for(ask_gate, 5)
            assert answer["approved"] is False and "no" in answer["reason"]
            with pytest.raises(GateAlreadyDecided, match="already rejected"):
                await operator.request("approve", {"gate": gates[0]["id"]})
        await hook.close()
        await srv.sup.bus.flush()
        decided_events = srv.events("gate_decided")
        assert [(e["approved"], e["reason"]) for e in decided_events] == [(False, "no")]
        assert decided_events[0]["by"].startswith(f"uid {os.getuid()} (")


async def test_subscribe_streams_events_and_a_hangup_ends_the_subscription(
    tmp_path: Path,
) -> None:
    async with served(tmp_path, [sleeper("a")]) as srv:
        await _until_running(srv, "a")
        before = len(srv.sup.bus._subscriptions)
        client = AsyncControlClient(srv.path)
        stream = client.subscribe()
        first = asyncio.ensure_future(stream.__anext__())
        while len(srv.sup.bus._subscriptions) == before:  # subscribed on the server
            await asyncio.sleep(0.01)
        await client.request("pause", {"agent": "a"})
        seen = [await asyncio.wait_for(first, 5)]
        while not any(e["kind"] == "agent_paused" for e in seen):
            seen.append(await asyncio.wait_for(stream.__anext__(), 5))
        paused = next(e for e in seen if e["kind"] == "agent_paused")
        assert paused["agent"] == "a" and paused["run"] == srv.sup.run_id and paused["seq"] > 0
        await stream.aclose()  # hang up
        await client.close()

        async def unsubscribed() -> None:
            while len(srv.sup.bus._subscriptions) != before:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(unsubscribed(), 5)
        await ping_ok(srv)


# --------------------------------------------------------------------------- the socket file


async def test_a_stale_socket_is_replaced_and_a_live_one_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(run / "control.sock"))
    stale.close()  # the file stays: a control room that died
    async with served(tmp_path, [], run_dir=run) as srv:
        await ping_ok(srv)
        second = ControlSocketServer(ControlAPI(srv.sup), srv.path)
        with pytest.raises(ControlError, match="another control room is running at .*swarm 'sock'"):
            await second.start()
        await ping_ok(srv)  # the first one is untouched
    regular = run / "control.sock"
    regular.write_text("not a socket")
    config = SwarmConfig(swarm=SwarmSettings(audit_db=str(tmp_path / "b.db"), run_dir=str(run)))
    store = await AuditStore.open(config.swarm.audit_db, new_run_id())
    sup = Supervisor(config, store, run_id="r", base_dir=tmp_path)
    try:
        with pytest.raises(ControlError, match="exists and is not a socket"):
            await ControlSocketServer(ControlAPI(sup), regular).start()
    finally:
        await store.close()


def test_client_says_no_control_room_is_running(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "control.sock"
    with pytest.raises(ControlError) as info:
        ControlClient(missing).request("ping")
    assert str(info.value) == (
        f"no control room is running at {missing} (start one with 'controlroom run --headless')"
    )
    dead = tmp_path / "dead.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(dead))
    sock.close()
    with pytest.raises(ControlError, match="no control room is running at"):
        ControlClient(dead).request("ping")


async def test_closing_lets_subscribers_have_the_end_of_the_run(tmp_path: Path) -> None:
    # The headless run closes the socket right after the run ends: a subscriber
    # must still get everything up to run_ended, then see its stream end.
    config = SwarmConfig(
        swarm=SwarmSettings(
            name="sock", audit_db=str(tmp_path / "audit.db"), run_dir=str(tmp_path / "run")
        ),
        agents=[AgentSpec(name="a", command=[sys.executable, str(AGENTS / "well_behaved.py")])],
    )
    run_id = new_run_id()
    store = await AuditStore.open(config.swarm.audit_db, run_id)
    sup = Supervisor(config, store, run_id=run_id, base_dir=tmp_path)
    server = ControlSocketServer(ControlAPI(sup), tmp_path / "run" / "control.sock")
    await server.start()
    try:
        client = ControlClient(server.path, timeout=5)
        received: list[str] = []

        def read_all() -> None:
            for event in client.subscribe():
                received.append(event["kind"])

        reader = asyncio.ensure_future(asyncio.to_thread(read_all))
        while not sup.bus._subscriptions:  # the subscription is in place
            await asyncio.sleep(0.01)
        await sup.start()
        assert await asyncio.wait_for(sup.wait(), 10) is True
        await sup.close()
        await server.close()
        await asyncio.wait_for(reader, 5)
    finally:
        await store.close()
    assert received[0] == "run_started"
    assert "agent_spawned" in received and "handoff" in received
    assert received[-1] == "run_ended"
    assert not server.path.exists()
