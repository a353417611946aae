"""A sandboxed agent's egress: an HTTP proxy that connects only to allowlisted hosts.

A sandbox has no network; an agent with ``allow_hosts`` gets this proxy
instead, reached through the bridge (``HTTPS_PROXY`` / ``HTTP_PROXY`` name a
port on the sandbox's own 127.0.0.1 that the bridge forwards to the agent's
own unix socket here, so every connection is known to be that agent's). It
speaks the two forms proxies get: ``CONNECT host:port`` (HTTPS and any other
TCP) and absolute-form plain-HTTP requests (``GET http://host/…``). Each
request is decided against the allowlist, recorded (``egress`` event, allowed
or refused, with host and port) before it is carried out, and refused with
``403`` when the host is not listed. The control room resolves and connects;
the agent never touches the network itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from controlroom.models import Egress, EventBase
from controlroom.process.bridge import splice

__all__ = ["EgressProxy", "host_allowed"]

_HEAD_LIMIT = 64 * 1024
_DROPPED = (b"proxy-connection", b"proxy-authorization", b"connection", b"keep-alive")


def host_allowed(host: str, port: int, allow_hosts: Sequence[str]) -> bool:
    """``host:port`` matches an entry: ``example.com`` (and its subdomains), ``h:443``, an IP."""
    host = host.lower().rstrip(".")
    for entry in allow_hosts:
        name, only_port = _split_entry(entry)
        if only_port is not None and only_port != port:
            continue
        if host == name or (not _is_ip(name) and host.endswith("." + name)):
            return True
    return False


def _split_entry(entry: str) -> tuple[str, int | None]:
    """``"h:443"`` → ("h", 443); ``"h"`` → ("h", None); ``"[::1]:80"`` → ("::1", 80)."""
    entry = entry.lower()
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        return name, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    head, sep, tail = entry.rpartition(":")
    if sep and tail.isdigit() and ":" not in head:
        return head.rstrip("."), int(tail)
    return entry.rstrip("."), None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class _Request:
    method: str
    host: str
    port: int
    head: bytes  # what to send upstream first (empty for CONNECT)


def _header(line: bytes) -> bytes:
    return line.split(b":", 1)[0].strip().lower()


def _parse_head(head: bytes) -> _Request | None:
    """The request line and headers of one proxy request, or None if it is not one."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return None
    method, target, version = (p.decode("latin-1") for p in parts)
    if method == "CONNECT":
        host, _, port = target.rpartition(":")
        if not host or not port.isdigit():
            return None
        return _Request(method, host.strip("[]"), int(port), b"")
    if not target.startswith("http://"):
        return None
    authority, slash, path = target[len("http://") :].partition("/")
    host, sep, port = authority.rpartition(":")
    if not sep or not port.isdigit():
        host, port = authority, "80"
    kept = [line for line in lines[1:] if line and _header(line) not in _DROPPED]
    first = f"{method} {slash}{path or ''} {version}".encode("latin-1")
    upstream = b"\r\n".join([first, *kept, b"Connection: close", b"", b""])
    return _Request(method, host.strip("[]"), int(port), upstream)


class EgressProxy:
    """One agent's egress proxy on its own unix socket."""

    def __init__(
        self, agent: str, allow_hosts: Sequence[str], publish: Callable[[EventBase], None]
    ) -> None:
        self.agent = agent
        self.allow_hosts = list(allow_hosts)
        self.publish = publish
        self.server: asyncio.Server | None = None

    async def start(self, path: str) -> None:
        self.server = await asyncio.start_unix_server(self._handle, path=path)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        request = _parse_head(head[:_HEAD_LIMIT])
        if request is None:
            await self._answer(writer, b"400 Bad Request", "not a proxy request")
            return
        allowed = host_allowed(request.host, request.port, self.allow_hosts)
        reason = "" if allowed else "not in allow_hosts"
        self.publish(
            Egress(
                agent=self.agent,
                host=request.host,
                port=request.port,
                method=request.method,
                allowed=allowed,
                reason=reason,
            )
        )
        if not allowed:
            await self._answer(
                writer, b"403 Forbidden", f"{request.host}:{request.port} is not in allow_hosts"
            )
            return
        await splice((reader, writer), lambda: self._connect(request, writer))

    async def _connect(
        self, request: _Request, client: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            upstream = await asyncio.open_connection(request.host, request.port)
        except OSError as exc:
            await self._answer(client, b"502 Bad Gateway", f"cannot connect: {exc.strerror}")
            raise
        if request.method == "CONNECT":
            client.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            upstream[1].write(request.head)
        return upstream

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, status: bytes, text: str) -> None:
        body = f"controlroom egress: {text}\n".encode()
        writer.write(
            b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        with contextlib.suppress(ConnectionError, OSError):
            await writer.drain()
        writer.close()
