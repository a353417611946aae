"""Talking to a running control room over its unix socket (JSON lines).

``ControlClient`` is blocking and light: the CLI verbs and ``controlroom
hook`` (run on every gated tool call of a Claude Code agent) use it, so this
module imports only the standard library at import time — no pydantic, no
asyncio, no Textual. ``AsyncControlClient`` is the same protocol for asyncio
callers (an attached dashboard); it imports asyncio when first used.

Protocol (see ``controlroom.control.server``): send
``{"id": 1, "op": "snapshot", "args": {}}`` + newline, read one line
``{"id": 1, "ok": true, "result": ...}`` or ``{"id": 1, "ok": false,
"error": "..."}``. ``subscribe`` turns a connection into a stream of
``{"event": {...}}`` lines.
"""

from __future__ import annotations

import errno
import json
import math
import os
import socket
from collections.abc import AsyncGenerator, Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from controlroom._errors import ControlError, control_error

if TYPE_CHECKING:
    import asyncio

    from controlroom.control.calls import Request

_R = TypeVar("_R")

__all__ = [
    "DEFAULT_TIMEOUT",
    "SOCKET_NAME",
    "AsyncControlClient",
    "ControlClient",
    "find_socket",
]

SOCKET_NAME = "control.sock"
DEFAULT_TIMEOUT = 10.0
"""Seconds to wait for an answer; ``math.inf`` (or None on the client) waits for ever."""

_NOT_RUNNING = (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTDIR)


def find_socket(socket_arg: str | None, config_arg: str | None) -> Path:
    """The control socket to use.

    ``--socket`` wins; then ``$CONTROLROOM_SOCKET`` (set for agents, so the
    hook finds its own control room); then ``[swarm] run_dir`` of ``--config``
    (or of ./config.toml) + ``/control.sock``; else ./.controlroom/control.sock.
    """
    if socket_arg:
        return Path(socket_arg)
    if not config_arg and os.environ.get("CONTROLROOM_SOCKET"):
        return Path(os.environ["CONTROLROOM_SOCKET"])
    if config_arg or Path("config.toml").is_file():
        from controlroom.config import find_config, load_config

        return Path(load_config(find_config(config_arg)).swarm.run_dir) / SOCKET_NAME
    return Path(".controlroom") / SOCKET_NAME


def _not_running(path: Path) -> ControlError:
    return ControlError(
        f"no control room is running at {path} (start one with 'controlroom run --headless')"
    )


def _connect_error(path: Path, exc: OSError) -> ControlError:
    if exc.errno in _NOT_RUNNING:
        return _not_running(path)
    if exc.errno == errno.EACCES:
        return ControlError(
            f"cannot connect to the control room at {path}: permission denied "
            "(it belongs to another user)"
        )
    return ControlError(f"cannot connect to the control room at {path}: {exc.strerror or exc}")


