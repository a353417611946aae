"""Relaying one answer to the agent while metering it, and cutting it where it crosses a cap.

``AnswerMeter`` turns the usage an answer reports (``message_start``, each
``message_delta``, or the whole JSON message) into ``Usage`` events with
``source = "proxy"``, hands each to the report (which records it in the
governor's meter before returning), and shrinks the request's reservation
to what may still come. After every metered event it asks whether the agent
or the swarm is now *past* a cap; if so, ``relay_stream`` does not relay
that event: the agent's stream ends there with an API ``error`` event, the
upstream connection is closed (a real API stops generating, and billing),
and a ``StreamCut`` is reported. The governor, which saw the crossing usage
first, has already ordered the agent stopped.

If the agent goes away mid-stream (killed, or it hung up), the rest of the
answer is still read and metered: what the API served is spent whether or
not anyone reads it, and the meter must equal what was served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from controlroom.models import EventBase, StreamCut, Usage
from controlroom.proxy.admission import Admission, Reservation
from controlroom.proxy.responses import error_event, response_headers
from controlroom.proxy.wire import EventSplitter, WireCounts, event_data, event_name

__all__ = ["AnswerMeter", "Report", "relay_json", "relay_stream"]

Report = Callable[[EventBase], None]
"""Where the proxy's events go. For a ``Usage`` it must have recorded it in the
governor's meters by the time it returns (``Supervisor.handle`` does)."""

_START = b"message_start"
_DELTA = b"message_delta"


class AnswerMeter:
    """Meters one answer for one agent, event by event."""

    __slots__ = (
        "agent",
        "reservation",
        "admission",
        "report",
        "request_id",
        "counts",
        "model",
        "_first",
    )

    def __init__(
        self,
        reservation: Reservation,
        admission: Admission,
        report: Report,
        request_id: str = "",
        model: str | None = None,
    ) -> None:
        self.agent = reservation.agent
        self.reservation = reservation
        self.admission = admission
        self.report = report
        self.request_id = request_id
        self.counts = WireCounts()
        self.model = model
        self._first = True

    def see(self, name: bytes, event: bytes) -> str | None:
        """Meter a ``message_start`` or ``message_delta``; the limit now crossed, or None."""
        data = event_data(event)
        if not isinstance(data, dict):
            return None
        if name == _START:
            message = data.get("message")
            if not isinstance(message, dict):
                return None
            return self.whole(message, turns=1)
        return self._count(data.get("usage"), turns=0)

    def whole(self, message: dict[str, Any], turns: int = 1) -> str | None:
        """Meter a message's usage (a JSON answer, or the one in ``message_start``)."""
        model = message.get("model")
        if isinstance(model, str) and model:
            self.model = model
        return self._count(message.get("usage"), turns=turns)

    def _count(self, usage: object, turns: int) -> str | None:
        delta = self.counts.advance(usage)
        if not turns and not delta.total_tokens:
            return None
        extra: dict[str, Any] = {}
        if self._first:
            self._first = False
            extra["request_id"] = self.request_id
            if self.reservation.lowered:
                extra["max_tokens"] = {
                    "asked": self.reservation.asked,
                    "granted": self.reservation.max_tokens,
                    "limit": self.reservation.limit,
                }
        self.report(
            Usage(
                agent=self.agent,
                model=self.model,
                turns=turns,
                source="proxy",
                input_tokens=delta.input_tokens,
                output_tokens=delta.output_tokens,
                cache_read_input_tokens=delta.cache_read_input_tokens,
                cache_creation_input_tokens=delta.cache_creation_input_tokens,
                cache_creation_1h_input_tokens=delta.cache_creation_1h_input_tokens,
                extra=extra,
            )
        )
        self.admission.progress(self.reservation, self.counts.output_tokens)
        return self.admission.over_cap(self.agent)


async def relay_stream(
    request: web.Request, upstream: aiohttp.ClientResponse, meter: AnswerMeter
) -> web.StreamResponse:
    """Relay a server-sent-event answer, metering it; cut it at the event that crosses a cap."""
    response = web.StreamResponse(
        status=upstream.status, headers=response_headers(upstream.headers)
    )
    await response.prepare(request)
    splitter = EventSplitter()
    listening = True
    relayed = 0
    try:
        async for chunk in upstream.content.iter_any():
            events = splitter.feed(chunk)
            if not events:
                continue
            crossed: str | None = None
            for index, event in enumerate(events):
                name = event_name(event)
                if name == _START or name == _DELTA:
                    crossed = meter.see(name, event)
                    if crossed is not None:
                        message = f"{meter.agent}: {crossed} crossed; the stream is cut here"
                        events = [*events[:index], error_event("billing_error", message)]
                        break
            relayed += len(events)
            if listening:
                listening = await _write(response, events)
            if crossed is not None:
                upstream.close()
                meter.report(
                    StreamCut(
                        agent=meter.agent,
                        limit=crossed,
                        reason=f"{crossed} crossed mid-stream",
                        events_relayed=relayed - 1,
                    )
                )
                break
    except (TimeoutError, aiohttp.ClientError) as exc:
        if listening:
            broken = error_event("api_error", f"the upstream stream broke: {exc}")
            listening = await _write(response, [broken])
    if listening:
        try:
            await response.write_eof()
        except ConnectionResetError:
            pass  # the agent hung up at the very end: nothing left to tell it
    return response


async def _write(response: web.StreamResponse, events: list[bytes]) -> bool:
    """Write events to the agent; False once it has gone (the rest is metered unread)."""
    try:
        await response.write(events[0] if len(events) == 1 else b"".join(events))
    except ConnectionResetError:
        return False
    return True


async def relay_json(upstream: aiohttp.ClientResponse, meter: AnswerMeter | None) -> web.Response:
    """Relay a whole (non-streamed) answer; meter its usage when it is a 200 message."""
    body = await upstream.read()
    if meter is not None and upstream.status == 200:
        try:
            message = await upstream.json(content_type=None)
        except ValueError:
            message = None
        if isinstance(message, dict):
            meter.whole(message)
    return web.Response(
        status=upstream.status, body=body, headers=response_headers(upstream.headers)
    )
