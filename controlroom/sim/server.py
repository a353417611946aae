"""A simulated Anthropic Messages API on 127.0.0.1, for tests and the demo.

It answers what the real Claude Code CLI and the anthropic SDK send:
``HEAD /`` (Claude Code's connectivity probe), ``POST /v1/messages`` with or
without ``?beta=true``, as server-sent events when the body says
``"stream": true`` and as one JSON message otherwise, and
``POST /v1/messages/count_tokens``. What it says comes from a ``Script``
(script.py); what it served is kept in a ledger (``served``, one entry per
answered message, and ``ledger()``, the totals of every token kind) so a
test can check a meter against the exact figures that went over the wire.
Errors (a refused key, a bad body, a scripted ``Turn.error``) serve nothing
and are counted in ``errors``.

Standard library only, one ``ThreadingHTTPServer`` in a daemon thread, so
it runs beside an asyncio loop (a test's, or the control room's) without
touching it::

    with SimServer(Script([Turn.call("Bash", {"command": "ls"}), Turn.say("Done.")])) as sim:
        env["ANTHROPIC_BASE_URL"] = sim.url
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from controlroom.sim.ledger import Ledger, Served
from controlroom.sim.prompt import Prompt, PromptCache, PromptUsage
from controlroom.sim.script import Script, Turn
from controlroom.sim.wire import WireHandler

__all__ = ["DEFAULT_MODEL", "Ledger", "Served", "SimServer"]

DEFAULT_MODEL = "claude-sonnet-4-5"
"""The model named in answers when a request names none."""


class SimServer:
    """Serves ``script`` on ``http://127.0.0.1:port`` until ``stop()``.

    ``routes`` lets one server play several agents: a request whose first
    user message contains a route's key follows that route's script, any
    other request follows ``script``. ``api_key``, when set, is required
    (``x-api-key`` or ``Authorization: Bearer``), as the real API does.
    ``event_delay`` (seconds) paces streamed events, for a demo to watch;
    ``pace`` multiplies every turn's own ``seconds`` (the demo's ``1 / --speed``).
    """

    def __init__(
        self,
        script: Script,
        *,
        routes: Mapping[str, Script] | None = None,
        api_key: str | None = None,
        port: int = 0,
        event_delay: float = 0.0,
        pace: float = 1.0,
    ) -> None:
        self.script = script
        self.routes = dict(routes or {})
        self.api_key = api_key
        self.event_delay = event_delay
        self.pace = pace
        self.heads = 0
        self.errors = 0  # requests answered with an error: nothing served
        self.counts = 0  # count_tokens requests answered
        self._served: list[Served] = []
        self._cache = PromptCache()
        self._failures: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()
        self._httpd = _HTTPServer(("127.0.0.1", port), _Handler, self)
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL for ``ANTHROPIC_BASE_URL``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SimServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"controlroom-sim:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ ledger

    @property
    def served(self) -> list[Served]:
        with self._lock:
            return list(self._served)

    @property
    def requests(self) -> int:
        """How many ``POST /v1/messages`` were answered."""
        with self._lock:
            return len(self._served)

    @property
    def input_tokens(self) -> int:
        return self.ledger().input_tokens

    @property
    def output_tokens(self) -> int:
        return self.ledger().output_tokens

    def ledger(self, where: Callable[[Served], bool] | None = None) -> Ledger:
        """Totals per token kind of what was served (only the answers ``where`` accepts)."""
        served = self.served
        return Ledger.of([s for s in served if where is None or where(s)])

    def _record(self, served: Served) -> None:
        with self._lock:
            self._served.append(served)

    def _serve_prompt(self, request: Mapping[str, Any]) -> PromptUsage:
        prompt = Prompt.of(request)
        with self._lock:
            return self._cache.serve(prompt)

    def _should_fail(self, script: Script, turn: int, times: int) -> bool:
        """Whether this request for ``turn`` fails (``times`` 0: always; else the first N)."""
        if times <= 0:
            return True
        with self._lock:
            key = (id(script), turn)
            failed = self._failures.get(key, 0)
            if failed >= times:
                return False
            self._failures[key] = failed + 1
            return True

    def _count(self, what: str) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)

    def script_for(self, request: Mapping[str, Any]) -> Script:
        first = _first_user_text(request)
        for key, script in self.routes.items():
            if key and key in first:
                return script
        return self.script


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops connections of 50 concurrent clients

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], sim: SimServer
    ) -> None:
        self.sim = sim
        super().__init__(address, handler)


class _Handler(WireHandler):
    """The API's verbs; the plumbing (bodies, JSON, SSE) is wire.py's."""

    server: _HTTPServer

    def on_error(self) -> None:
        self.server.sim._count("errors")

    def stream_delay(self) -> float:
        return self.server.sim.event_delay

    # ------------------------------------------------------------------ verbs

    def do_HEAD(self) -> None:
        self.server.sim._count("heads")
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        if urlsplit(self.path).path in ("", "/"):
            self._json(HTTPStatus.OK, {"service": "controlroom-sim", "url": self.server.sim.url})
        else:
            self._error(HTTPStatus.NOT_FOUND, "not_found_error", f"no such path: {self.path}")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self._body()
        if body is None:
            return
        if path not in ("/v1/messages", "/v1/messages/count_tokens"):
            self._error(HTTPStatus.NOT_FOUND, "not_found_error", f"no such path: {path}")
            return
        key, auth = self._api_key()
        sim = self.server.sim
        if sim.api_key is not None and key != sim.api_key:
            self._error(HTTPStatus.UNAUTHORIZED, "authentication_error", "invalid x-api-key")
            return
        request = self._request(body)
        if request is None:
            return
        if path.endswith("/count_tokens"):
            sim._count("counts")
            self._json(HTTPStatus.OK, {"input_tokens": Prompt.of(request).tokens})
            return
        max_tokens = request.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            self._error(
                HTTPStatus.BAD_REQUEST, "invalid_request_error", "max_tokens: must be at least 1"
            )
            return
        self._answer(request, max_tokens, key, auth)

    def _request(self, body: str) -> dict[str, Any] | None:
        """The body as a JSON object; None after an error reply."""
        try:
            request = json.loads(body)
        except ValueError as exc:
            self._error(HTTPStatus.BAD_REQUEST, "invalid_request_error", f"body is not JSON: {exc}")
            return None
        if not isinstance(request, dict):
            self._error(HTTPStatus.BAD_REQUEST, "invalid_request_error", "body must be an object")
            return None
        return request

    def _answer(self, request: dict[str, Any], max_tokens: int, key: str, auth: str) -> None:
        """Serve the script's turn for ``request`` (or its scripted failure)."""
        sim = self.server.sim
        script = sim.script_for(request)
        turn_index = script.index_for(request)
        turn: Turn = script.turn_for(request)
        if turn.fail is not None and sim._should_fail(script, turn_index, turn.fail.times):
            self._error(turn.fail.status, turn.fail.type, turn.fail.message)
            return
        model = request.get("model") if isinstance(request.get("model"), str) else DEFAULT_MODEL
        answer = turn.answer(model or DEFAULT_MODEL, sim._serve_prompt(request), max_tokens)
        stream = request.get("stream") is True
        # Recorded before it is sent: a client that counts what it received can
        # never be ahead of the ledger.
        sim._record(
            Served(
                path=self.path,
                stream=stream,
                model=answer.model,
                turn=turn_index,
                stop_reason=answer.stop_reason,
                max_tokens=max_tokens,
                input_tokens=answer.input_tokens,
                output_tokens=answer.output_tokens,
                cache_read_input_tokens=answer.prompt.cache_read_input_tokens,
                cache_creation_input_tokens=answer.prompt.cache_creation_input_tokens,
                cache_creation_1h_input_tokens=answer.prompt.cache_creation_1h_input_tokens,
                api_key=key,
                auth=auth,
                request=request,
                answer=answer.message(),
            )
        )
        think = turn.seconds * sim.pace
        if stream:
            self._stream(answer, think)
        else:
            time.sleep(think)
            self._json(HTTPStatus.OK, answer.message(), request_id=answer.id)


def _first_user_text(request: Mapping[str, Any]) -> str:
    messages = request.get("messages")
    if not isinstance(messages, list):
        return ""
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(
                    b["text"]
                    for b in content
                    if isinstance(b, dict) and isinstance(b.get("text"), str)
                )
            return ""
    return ""
