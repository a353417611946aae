"""What the simulated model says: a script of turns, rendered as Anthropic Messages.

A ``Turn`` is one model answer: some text, a tool call, or a text followed by
a tool call; or an API error (``Turn.fail``), for a flaky upstream. A
``Script`` picks the turn for a request from the request itself — the number
of assistant messages already in its ``messages`` is the index — so one
script serves any number of conversations at once, in any order, and a
retried request gets the same answer again.

Token counts are deterministic, not a real model's (prompt.py: input is
``ceil(characters of the prompt / 4)``, split into cache reads and writes by
the prompt's ``cache_control`` markers); output is the turn's
``output_tokens`` or ``ceil(characters of its content JSON / 4)``, and never
more than the request's ``max_tokens``: a longer answer is cut there, with
``stop_reason = "max_tokens"``, as the API does. A turn may also spend
``server_input_tokens`` while it answers (as a server tool's results do):
the API reports those only in the closing ``message_delta``, whose usage is
cumulative. The event sequence of a streamed answer is the real API's:
``message_start`` (with usage, ``output_tokens`` 1), ``ping``, per block
``content_block_start`` / ``content_block_delta``… / ``content_block_stop``,
``message_delta`` (stop reason and the cumulative usage), ``message_stop``.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from controlroom._errors import ConfigError, ConfigProblem
from controlroom.sim.prompt import Prompt, PromptUsage

__all__ = [
    "DELTA_CHARS",
    "Answer",
    "Failure",
    "Script",
    "Turn",
    "count_input_tokens",
    "load_script",
]

_TURN_KEYS = frozenset(
    {"text", "tool", "input", "output_tokens", "server_input_tokens", "fail", "seconds"}
)

DELTA_CHARS = 48
"""Text and tool-input JSON are streamed in deltas of at most this many characters."""


def count_input_tokens(request: Mapping[str, Any]) -> int:
    """The simulator's input token count for a request (what ``count_tokens`` answers)."""
    return Prompt.of(request).tokens


@dataclass(frozen=True)
class Failure:
    """An API error answered instead of a message: HTTP status, error type, message.

    ``times``: fail only the first that many requests for this turn, then
    answer it normally (a transient error); 0 fails every time.
    """

    status: int = 529
    type: str = "overloaded_error"
    message: str = "Overloaded"
    times: int = 0


@dataclass(frozen=True)
class Turn:
    """One model answer: ``text``, a tool call (``tool`` + ``input``), or both, text first."""

    text: str = ""
    tool: str | None = None
    input: Mapping[str, Any] = field(default_factory=dict)
    output_tokens: int | None = None  # None: ceil(characters of the content JSON / 4)
    server_input_tokens: int = 0  # input the answer itself adds (reported at the end)
    fail: Failure | None = None  # answer with this error instead
    seconds: float = 0.0  # how long the model takes (spread over a stream's events)
    # (prefix, turn): that turn answers instead when the request's last tool result starts
    # with the prefix (a model that heeds a rejected gate, say)
    instead: tuple[tuple[str, Turn], ...] = ()

    @classmethod
    def say(cls, text: str, output_tokens: int | None = None) -> Turn:
        return cls(text=text, output_tokens=output_tokens)

    @classmethod
    def call(
        cls,
        tool: str,
        tool_input: Mapping[str, Any],
        output_tokens: int | None = None,
        text: str = "",
    ) -> Turn:
        return cls(text=text, tool=tool, input=dict(tool_input), output_tokens=output_tokens)

    @classmethod
    def error(
        cls,
        status: int = 529,
        kind: str = "overloaded_error",
        message: str = "Overloaded",
        *,
        times: int = 0,
        then: Turn | None = None,
    ) -> Turn:
        """A turn answered with an API error (the first ``times`` requests only, then ``then``)."""
        base = then or cls()
        return replace(base, fail=Failure(status, kind, message, times))

    def answer(self, model: str, prompt: PromptUsage, max_tokens: int | None = None) -> Answer:
        """This turn as one assistant message with fresh ids, cut at ``max_tokens``."""
        blocks: list[dict[str, Any]] = []
        if self.text or not self.tool:
            blocks.append({"type": "text", "text": self.text})
        if self.tool:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": "toolu_" + uuid.uuid4().hex[:20],
                    "name": self.tool,
                    "input": dict(self.input),
                }
            )
        output = self.output_tokens
        if output is None:
            output = max(1, math.ceil(len(json.dumps(blocks, ensure_ascii=False)) / 4))
        stop_reason = "tool_use" if self.tool else "end_turn"
        if max_tokens is not None and output > max_tokens:
            output, stop_reason = max_tokens, "max_tokens"
            blocks = [{"type": "text", "text": self.text[: max_tokens * 4]}]
        return Answer(
            id="msg_" + uuid.uuid4().hex[:24],
            model=model,
            blocks=blocks,
            stop_reason=stop_reason,
            prompt=prompt,
            server_input_tokens=self.server_input_tokens,
            output_tokens=output,
        )


