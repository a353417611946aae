"""The sandbox's only road out: TCP ports on its own 127.0.0.1, forwarded to unix sockets.

A sandboxed agent has no network (``--unshare-net``: only its own loopback),
but a unix socket is a file, and a file bound into the sandbox crosses the
network namespace. So this program runs first inside the sandbox: it listens
on ``127.0.0.1:PORT`` for each ``--forward PORT=SOCKET`` (before the agent
starts, so the agent never meets a closed port), starts the agent as its
child, pipes every connection to its unix socket, and exits with the agent's
status. ``ANTHROPIC_BASE_URL=http://127.0.0.1:PORT`` then works unchanged,
reaching whatever listens on the socket outside (the metering proxy, the
egress proxy).

It is run as a file by the sandbox's Python with ``-I`` (isolated: no site
packages, no environment), so it imports the standard library only; the
control room imports ``pipe`` and ``serve_unix_to_tcp`` for its side.

    python -I bridge.py --forward 8080=/run/model.sock [--forward …] -- ARGV…
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable

__all__ = ["main", "pipe", "serve_unix_to_tcp"]

_CHUNK = 65536


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until EOF, then half-close the writer."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def splice(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    connect: Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]],
) -> None:
    """Both directions between ``client`` and a fresh connection made by ``connect``."""
    reader, writer = client
    try:
        upstream_reader, upstream_writer = await connect()
    except OSError:
        writer.close()
        return
    try:
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
    finally:
        for end in (writer, upstream_writer):
            end.close()
            with contextlib.suppress(ConnectionError, OSError):
                await end.wait_closed()


async def serve_unix_to_tcp(path: str, host: str, port: int) -> asyncio.Server:
    """Outside the sandbox: accept on unix socket ``path``, connect each to ``host:port``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await splice((reader, writer), lambda: asyncio.open_connection(host, port))

    return await asyncio.start_unix_server(handle, path=path)


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def _parse(argv: list[str]) -> tuple[list[tuple[int, str]], list[str]]:
    """``--forward PORT=SOCKET`` pairs, and the agent's argv after ``--``."""
    forwards: list[tuple[int, str]] = []
    rest = list(argv)
    while rest and rest[0] == "--forward":
        port, _, path = rest[1].partition("=")
        forwards.append((int(port), path))
        rest = rest[2:]
    if not rest or rest[0] != "--" or len(rest) < 2:
        raise SystemExit("usage: bridge.py [--forward PORT=SOCKET]... -- ARGV...")
    return forwards, rest[1:]


async def _run(listeners: list[tuple[socket.socket, str]], argv: list[str]) -> int:
    servers = []
    for sock, path in listeners:

        async def handle(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str = path
        ) -> None:
            await splice((reader, writer), lambda: asyncio.open_unix_connection(path))

        servers.append(await asyncio.start_server(handle, sock=sock))
    agent = await asyncio.create_subprocess_exec(*argv)  # stdin, stdout, stderr: ours
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, agent.send_signal, signum)
    code = await agent.wait()
    for server in servers:
        server.close()
    return code


def main(argv: list[str] | None = None) -> int:
    forwards, command = _parse(sys.argv[1:] if argv is None else argv)
    try:
        listeners = [(_listen(port), path) for port, path in forwards]
    except OSError as exc:
        print(f"controlroom bridge: cannot listen: {exc}", file=sys.stderr, flush=True)
        return 126
    try:
        code = asyncio.run(_run(listeners, command))
    except OSError as exc:  # the agent's program could not be started
        print(f"controlroom bridge: cannot start {command[0]!r}: {exc}", file=sys.stderr)
        return 127
    if code < 0:  # died of a signal: die of the same one, so the control room sees it
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


if __name__ == "__main__":
    sys.exit(main())
