"""The built-in worker: a small Claude agent on the official anthropic SDK, streaming.

One conversation: the role is the system prompt, the task and the approved
upstream handoffs the first user message. Each turn streams; usage is
reported as it arrives (protocol.py), text as status lines. The model ends
by calling ``handoff`` (prompt.py), whose input is validated and printed as
the native ``handoff`` line; it may call ``request_gate`` first and gets the
operator's decision back as the tool's result. A turn that ends without a
tool call is told to go on; the last turn allowed forces the ``handoff``
call, so the worker always ends with a handoff or an error, never a loop.

API errors that may pass (429, 5xx, an overloaded stream) are retried with
exponential backoff a bounded number of times, each retry announced; any
other (a budget refusal is a 402) is reported at once and the worker exits 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anthropic
from pydantic import ValidationError

from controlroom.agent.prompt import GATE_TOOL, HANDOFF_TOOL, TOOLS, first_message, system_prompt
from controlroom.agent.protocol import Channel
from controlroom.models import Handoff

__all__ = ["RETRYABLE_ERRORS", "Settings", "Worker"]

RETRYABLE_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})
_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
_GO_ON = f"Go on with your task. When it is done, call the `{HANDOFF_TOOL}` tool."


@dataclass(frozen=True)
class Settings:
    """What one run of the worker does (from its command line and environment)."""

    task: str
    role: str = ""
    agent: str = ""
    model: str = "claude-sonnet-4-5"
    max_tokens: int = 4096
    max_turns: int = 12
    retries: int = 3
    backoff_seconds: float = 1.0
    handoffs: list[dict[str, Any]] = field(default_factory=list)


class GiveUp(Exception):
    """The worker cannot go on; the reason was already reported."""


class Worker:
    """Runs one task to a handoff (exit 0) or a reported error (exit 1)."""

    def __init__(
        self,
        settings: Settings,
        client: anthropic.Anthropic,
        channel: Channel,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.client = client
        self.channel = channel
        self.sleep = sleep
        self.messages: list[dict[str, Any]] = [
            {"role": "user", "content": first_message(settings.task, settings.handoffs)}
        ]

    def run(self) -> int:
        s = self.settings
        self.channel.status(f"working on: {s.task[:120]}" if s.task else "working")
        try:
            for turn in range(1, s.max_turns + 1):
                message = self._turn(force_handoff=turn == s.max_turns)
                self.messages.append({"role": "assistant", "content": _blocks(message)})
                answers = self._act(message)
                if answers is None:
                    return 0
                self.messages.append({"role": "user", "content": answers or _GO_ON})
        except GiveUp:
            return 1
        self.channel.error(f"no handoff after {s.max_turns} turns")
        return 1

    # ------------------------------------------------------------------ one turn

    def _turn(self, *, force_handoff: bool) -> Any:
        """One model turn, retried on errors that may pass; GiveUp otherwise."""
        s = self.settings
        for attempt in range(s.retries + 1):
            try:
                return self._stream(force_handoff)
            except (anthropic.APIStatusError, anthropic.APIConnectionError) as exc:
                why = _describe(exc)
                if not _retryable(exc) or attempt == s.retries:
                    tries = f" after {attempt + 1} attempts" if attempt else ""
                    self.channel.error(f"model request failed{tries}: {why}")
                    raise GiveUp from exc
                delay = s.backoff_seconds * 2**attempt
                self.channel.status(f"{why}; retry {attempt + 1} of {s.retries} in {delay:g}s")
                self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _stream(self, force_handoff: bool) -> Any:
        s = self.settings
        choice: dict[str, Any] = (
            {"type": "tool", "name": HANDOFF_TOOL} if force_handoff else {"type": "auto"}
        )
        seen = dict.fromkeys(_COUNTS, 0)
        model: str | None = None
        with self.client.messages.stream(
            model=s.model,
            max_tokens=s.max_tokens,
            # the prompt prefix (tools, system) is the same every turn: cache it
            system=[
                {
                    "type": "text",
                    "text": system_prompt(s.role, s.agent),
                    "cache_control": {"type": "ephemeral"},
                }
            ],
            messages=self.messages,  # type: ignore[arg-type]
            tools=TOOLS,  # type: ignore[arg-type]
            tool_choice=choice,  # type: ignore[arg-type]
        ) as stream:
            for event in stream:
                if event.type == "message_start":
                    model = event.message.model
                    usage = event.message.usage.model_dump()
                    self.channel.usage(_advance(seen, usage), model, turns=1)
                elif event.type == "message_delta":
                    usage = event.usage.model_dump()
                    self.channel.usage(_advance(seen, usage), model, turns=0)
                elif event.type == "content_block_stop" and event.content_block.type == "text":
                    text = event.content_block.text.strip()
                    if text:
                        self.channel.status(text.splitlines()[0][:200])
            return stream.get_final_message()

    # ------------------------------------------------------------------ tools

    def _act(self, message: Any) -> list[dict[str, Any]] | None:
        """Answer the turn's tool calls; None once the handoff is made."""
        answers: list[dict[str, Any]] = []
        for block in message.content:
            if block.type != "tool_use":
                continue
            tool_input = block.input if isinstance(block.input, dict) else {}
            if block.name == HANDOFF_TOOL:
                try:
                    handoff = Handoff.model_validate(tool_input)
                except ValidationError as exc:
                    problem = "; ".join(
                        f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                    )
                    answers.append(_result(block.id, f"not a valid handoff: {problem}", True))
                    continue
                self.channel.handoff(handoff)
                return None
            if block.name == GATE_TOOL:
                title = str(tool_input.get("title") or "approve?")
                approved, reason = self.channel.gate(title, str(tool_input.get("detail") or ""))
                verdict = "approved" if approved else "rejected"
                answers.append(_result(block.id, f"{verdict}: {reason or 'no reason given'}"))
                continue
            self.channel.emit({"type": "tool", "name": block.name, "input": tool_input})
            answers.append(
                _result(
                    block.id, f"no tool {block.name!r} here: only {HANDOFF_TOOL}, {GATE_TOOL}", True
                )
            )
        if not answers and message.stop_reason == "max_tokens":
            return [{"type": "text", "text": "You ran out of room. " + _GO_ON}]
        return answers


