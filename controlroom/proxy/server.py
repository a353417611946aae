"""The metering proxy: a loopback HTTP server between every agent and the model API.

``MeteringProxy`` listens on ``127.0.0.1`` (TCP, any free port unless told)
and, when given a path, on a unix socket serving the same routes (a
sandboxed agent with no network reaches it through a bridge to that socket).
An agent's base URL is ``http://127.0.0.1:PORT/a/<token>``: the token picks
the agent whose budget pays (credentials.py).

Only what the Messages API needs is forwarded, and only to the one upstream
of ``[proxy] upstream`` (its origin is the whole allowlist; the path comes
from the table below, never from the agent, so no path or Host trick reaches
another host, and redirects are never followed):

=========  ==============================  =====================================
``HEAD``   ``/``                           forwarded (Claude Code's probe)
``GET``    ``/``, ``/v1/models[/ID]``      forwarded
``POST``   ``/v1/messages/count_tokens``   forwarded (counting is free)
``POST``   ``/v1/messages``                admitted (admission.py), metered and
                                           relayed (relay.py)
=========  ==============================  =====================================

Anything else (the batch API would spend unmetered) is a 404 in the API's
shape. Query strings (``?beta=true``) are kept. The proxy runs on the
supervisor's event loop: admission reads the governor's meters, and the
report hands every event to ``Supervisor.handle`` synchronously.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any, TypeGuard

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from controlroom._errors import ControlRoomError
from controlroom.models import RequestRefused
from controlroom.proxy.admission import Admission, Refusal, Reservation, Wait, input_bound
from controlroom.proxy.credentials import AgentPass, CredentialMode, PassBook, upstream_headers
from controlroom.proxy.relay import AnswerMeter, Report, relay_json, relay_stream
from controlroom.proxy.responses import api_error

__all__ = ["MAX_BODY_BYTES", "MeteringProxy"]

MAX_BODY_BYTES = 32 << 20
"""The API's own request size limit; a larger body is refused here (413)."""

_MESSAGES = "/v1/messages"
_COUNT = "/v1/messages/count_tokens"
_MODEL_ID = re.compile(r"^/v1/models/[A-Za-z0-9._:@-]{1,128}$")
_COUNTED_FIELDS = ("model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers")
_MAX_UNIX_PATH = 107


def _allowed(method: str, path: str) -> bool:
    if method == "POST":
        return path in (_MESSAGES, _COUNT)
    if method in ("GET", "HEAD"):
        return path in ("/", "/v1/models") or bool(_MODEL_ID.match(path))
    return False


