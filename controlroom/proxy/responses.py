"""Answers the proxy gives itself, shaped as the Messages API's own errors.

An agent's client (the anthropic SDK, Claude Code) must understand a
refusal as it understands the API: ``{"type": "error", "error": {"type":
…, "message": …}}`` with the status the API uses for that type, and, inside a
stream, an ``event: error`` the SDK raises on. A budget refusal is a 402
``billing_error`` with ``x-should-retry: false``: retrying cannot make room.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping

from aiohttp import web
from multidict import CIMultiDict

__all__ = ["api_error", "error_event", "response_headers"]

_DROPPED = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "upgrade",
        "trailer",
        "te",
    }
)


def api_error(status: int, kind: str, message: str, *, retry: bool = False) -> web.Response:
    """An API-shaped error answered by the proxy itself."""
    body = {"type": "error", "error": {"type": kind, "message": f"controlroom: {message}"}}
    headers = {"request-id": "req_controlroom_" + secrets.token_hex(8)}
    if not retry:
        headers["x-should-retry"] = "false"
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=headers,
    )


def error_event(kind: str, message: str) -> bytes:
    """One server-sent ``error`` event (how the API ends a stream that failed)."""
    data = {"type": "error", "error": {"type": kind, "message": f"controlroom: {message}"}}
    return b"event: error\ndata: " + json.dumps(data).encode() + b"\n\n"


def response_headers(upstream: Mapping[str, str]) -> CIMultiDict[str]:
    """The upstream response's headers a client should see (no hop-by-hop, no framing)."""
    return CIMultiDict((k, v) for k, v in upstream.items() if k.lower() not in _DROPPED)
