"""Each agent's own channel to the control room: a socket that speaks for that agent only.

The operator's channel (``control/server.py``) carries every verb, so who
may use it must be beyond doubt; an agent has nothing to do there. What an
agent may ask for (a decision on one of its own tool calls: the Claude Code
PreToolUse hook, ``controlroom hook``) it asks on a unix socket of its own,
whose path is the only one in its environment (``CONTROLROOM_SOCKET``): the
operator's socket path never is. The channel *is* the identity: a request on
agent B's channel is B's, whatever it names; naming another agent is refused.

The sockets live in a private directory made for the run (0700, under the
temporary directory: short paths, and a sandboxed agent's /tmp is its own,
with only its own socket bound in). A peer is admitted on B's channel only
if the kernel shows it alive (``process/peer.py``) and it is B's, or no
agent's at all (the operator trying the hook by hand); one that belongs to
another agent, to no agent the run can name, or that is gone, is refused.
Every refusal is in the audit log (``socket_refused``) before it is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from controlroom._errors import AgentError, ControlRoomError
from controlroom.models import EventBase, SocketRefused
from controlroom.process.peer import PeerIdentity

__all__ = ["AGENT_OPS", "OPERATOR_OPS", "AgentChannels", "refusal"]

AGENT_OPS = frozenset({"ping", "tool_gate"})
"""What an agent may ask on its own channel."""

OPERATOR_OPS = frozenset(
    {"kill", "pause", "resume", "restart", "stop_all", "approve", "reject", "reset_breaker"}
)
"""Verbs that exist only on the operator's channel."""

MAX_REQUEST_BYTES = 1 << 20

Gate = Callable[[str, str, dict[str, Any], str], Awaitable[tuple[bool, str]]]


def refusal(peer: PeerIdentity, channel: str | None) -> str | None:
    """Why ``peer`` may not use ``channel`` (None: the operator's; else an agent's), or None."""
    if peer.uid != os.getuid():
        return f"uid {peer.uid} is not the control room's user"
    if not peer.alive:
        return f"pid {peer.pid} cannot be identified ({peer.why})"
    if channel is None and peer.agent_side:
        whose = f"belongs to agent {peer.agent!r}" if peer.agent else "runs on the agents' side"
        return (
            f"pid {peer.pid} {whose}: agents have their own channel, and the operator's "
            "verbs are not on it"
        )
    if channel is not None and peer.agent_side and peer.agent != channel:
        whose = f"agent {peer.agent!r}" if peer.agent else "no agent the run can name"
        return f"pid {peer.pid} belongs to {whose}, not to {channel!r}"
    return None


