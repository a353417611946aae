"""The control socket: the control API as JSON lines over a unix socket only its user can use.

``controlroom status``, ``approve``, ``kill``, the Claude Code hook and an
attached dashboard reach a running swarm here. One request per line
(``{"id": 1, "op": "snapshot", "args": {}}``), one answer per line, in
order, per connection. The special op ``subscribe`` turns a connection into
a stream of ``{"event": {...}}`` lines (and ``{"dropped": N}`` when the
client fell behind and lost the oldest events) until the client hangs up;
``"args": {"skip": ["usage"]}`` leaves out events of those kinds (an attached
dashboard has no use for usage events: 2,000 a second from a busy swarm).

Who may connect: the operator, positively identified, and nobody else. The
socket file is 0600 in a 0700 directory, and every peer is identified by
the kernel (``process/peer.py``): its uid (``SO_PEERCRED``) must be the
control room's, and the process that connected must still be running and
lie outside every agent (not a descendant of the control room, not in an
agent's cgroup, not carrying this run's marker). A peer that cannot be
identified (it exited after connecting, its ancestry cannot be read) is
refused, never taken for the operator. Agents have their own channels
(``swarm/channels.py``) for what they may ask; every operator verb lives
here only. A refused peer gets one error line, after the refusal is audited
(``socket_refused``).

Robustness: each connection is its own task, so a silent client, a slow
subscriber or a request that waits for the operator (``tool_gate``) holds
up nobody else; a request line over 1 MiB is answered ``request too large``
and the connection closed; a line that is not JSON is answered with an error
and the connection stays usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlroom._errors import ControlError
from controlroom.control.api import ControlAPI
from controlroom.models import EventBase, SocketRefused
from controlroom.process.peer import PeerIdentity
from controlroom.swarm.bus import Subscription
from controlroom.swarm.channels import refusal

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
    """Who is on the other end of a connection, as the kernel says (``process/peer.py``)."""

    identity: PeerIdentity

    @property
    def pid(self) -> int:
        return self.identity.pid

    @property
    def uid(self) -> int:
        return self.identity.uid

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
            peer = Peer(self.api.supervisor.identify_peer(writer.get_extra_info("socket")))
            why = refusal(peer.identity, None)
            if why is not None:
                await self._refuse(writer, peer, why)
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
        """Audited first, then answered: the log knows of every refusal a peer heard."""
        who = peer.identity
        self._audit(
            SocketRefused(agent=who.agent, channel="operator", pid=who.pid, uid=who.uid, reason=why)
        )
        with contextlib.suppress(Exception):  # an audit emergency is said on every surface
            await self.api.supervisor.bus.flush()
        with contextlib.suppress(OSError):
            await _send(writer, {"id": None, "ok": False, "error": f"refused: {why}"})

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
                await self._subscribe(reader, writer, request.get("id"), _skipped(request))
                return
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
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        req_id: Any,
        skip: frozenset[str],
    ) -> None:
        """Stream every event (but those of a kind in ``skip``) until the client hangs up."""
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
                done, _ = await asyncio.wait({getter, hangup}, return_when=asyncio.FIRST_COMPLETED)
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
                lines.extend(
                    _line({"event": e.model_dump(mode="json")})
                    for e in batch
                    if getattr(e, "kind", None) not in skip
                )
                writer.write(b"".join(lines))
                await writer.drain()  # a slow client waits here; its queue drops the oldest
        finally:
            self._streams.pop(task, None)
            subscription.close()
            hangup.cancel()


# --------------------------------------------------------------------------- helpers


def _skipped(request: dict[str, Any]) -> frozenset[str]:
    """The kinds a ``subscribe`` request asks to leave out (``args.skip``; none if malformed)."""
    args = request.get("args")
    skip = args.get("skip") if isinstance(args, dict) else None
    if not isinstance(skip, list):
        return frozenset()
    return frozenset(kind for kind in skip if isinstance(kind, str))


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