def _encode(req_id: int, op: str, args: dict[str, Any] | None) -> bytes:
    message = {"id": req_id, "op": op, "args": args or {}}
    return (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _subscribed(path: Path, line: bytes) -> tuple[dict[str, Any] | None, int]:
    """One line of a subscription: an event, or how many the server dropped for us."""
    message = _answer(path, line)
    if "event" in message:
        return message["event"], 0
    return None, int(message.get("dropped") or 0)


def _answer(path: Path, line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except ValueError:
        raise ControlError(f"the control room at {path} sent a line that is not JSON") from None
    if not isinstance(message, dict):
        kind = type(message).__name__
        raise ControlError(f"the control room at {path} sent {kind}, not an object")
    return message


def _result(message: dict[str, Any]) -> Any:
    """The answer's result; a refusal raised as the class the control room raised."""
    if not message.get("ok"):
        text = str(message.get("error") or "the control room refused the request")
        raise control_error(text, message.get("code"))
    return message.get("result")


class ControlClient:
    """A blocking client; one connection, opened on first use and reused."""

    def __init__(self, path: str | Path, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        self.path = Path(path)
        self.timeout = math.inf if timeout is None else timeout
        self.dropped = 0  # events the server dropped for a slow subscribe() reader
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._next_id = 0

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer = b""

    def request(
        self, op: str, args: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        """Send one request, return its result; ``ControlError`` with the server's message.

        ``timeout`` (seconds; default the client's, ``math.inf`` = wait for
        ever) bounds the whole exchange: a ``tool_gate`` waits for the operator.
        """
        wait = self.timeout if timeout is None else timeout
        sock = self._connected(wait)
        self._next_id += 1
        req_id = self._next_id
        try:
            sock.settimeout(None if math.isinf(wait) else wait)
            try:
                sock.sendall(_encode(req_id, op, args))
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused and closed before we spoke: its answer says why
            while True:
                message = _answer(self.path, self._readline(sock))
                if message.get("id") in (req_id, None):
                    return _result(message)
        except TimeoutError:
            self.close()
            raise ControlError(
                f"no answer from the control room at {self.path} within {wait:g} s ({op})"
            ) from None
        except OSError as exc:
            self.close()
            raise _connect_error(self.path, exc) from None

    def call(self, request: Request[_R], timeout: float | None = None) -> _R:
        """``request``'s answer, validated once, here, as its result (``calls.SNAPSHOT()``...)."""
        return request.parse(self.request(request.op, request.args, timeout))

    def subscribe(self) -> Iterator[dict[str, Any]]:
        """Every event from now on, as JSON objects, on a connection of its own.

        Ends when the control room stops. ``self.dropped`` counts events the
        server had to drop because this reader fell behind.
        """
        sub = ControlClient(self.path, self.timeout)
        try:
            sock = sub._connected(self.timeout)
            sock.settimeout(None if math.isinf(self.timeout) else self.timeout)
            sock.sendall(_encode(1, "subscribe", None))
            _result(_answer(self.path, sub._readline(sock)))
            sock.settimeout(None)
            while True:
                try:
                    line = sub._readline(sock)
                except ControlError:
                    return  # the control room closed the stream
                event, dropped = _subscribed(self.path, line)
                self.dropped += dropped
                if event is not None:
                    yield event
        except OSError as exc:
            raise _connect_error(self.path, exc) from None
        finally:
            sub.close()

    def _connected(self, timeout: float) -> socket.socket:
        if self._sock is not None:
            return self._sock
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(None if math.isinf(timeout) else timeout)
        try:
            sock.connect(str(self.path))
        except OSError as exc:
            sock.close()
            raise _connect_error(self.path, exc) from None
        self._sock = sock
        return sock

    def _readline(self, sock: socket.socket) -> bytes:
        while b"\n" not in self._buffer:
            chunk = sock.recv(65536)
            if not chunk:
                if self._buffer.strip():  # a refusal may end without its newline
                    line, self._buffer = self._buffer, b""
                    return line
                self.close()
                raise ControlError(f"the control room at {self.path} closed the connection")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line


class AsyncControlClient:
    """The same protocol for asyncio callers: ``await open()``, ``request``, ``subscribe``."""

    def __init__(self, path: str | Path, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.dropped = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock: asyncio.Lock | None = None
        self._next_id = 0

    async def __aenter__(self) -> AsyncControlClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        import asyncio

        if self._writer is not None:
            return
        self._reader, self._writer = await self._open_connection()
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def request(
        self, op: str, args: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        """One request, its result; requests from concurrent tasks are sent one at a time."""
        import asyncio

        await self.open()
        assert self._lock is not None
        wait = self.timeout if timeout is None else timeout
        async with self._lock:
            reader, writer = self._reader, self._writer
            assert reader is not None and writer is not None
            self._next_id += 1
            req_id = self._next_id
            try:
                writer.write(_encode(req_id, op, args))
                try:
                    await writer.drain()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # refused and closed before we spoke: its answer says why
                async with asyncio.timeout(None if wait is None or math.isinf(wait) else wait):
                    while True:
                        line = await reader.readline()
                        if not line:
                            raise ControlError(
                                f"the control room at {self.path} closed the connection"
                            )
                        message = _answer(self.path, line)
                        if message.get("id") in (req_id, None):
                            return _result(message)
            except TimeoutError:
                await self.close()
                raise ControlError(
                    f"no answer from the control room at {self.path} within {wait:g} s ({op})"
                ) from None
            except OSError as exc:
                await self.close()
                raise _connect_error(self.path, exc) from None

    async def subscribe(self, skip: Collection[str] = ()) -> AsyncGenerator[dict[str, Any], None]:
        """Every event from now on (but those of a kind in ``skip``, left out by the server),
        on a connection of its own; ends when the control room stops."""
        reader, writer = await self._open_connection()
        try:
            writer.write(_encode(1, "subscribe", {"skip": sorted(skip)} if skip else None))
            await writer.drain()
            _result(_answer(self.path, await reader.readline()))
            while line := await reader.readline():
                event, dropped = _subscribed(self.path, line)
                self.dropped += dropped
                if event is not None:
                    yield event
        except OSError as exc:
            raise _connect_error(self.path, exc) from None
        finally:
            writer.close()

    async def _open_connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        import asyncio

        try:
            return await asyncio.open_unix_connection(str(self.path), limit=1 << 24)
        except OSError as exc:
            raise _connect_error(self.path, exc) from None