class AgentChannels:
    """One listening socket per agent, opened before the agent starts, closed with the run."""

    def __init__(
        self,
        *,
        identify: Callable[[socket.socket], PeerIdentity],
        gate: Gate,
        publish: Callable[[EventBase], None],
        flush: Callable[[], Awaitable[None]],
        info: Callable[[], dict[str, Any]],
    ) -> None:
        self._identify = identify
        self._gate = gate
        self._publish = publish
        self._flush = flush
        self._info = info
        self._dir: str | None = None
        self._servers: dict[str, asyncio.AbstractServer] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock = asyncio.Lock()

    async def open(self, agent: str) -> Path:
        """The agent's channel, listening (a restart keeps the one it had)."""
        async with self._lock:
            if self._dir is None:
                self._dir = tempfile.mkdtemp(prefix="controlroom-ch-")  # 0700
            path = Path(self._dir) / f"{agent}.sock"
            if agent not in self._servers:
                try:
                    self._servers[agent] = await self._listen(agent, path)
                except OSError as exc:
                    raise AgentError(
                        f"agent {agent!r}: cannot open its channel {path}: {exc.strerror or exc}"
                    ) from None
            return path

    async def _listen(self, agent: str, path: Path) -> asyncio.AbstractServer:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.fchmod(sock.fileno(), 0o600)  # the file is never open to others
            sock.bind(str(path))
            sock.listen(64)
            sock.setblocking(False)
            return await asyncio.start_unix_server(
                lambda r, w: self._serve(agent, r, w), sock=sock, limit=MAX_REQUEST_BYTES + 1
            )
        except OSError:
            sock.close()
            raise

    async def close(self) -> None:
        for server in self._servers.values():
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers.values():
            await server.wait_closed()
        self._servers.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def _serve(
        self, agent: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            peer = self._identify(writer.get_extra_info("socket"))
            why = refusal(peer, agent)
            if why is not None:
                await self._refuse(writer, agent, peer, "", why, None)
                return
            while line := await _request_line(reader, writer):
                await self._answer(agent, peer, line, writer)
        except (OSError, asyncio.CancelledError):
            pass  # the agent went away, or the run is closing
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _answer(
        self, agent: str, peer: PeerIdentity, line: bytes, writer: asyncio.StreamWriter
    ) -> None:
        try:
            request = json.loads(line)
        except ValueError as exc:
            await _send(writer, {"id": None, "ok": False, "error": f"invalid JSON: {exc}"})
            return
        if not isinstance(request, dict):
            await _send(writer, {"id": None, "ok": False, "error": "a request must be an object"})
            return
        req_id, op = request.get("id"), request.get("op")
        raw = request.get("args")
        args: dict[str, Any] = raw if isinstance(raw, dict) else {}
        why = _not_for_agents(agent, op, args)
        if why is not None:
            await self._refuse(writer, agent, peer, str(op), why, req_id)
            return
        try:
            result = await self._run(agent, str(op), args)
        except (TypeError, ValueError, KeyError) as exc:
            await _send(writer, {"id": req_id, "ok": False, "error": f"bad arguments: {exc}"})
            return
        except ControlRoomError as exc:  # the gate could not be asked: said, never a traceback
            await _send(writer, {"id": req_id, "ok": False, "error": str(exc)})
            return
        await _send(writer, {"id": req_id, "ok": True, "result": result})

    async def _run(self, agent: str, op: str, args: dict[str, Any]) -> dict[str, Any]:
        if op == "ping":
            return {**self._info(), "agent": agent}
        tool, tool_input = args.get("tool"), args.get("input") or {}
        if not isinstance(tool, str) or not tool or not isinstance(tool_input, dict):
            raise ValueError("tool_gate needs 'tool' (a name) and 'input' (an object)")
        use_id = str(args.get("tool_use_id") or "")
        approved, reason = await self._gate(agent, tool, tool_input, use_id)
        return {"approved": approved, "reason": reason}

    async def _refuse(
        self,
        writer: asyncio.StreamWriter,
        agent: str,
        peer: PeerIdentity,
        op: str,
        why: str,
        req_id: Any,
    ) -> None:
        """Audited first, then answered: the log knows of every refusal an agent heard."""
        self._publish(
            SocketRefused(
                agent=peer.agent,
                channel=f"agent {agent}",
                pid=peer.pid,
                uid=peer.uid,
                op=op,
                reason=why,
            )
        )
        with contextlib.suppress(Exception):
            await self._flush()
        await _send(writer, {"id": req_id, "ok": False, "error": f"refused: {why}"})


def _not_for_agents(agent: str, op: object, args: dict[str, Any]) -> str | None:
    """Why ``op`` may not be asked on ``agent``'s channel, or None."""
    if op in OPERATOR_OPS:
        return f"{str(op).replace('_', ' ')} is the operator's; agents cannot use it"
    if op not in AGENT_OPS:
        return f"unknown operation {op!r} on an agent's channel (known: ping, tool_gate)"
    named = args.get("agent")
    if op == "tool_gate" and named not in (None, "", agent):
        return f"this channel is {agent!r}'s; it cannot ask for {named!r}"
    return None


async def _request_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """The next non-empty request line; b"" at the end (or after a line too long)."""
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            return exc.partial if exc.partial.strip() else b""
        except asyncio.LimitOverrunError:
            await _send(writer, {"id": None, "ok": False, "error": "request too large"})
            return b""
        if line.strip():
            return line


async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write((json.dumps(message, separators=(",", ":")) + "\n").encode())
    await writer.drain()
