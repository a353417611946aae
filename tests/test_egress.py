"""The egress proxy's decisions, and the bridge as a program (outside any sandbox).

The allowlist rule (a host and its subdomains, an optional port, an address
as itself), what counts as a proxy request, and a real proxy on a unix
socket in front of a real HTTP server: allowed, refused with 403, every
request recorded first; and a malformed one refused without being carried out.
"""

from __future__ import annotations

import asyncio
import http.server
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from controlroom.models import Egress, EventBase
from controlroom.process import bridge
from controlroom.process.egress import EgressProxy, host_allowed


@pytest.mark.parametrize(
    ("host", "port", "allowed"),
    [
        ("pypi.org", 443, True),
        ("files.pypi.org", 443, True),
        ("PyPI.org.", 80, True),
        ("evilpypi.org", 443, False),
        ("pypi.org.evil.com", 443, False),
        ("github.com", 443, True),
        ("github.com", 22, False),
        ("127.0.0.2", 8080, True),
        ("1.127.0.0.2", 8080, False),
        ("::1", 9, True),
        ("::1", 8080, True),
    ],
)
def test_the_allowlist_rule(host: str, port: int, allowed: bool) -> None:
    assert host_allowed(host, port, ["pypi.org", "github.com:443", "127.0.0.2", "[::1]"]) is allowed


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


async def _ask(path: Path, request: bytes) -> bytes:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(request)
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


async def test_a_real_proxy_records_then_carries_out_or_refuses(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    seen: list[EventBase] = []
    proxy = EgressProxy("a", ["127.0.0.1"], seen.append)
    await proxy.start(str(tmp_path / "egress.sock"))
    try:
        ok = await _ask(
            tmp_path / "egress.sock",
            f"GET http://127.0.0.1:{port}/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Proxy-Connection: keep-alive\r\n\r\n".encode(),
        )
        refused = await _ask(
            tmp_path / "egress.sock", b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        garbage = await _ask(tmp_path / "egress.sock", b"HELLO\r\n\r\n")
    finally:
        await proxy.close()
        server.shutdown()
        server.server_close()
    assert ok.startswith(b"HTTP/1.0 200") and ok.endswith(b"hello")
    assert refused.startswith(b"HTTP/1.1 403 Forbidden")
    assert refused.endswith(b"controlroom egress: example.com:443 is not in allow_hosts\n")
    assert garbage.startswith(b"HTTP/1.1 400 Bad Request")
    assert [(e.host, e.port, e.method, e.allowed) for e in seen if isinstance(e, Egress)] == [
        ("127.0.0.1", port, "GET", True),
        ("example.com", 443, "CONNECT", False),
    ]


def test_the_bridge_runs_the_agent_and_exits_as_it_did(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-S", bridge.__file__, "--", sys.executable, "-c", "exit(7)"],
        timeout=30,
    )
    assert done.returncode == 7
    killed = subprocess.run(
        [sys.executable, bridge.__file__, "--", sys.executable, "-c",
         "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"],
        timeout=30,
    )  # fmt: skip
    assert killed.returncode == -15  # died of the same signal, as the control room must see
    usage = subprocess.run(
        [sys.executable, bridge.__file__, "no-dashes"], capture_output=True, text=True, timeout=30
    )
    assert usage.returncode == 1 and "usage: bridge.py" in usage.stderr
