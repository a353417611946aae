"""The control socket: the control API as JSON lines over a unix socket only its user can use.

``controlroom status``, ``approve``, ``kill``, the Claude Code hook and an
attached dashboard reach a running swarm here. One request per line
(``{"id": 1, "op": "snapshot", "args": {}}``), one answer per line, in
order, per connection. The special op ``subscribe`` turns a connection into
a stream of ``{"event": {...}}`` lines (and ``{"dropped": N}`` when the
client fell behind and lost the oldest events) until the client hangs up.

Who may connect: the socket file is 0600 in a 0700 directory, and every
peer's credentials (``SO_PEERCRED``) are checked as well, so a socket made
world-writable by mistake still admits only the control room's own user. A
refused peer gets one error line and is audited. A peer that runs inside the
control room's own process tree is an agent (or something an agent started):
it may query and ask for a tool-call decision (that is the hook), but never
command, so an agent cannot approve its own gate or kill its neighbours.

Robustness: each connection is its own task, so a silent client, a slow
subscriber or a request that waits for the operator (``tool_gate``) holds
up nobody else; a request line over 1 MiB is answered ``request too large``
and the connection closed; a line that is not JSON is answered with an error
and the connection stays usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import pwd
import socket
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlroom._errors import ControlError
from controlroom.control.api import COMMANDS, ControlAPI
from controlroom.models import EventBase, OperatorAction
from controlroom.swarm.bus import Subscription

__all__ = ["CLOSE_GRACE_SECONDS", "MAX_REQUEST_BYTES", "ControlSocketServer", "Peer"]

MAX_REQUEST_BYTES = 1 << 20
"""The longest request line accepted (1 MiB); a handoff is capped far below this."""

_PROBE_SECONDS = 1.0
"""How long start() waits for an existing socket's server to answer a ping."""

CLOSE_GRACE_SECONDS = 5.0
"""How long close() lets a request under way finish and answer (``stop-all`` ends the
run it is stopping: its caller must still hear how it went)."""


@dataclass(frozen=True, slots=True)
class Peer:
    """Who is on the other end of a connection, as the kernel says (SO_PEERCRED)."""

    pid: int
    uid: int
    gid: int
    agent_side: bool  # runs inside the control room's process tree

    @property
    def by(self) -> str:
        """The name decisions and commands are recorded under."""
        try:
            return f"uid {self.uid} ({pwd.getpwuid(self.uid).pw_name})"
        except KeyError:
            return f"uid {self.uid}"


