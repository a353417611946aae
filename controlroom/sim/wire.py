"""The simulator's HTTP plumbing: bodies in (Content-Length or chunked), JSON and SSE out.

A base ``BaseHTTPRequestHandler`` that knows nothing of scripts or ledgers,
so server.py reads as the API's verbs alone. ``_error`` calls ``on_error``
(the server counts errors there) before it answers.
"""

from __future__ import annotations

import json
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from controlroom.sim.script import Answer

__all__ = ["MAX_BODY", "WireHandler"]

MAX_BODY = 64 << 20  # a request body over 64 MiB is refused


class WireHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive (as Claude Code's client expects), quiet, with body and reply helpers."""

    protocol_version = "HTTP/1.1"
    server_version = "controlroom-sim"
    # headers and body are separate writes: without TCP_NODELAY, Nagle and the client's
    # delayed ACK hold every answer back by 40 ms
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass  # quiet: the ledger is the record

    def on_error(self) -> None:
        """Called once for every error reply (nothing was served)."""

    def stream_delay(self) -> float:
        """Seconds to wait after each streamed event (0: none)."""
        return 0.0

    def _api_key(self) -> tuple[str, str]:
        """(the key, how it came: "x-api-key", "bearer" or "")."""
        key = self.headers.get("x-api-key")
        if key:
            return key, "x-api-key"
        auth = self.headers.get("authorization") or ""
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), "bearer"
        return "", ""

    def _body(self) -> str | None:
        """The request body as text (Content-Length or chunked); None after an error reply."""
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            data = self._read_chunked()
        else:
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                self._error(HTTPStatus.BAD_REQUEST, "invalid_request_error", "bad Content-Length")
                return None
            data = self.rfile.read(length)
        if data is None:
            self._error(HTTPStatus.BAD_REQUEST, "invalid_request_error", "bad chunked body")
            return None
        return data.decode("utf-8", errors="replace")

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _json(self, status: int, payload: dict[str, Any], request_id: str | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if request_id:
            self.send_header("request-id", "req_" + request_id[4:])
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, kind: str, message: str) -> None:
        self.on_error()
        self._json(status, {"type": "error", "error": {"type": kind, "message": message}})

    def _stream(self, answer: Answer, seconds: float = 0.0) -> None:
        """Serve ``answer`` as server-sent events, spread over ``seconds`` (plus the delays)."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", "req_" + answer.id[4:])
        self.end_headers()
        events = list(answer.events())
        delay = self.stream_delay() + seconds / len(events)
        try:
            for name, data in events:
                text = f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
                chunk = text.encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                if delay:
                    time.sleep(delay)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