class MeteringProxy:
    """Serves agents' model traffic on 127.0.0.1 (and a unix socket), metered and admitted."""

    def __init__(
        self,
        upstream: str,
        admission: Admission,
        report: Report,
        *,
        mode: CredentialMode = CredentialMode.SWAP,
        operator_key: str = "",
        port: int = 0,
        unix_path: Path | str | None = None,
    ) -> None:
        base = URL(upstream)
        if base.scheme not in ("http", "https") or not base.host:
            raise ControlRoomError(f"[proxy] upstream must be an http(s) URL, got {upstream!r}")
        if mode is CredentialMode.SWAP and not operator_key:
            raise ControlRoomError("the proxy's swap mode needs the operator's key")
        self.upstream = str(base).rstrip("/")
        self._origin = base.origin()
        self.admission = admission
        self.report = report
        self.mode = mode
        self._operator_key = operator_key
        self.passes = PassBook()
        self._port = port
        self.unix_path = Path(unix_path) if unix_path is not None else None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._released = asyncio.Event()  # set (and replaced) whenever a reservation ends
        self.bound_port = 0

    def __repr__(self) -> str:  # never the operator's key
        return f"MeteringProxy({self.url or 'not started'} -> {self.upstream}, {self.mode})"

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.bound_port}" if self.bound_port else ""

    def url_for(self, agent_pass: AgentPass) -> str:
        """The agent's ``ANTHROPIC_BASE_URL``."""
        return f"{self.url}/a/{agent_pass.token}"

    async def start(self) -> None:
        if self._runner is not None:
            return
        if self.unix_path is not None and len(os.fsencode(self.unix_path)) > _MAX_UNIX_PATH:
            raise ControlRoomError(
                f"the proxy's unix socket path is too long ({self.unix_path}): "
                "choose a shorter [swarm] run_dir"
            )
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/a/{token}", self._handle)
        app.router.add_route("*", "/a/{token}/{tail:.*}", self._handle)
        # access_log=None: an access log would write every agent's token to stderr
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", self._port, reuse_address=True)
            await site.start()
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            self.bound_port = int(sockets[0].getsockname()[1])
            if self.unix_path is not None:
                self.unix_path.parent.mkdir(parents=True, exist_ok=True)
                self.unix_path.unlink(missing_ok=True)
                await web.UnixSite(runner, str(self.unix_path)).start()
                os.chmod(self.unix_path, 0o600)
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=600),
            auto_decompress=True,
            trust_env=False,
        )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.unix_path is not None:
            self.unix_path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ requests

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        agent_pass = self.passes.find(request.match_info["token"])
        if agent_pass is None:
            return self._refuse(None, 401, "authentication_error", "unknown agent token")
        path = "/" + request.match_info.get("tail", "")
        if not _allowed(request.method, path):
            what = f"{request.method} {path}"
            return self._refuse(
                agent_pass.agent,
                404,
                "not_found_error",
                f"the metering proxy does not forward {what[:200]}",
            )
        probe = path == "/" and request.method in ("HEAD", "GET")
        headers = upstream_headers(
            request.headers, self.mode, agent_pass, self._operator_key, probe=probe
        )
        if isinstance(headers, str):
            return self._refuse(agent_pass.agent, 401, "authentication_error", headers)
        url = self._upstream_url(path, request.query_string)
        if request.method == "POST" and path == _MESSAGES:
            return await self._messages(request, agent_pass, headers, url)
        return await self._forward(request, headers, url)

    def _upstream_url(self, path: str, query: str) -> URL:
        url = URL(self.upstream + path + ("?" + query if query else ""), encoded=True)
        if url.origin() != self._origin:  # cannot happen with the paths above; never risk it
            raise ControlRoomError(f"refusing to forward outside the upstream: {url}")
        return url

    async def _forward(
        self, request: web.Request, headers: CIMultiDict[str], url: URL
    ) -> web.StreamResponse:
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        try:
            async with self._client().request(
                request.method, url, data=body or None, headers=headers, allow_redirects=False
            ) as upstream:
                return await relay_json(upstream, None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return api_error(502, "api_error", f"upstream unreachable: {exc}", retry=True)

    async def _messages(
        self, request: web.Request, agent_pass: AgentPass, headers: CIMultiDict[str], url: URL
    ) -> web.StreamResponse:
        agent = agent_pass.agent
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        try:
            asked = json.loads(body)
        except (ValueError, RecursionError):
            asked = None
        max_tokens = asked.get("max_tokens") if isinstance(asked, dict) else None
        if not isinstance(asked, dict) or not _count(max_tokens) or not max_tokens:
            why = "the body must be a JSON object with max_tokens of at least 1"
            return self._refuse(agent, 400, "invalid_request_error", why)
        grant = await self._admit(agent, asked, body, max_tokens, headers, url)
        if isinstance(grant, Refusal):
            return self._refuse(
                agent, 402, "billing_error", f"{agent}: {grant.reason}", grant=grant
            )
        try:
            if grant.lowered:
                body = _lower(asked, grant.max_tokens)
            try:
                upstream = await self._client().post(
                    url, data=body, headers=headers, allow_redirects=False
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                return api_error(502, "api_error", f"upstream unreachable: {exc}", retry=True)
            async with upstream:
                model = asked.get("model") if isinstance(asked.get("model"), str) else None
                meter = AnswerMeter(
                    grant,
                    self.admission,
                    self.report,
                    upstream.headers.get("request-id", ""),
                    model,
                )
                streamed = upstream.content_type == "text/event-stream"
                if upstream.status == 200 and streamed:
                    return await relay_stream(request, upstream, meter)
                return await relay_json(upstream, meter)
        finally:
            self._release(grant)

    async def _admit(
        self,
        agent: str,
        asked: dict[str, Any],
        body: bytes,
        max_tokens: int,
        headers: CIMultiDict[str],
        url: URL,
    ) -> Reservation | Refusal:
        """Reserve the worst case: from the body's bound, else from the upstream's exact count.

        A request that fits what is spent but not what is in flight waits for
        a release and asks again; each ask is one synchronous step.
        """
        model = asked.get("model") if isinstance(asked.get("model"), str) else None
        caching = b'"cache_control"' in body
        bound = input_bound(body)
        exact: int | None = None
        counted = bound is None
        while True:
            released = self._released
            if not counted:
                assert bound is not None
                decision = self.admission.admit(
                    agent, model, bound, max_tokens, cache_writes=caching, lower=False
                )
            else:
                if exact is None:
                    exact = await self._count_input(asked, headers, url) or bound
                    if exact is None:
                        why = "the input can neither be bounded nor counted"
                        return Refusal("max_tokens", 0, 0, 0, why)
                    continue  # the count took time: look at the budget afresh
                decision = self.admission.admit(
                    agent, model, exact, max_tokens, cache_writes=caching
                )
            if decision is None:
                counted = True
            elif isinstance(decision, Wait):
                await released.wait()
            else:
                return decision

    def _release(self, reservation: Reservation) -> None:
        """The request is over: free its reservation and wake whoever waits for room."""
        self.admission.release(reservation)
        self._released.set()
        self._released = asyncio.Event()

    async def _count_input(
        self, asked: dict[str, Any], headers: CIMultiDict[str], url: URL
    ) -> int | None:
        """The upstream's exact input count for a request (free), or None if it cannot say."""
        counted = {k: asked[k] for k in _COUNTED_FIELDS if k in asked}
        count_url = url.with_path(url.path + "/count_tokens")
        try:
            async with self._client().post(
                count_url,
                json=counted,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as answer:
                if answer.status != 200:
                    return None
                data = await answer.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        tokens = data.get("input_tokens") if isinstance(data, dict) else None
        return tokens if _count(tokens) else None

    # ------------------------------------------------------------------ helpers

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise ControlRoomError("the metering proxy is not started")
        return self._session

    async def _read(self, request: web.Request) -> bytes | web.Response:
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            return api_error(413, "request_too_large", "the request body is over 32 MiB")

    def _refuse(
        self,
        agent: str | None,
        status: int,
        kind: str,
        message: str,
        grant: Refusal | None = None,
    ) -> web.Response:
        """Answer a request ourselves, recorded: nothing went upstream."""
        self.report(
            RequestRefused(
                agent=agent,
                status=status,
                reason=message,
                limit=grant.limit if grant is not None else None,
                needed=grant.needed if grant is not None else 0.0,
                available=grant.available if grant is not None else 0.0,
                cap=grant.cap if grant is not None else 0.0,
            )
        )
        return api_error(status, kind, message)


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _lower(asked: dict[str, Any], max_tokens: int) -> bytes:
    """The request with ``max_tokens`` lowered (and a thinking budget kept below it)."""
    lowered = dict(asked, max_tokens=max_tokens)
    thinking = asked.get("thinking")
    if isinstance(thinking, dict) and _count(thinking.get("budget_tokens")):
        if thinking["budget_tokens"] >= max_tokens:
            lowered["thinking"] = dict(thinking, budget_tokens=max(max_tokens - 1, 0))
    return json.dumps(lowered, ensure_ascii=False).encode()