@dataclass(frozen=True)
class Answer:
    """One served assistant message, renderable as JSON or as server-sent events."""

    id: str
    model: str
    blocks: list[dict[str, Any]]
    stop_reason: str
    prompt: PromptUsage
    output_tokens: int
    server_input_tokens: int = 0

    @property
    def input_tokens(self) -> int:
        """All plain input served, the server's own included."""
        return self.prompt.input_tokens + self.server_input_tokens

    def usage(self, output_tokens: int, *, final: bool = True) -> dict[str, Any]:
        """The API's usage object (before the answer's own input when not ``final``)."""
        p = self.prompt
        return {
            "input_tokens": self.input_tokens if final else p.input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": p.cache_creation_input_tokens,
            "cache_read_input_tokens": p.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": p.cache_creation_5m_input_tokens,
                "ephemeral_1h_input_tokens": p.cache_creation_1h_input_tokens,
            },
        }

    def message(self) -> dict[str, Any]:
        """The non-streaming response body."""
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.blocks,
            "stop_reason": self.stop_reason,
            "stop_sequence": None,
            "usage": self.usage(self.output_tokens),
        }

    def events(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The streaming response as (event name, data) pairs, in the real API's order."""
        start = {**self.message(), "content": [], "stop_reason": None}
        start["usage"] = self.usage(1, final=False)
        yield "message_start", {"type": "message_start", "message": start}
        yield "ping", {"type": "ping"}
        for index, block in enumerate(self.blocks):
            if block["type"] == "tool_use":
                opening = {**block, "input": {}}
                text = json.dumps(block["input"], ensure_ascii=False, separators=(",", ":"))
                delta_type, key = "input_json_delta", "partial_json"
            else:
                opening = {"type": "text", "text": ""}
                text = block["text"]
                delta_type, key = "text_delta", "text"
            yield (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opening},
            )
            for piece in _pieces(text):
                yield (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": delta_type, key: piece},
                    },
                )
            yield "content_block_stop", {"type": "content_block_stop", "index": index}
        yield (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                "usage": self.usage(self.output_tokens),
            },
        )
        yield "message_stop", {"type": "message_stop"}


def _pieces(text: str) -> list[str]:
    return [text[i : i + DELTA_CHARS] for i in range(0, len(text), DELTA_CHARS)]


class Script:
    """Turns in order; the turn for a request is the count of assistant messages in it."""

    def __init__(self, turns: Sequence[Turn], fallback: Turn | None = None) -> None:
        if not turns:
            raise ValueError("a script needs at least one turn")
        self.turns: tuple[Turn, ...] = tuple(turns)
        self.fallback = fallback or Turn.say("(controlroom sim: the script has no more turns)")

    def __len__(self) -> int:
        return len(self.turns)

    def index_for(self, request: Mapping[str, Any]) -> int:
        messages = request.get("messages")
        if not isinstance(messages, list):
            return 0
        return sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")

    def turn_for(self, request: Mapping[str, Any]) -> Turn:
        index = self.index_for(request)
        turn = self.turns[index] if index < len(self.turns) else self.fallback
        if turn.instead:
            result = last_tool_result(request)
            for prefix, other in turn.instead:
                if result.startswith(prefix):
                    return other
        return turn


def last_tool_result(request: Mapping[str, Any]) -> str:
    """The text of the last ``tool_result`` in the request's last message ('' if none)."""
    messages = request.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    content = last.get("content") if isinstance(last, dict) else None
    blocks = content if isinstance(content, list) else []
    results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
    if not results:
        return ""
    inner = results[-1].get("content")
    if isinstance(inner, list):
        return "\n".join(
            b["text"] for b in inner if isinstance(b, dict) and isinstance(b.get("text"), str)
        )
    return inner if isinstance(inner, str) else ""


def load_script(path: str | Path) -> Script:
    """A script from a JSON file: ``[{"text": …}, {"tool": "Bash", "input": {…}}, …]``.

    Each turn may also give ``output_tokens``, ``server_input_tokens`` and
    ``seconds`` (how long the model takes), or be
    ``{"fail": 529}`` (an overloaded error). Errors name the file and the turn.
    """
    where = str(path)

    def problem(key: str, message: str) -> ConfigProblem:
        return ConfigProblem(where, None, key, message)

    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([problem("", f"cannot read: {exc.strerror}")]) from None
    except ValueError as exc:
        raise ConfigError([problem("", f"not JSON: {exc}")]) from None
    if not isinstance(raw, list) or not raw:
        raise ConfigError([problem("", "must be a non-empty JSON list of turns")])
    turns: list[Turn] = []
    problems: list[ConfigProblem] = []
    for i, item in enumerate(raw):
        key = f"[{i}]"
        if not isinstance(item, dict) or not set(item) <= _TURN_KEYS:
            problems.append(problem(key, "a turn is an object of " + ", ".join(sorted(_TURN_KEYS))))
            continue
        text, tool = item.get("text", ""), item.get("tool")
        tool_input, output = item.get("input", {}), item.get("output_tokens")
        server, fail = item.get("server_input_tokens", 0), item.get("fail")
        seconds = item.get("seconds", 0.0)
        if (
            not isinstance(text, str)
            or (tool is not None and (not isinstance(tool, str) or not tool))
            or not isinstance(tool_input, dict)
            or (output is not None and not _count(output))
            or not _count(server)
            or (fail is not None and not (_count(fail) and 400 <= fail <= 599))
            or not (isinstance(seconds, int | float) and 0 <= seconds <= 3600)
        ):
            problems.append(problem(key, "wrong field types"))
            continue
        turns.append(
            Turn(
                text=text,
                tool=tool,
                input=tool_input,
                output_tokens=output,
                server_input_tokens=server,
                fail=_failure(fail) if fail is not None else None,
                seconds=float(seconds),
            )
        )
    if problems:
        raise ConfigError(problems)
    return Script(turns)


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _failure(status: int) -> Failure:
    kind = _ERROR_TYPES.get(status, "api_error")
    return Failure(status, kind, kind.replace("_", " "))


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