class ControlSocketServer:
    """Serves ``api`` on the unix socket ``path`` until ``close()``."""

    def __init__(
        self,
        api: ControlAPI,
        path: Path,
        audit: Callable[[EventBase], None] | None = None,
        *,
        close_grace: float = CLOSE_GRACE_SECONDS,
    ) -> None:
        self.api = api
        self.path = Path(path)
        self._audit = audit if audit is not None else api.supervisor.publish
        self._close_grace = close_grace
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._busy: set[asyncio.Task[Any]] = set()  # answering a request
        self._streams: dict[asyncio.Task[Any], Subscription] = {}  # subscribed
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind and listen; refuse if another live control room owns the path."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        await self._clear_stale()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # Linux gives the socket file the mode of the socket's inode (less the
            # umask) at bind(): set it first, so there is no moment at which the
            # file is open to others, and no process-wide umask to change.
            os.fchmod(sock.fileno(), 0o600)
            sock.bind(str(self.path))
            os.chmod(self.path, 0o600)
            sock.listen(128)
            sock.setblocking(False)
            self._server = await asyncio.start_unix_server(
                self._serve, sock=sock, limit=MAX_REQUEST_BYTES + 1
            )
        except OSError as exc:
            sock.close()
            raise ControlError(
                f"cannot open the control socket {self.path}: {exc.strerror or exc}"
            ) from None

    async def close(self) -> None:
        """Stop listening, end every connection, remove the socket file.

        Requests under way get ``close_grace`` seconds to answer; subscribers
        get what is already queued for them; idle connections end at once.
        """
        self._closing = True
        if self._server is not None:
            self._server.close()
        for subscription in self._streams.values():
            subscription.close()  # its stream ends once what is queued is sent
        finishing = self._busy | set(self._streams)
        for task in self._connections - finishing:
            task.cancel()
        if finishing:
            await asyncio.wait(finishing, timeout=self._close_grace)
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def __aenter__(self) -> ControlSocketServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _clear_stale(self) -> None:
        """Remove a socket file left by a dead control room; refuse a live one."""
        try:
            mode = os.lstat(self.path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ControlError(f"{self.path} exists and is not a socket: move it away")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.path)), _PROBE_SECONDS
            )
        except (ConnectionRefusedError, FileNotFoundError):
            self.path.unlink(missing_ok=True)
            return
        except (OSError, TimeoutError) as exc:
            raise ControlError(f"cannot check the existing socket {self.path}: {exc}") from None
        try:
            writer.write(b'{"id":0,"op":"ping","args":{}}\n')
            line = await asyncio.wait_for(reader.readline(), _PROBE_SECONDS)
        except (OSError, TimeoutError):
            line = b""
        finally:
            writer.close()
        who = ""
        with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError):
            result = json.loads(line)["result"]
            who = f" (swarm {result['swarm']!r}, run {result['run']})"
        raise ControlError(
            f"another control room is running at {self.path}{who}: stop it first, "
            "or give this swarm its own [swarm] run_dir"
        )

    # ------------------------------------------------------------------ connections

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        self._writers.add(writer)
        try:
            peer = _peer(writer)
            if peer.uid != os.getuid():
                await self._refuse(
                    writer, peer, f"refused: uid {peer.uid} is not the control room's user"
                )
                return
            await self._requests(reader, writer, peer)
        except OSError:
            pass  # the client went away; nothing to answer
        except asyncio.CancelledError:
            # close() ends connections by cancelling them; asyncio's stream callback
            # reports a cancelled connection task as an error, so end it plainly.
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _refuse(self, writer: asyncio.StreamWriter, peer: Peer, why: str) -> None:
        with contextlib.suppress(OSError):
            await _send(writer, {"id": None, "ok": False, "error": why})
        await self._record_refusal(peer, {"pid": peer.pid})

    async def _record_refusal(self, peer: Peer, detail: dict[str, Any]) -> None:
        self._audit(OperatorAction(action="socket_refused", by=f"uid {peer.uid}", detail=detail))
        await self.api.supervisor.bus.flush()

    async def _requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                line = exc.partial  # EOF: a last request may lack its newline
                if not line.strip():
                    return
            except asyncio.LimitOverrunError:
                await _send(writer, _error(None, "request too large (limit 1 MiB per line)"))
                return
            if not line.strip():
                continue
            if self._closing:
                return
            try:
                request = json.loads(line)
            except ValueError as exc:
                await _send(writer, _error(None, f"invalid JSON: {exc}"))
                continue
            op = request.get("op") if isinstance(request, dict) else None
            if op == "subscribe":
                await self._subscribe(reader, writer, request.get("id"))
                return
            if peer.agent_side and op in COMMANDS:
                await _send(
                    writer,
                    _error(
                        request.get("id"),
                        f"refused: pid {peer.pid} runs inside the control room's process "
                        f"tree (an agent); agents cannot {str(op).replace('_', ' ')}",
                    ),
                )
                await self._record_refusal(peer, {"pid": peer.pid, "op": op, "agent_side": True})
                continue
            task = asyncio.current_task()
            assert task is not None
            self._busy.add(task)
            try:
                await _send(writer, await self.api.dispatch(request, peer.by))
            finally:
                self._busy.discard(task)
            if self._closing:
                return

    async def _subscribe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req_id: Any
    ) -> None:
        """Stream every event to this client until it hangs up or the bus closes."""
        subscription = self.api.subscribe()
        hangup = asyncio.create_task(_until_eof(reader))
        task = asyncio.current_task()
        assert task is not None
        self._streams[task] = subscription
        if self._closing:
            subscription.close()
        try:
            await _send(writer, {"id": req_id, "ok": True, "result": {"subscribed": True}})
            reported = 0
            while True:
                getter = asyncio.ensure_future(subscription.get())
                done, _ = await asyncio.wait(
                    {getter, hangup}, return_when=asyncio.FIRST_COMPLETED
                )
                if getter not in done:
                    getter.cancel()
                    return
                event = getter.result()
                if event is None:
                    return
                batch = [event, *subscription.drain()]
                lines = []
                if subscription.dropped != reported:
                    lines.append(_line({"dropped": subscription.dropped - reported}))
                    reported = subscription.dropped
                lines.extend(_line({"event": e.model_dump(mode="json")}) for e in batch)
                writer.write(b"".join(lines))
                await writer.drain()  # a slow client waits here; its queue drops the oldest
        finally:
            self._streams.pop(task, None)
            subscription.close()
            hangup.cancel()


# --------------------------------------------------------------------------- helpers


def _peer(writer: asyncio.StreamWriter) -> Peer:
    sock = writer.get_extra_info("socket")
    size = struct.calcsize("3i")
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, size)
    pid, uid, gid = struct.unpack("3i", creds)
    return Peer(pid=pid, uid=uid, gid=gid, agent_side=_descends_from(pid, os.getpid()))


def _descends_from(pid: int, ancestor: int) -> bool:
    """Is ``pid`` a child, grandchild, … of ``ancestor`` (not ``ancestor`` itself)?

    The control room is a child subreaper, so an agent's descendants stay in
    its tree even after they double-fork or call setsid.
    """
    seen = 0
    while pid > 1 and seen < 4096:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read()
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ESRCH):
                return False
            raise
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        ppid = int(data[data.rindex(b")") + 2 :].split()[1])
        if ppid == ancestor:
            return True
        pid = ppid
        seen += 1
    return False


def _error(req_id: Any, message: str) -> dict[str, Any]:
    return {"id": req_id, "ok": False, "error": message}


def _line(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    try:
        data = _line(message)
    except (TypeError, ValueError) as exc:  # a result that is not JSON: a bug, said plainly
        data = _line(_error(message.get("id"), f"internal error: unserialisable result: {exc}"))
    writer.write(data)
    await writer.drain()


async def _until_eof(reader: asyncio.StreamReader) -> None:
    """Read and discard until the client hangs up (a subscriber sends nothing)."""
    with contextlib.suppress(OSError):
        while await reader.read(65536):
            pass