def _advance(seen: dict[str, int], usage: dict[str, Any]) -> dict[str, int]:
    """Deltas of the API's cumulative usage figures (and the 1-hour cache write split)."""
    delta: dict[str, int] = {}
    for key in _COUNTS:
        value = usage.get(key)
        if isinstance(value, int) and value > seen[key]:
            delta[key] = value - seen[key]
            seen[key] = value
    split = usage.get("cache_creation")
    if isinstance(split, dict) and delta.get("cache_creation_input_tokens"):
        hour = split.get("ephemeral_1h_input_tokens")
        if isinstance(hour, int) and hour > seen.get("hour", 0):
            delta["cache_creation_1h_input_tokens"] = hour - seen.get("hour", 0)
            seen["hour"] = hour
    return delta


def _blocks(message: Any) -> list[dict[str, Any]]:
    return [block.model_dump(exclude_none=True) for block in message.content]


def _result(tool_use_id: str, text: str, is_error: bool = False) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_use_id": tool_use_id,
        "content": text,
        "is_error": is_error,
    }


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, anthropic.APIConnectionError):
        return True
    assert isinstance(exc, anthropic.APIStatusError)
    kind = _error_type(exc)
    if kind is not None and exc.status_code == 200:  # an error event inside a stream
        return kind in RETRYABLE_ERRORS
    return exc.status_code in (408, 409, 429) or exc.status_code >= 500


def _error_type(exc: anthropic.APIStatusError) -> str | None:
    body = exc.body
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    return kind if isinstance(kind, str) else None


def _describe(exc: Exception) -> str:
    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        kind = _error_type(exc) or "error"
        return f"API error {exc.status_code} {kind}: {message or exc.message}"
    return f"cannot reach the model API: {exc}"
