"""What the simulated model says: a script of turns, rendered as Anthropic Messages.

A ``Turn`` is one model answer: some text, a tool call, or a text followed by
a tool call. A ``Script`` picks the turn for a request from the request
itself — the number of assistant messages already in its ``messages`` is
the index — so one script serves any number of conversations at once, in
any order, and a retried request gets the same answer again.

Token counts are deterministic, not a real model's: input is
``ceil(characters of the request JSON / 4)`` (as in the server the
shared/fixtures/claude-code samples were captured against), output is the
turn's ``output_tokens`` or ``ceil(characters of its content JSON / 4)``.
The event sequence of a streamed answer is the real API's:
``message_start`` (with usage, ``output_tokens`` 1), ``ping``, per block
``content_block_start`` / ``content_block_delta``… / ``content_block_stop``,
``message_delta`` (stop reason and the true ``usage.output_tokens``),
``message_stop``.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlroom._errors import ConfigError, ConfigProblem

__all__ = [
    "DELTA_CHARS",
    "Answer",
    "Script",
    "Turn",
    "count_input_tokens",
    "load_script",
]

_TURN_KEYS = frozenset({"text", "tool", "input", "output_tokens"})

DELTA_CHARS = 48
"""Text and tool-input JSON are streamed in deltas of at most this many characters."""


def count_input_tokens(body: str) -> int:
    """The simulator's input token count for a request body: ceil(characters / 4)."""
    return math.ceil(len(body) / 4)


@dataclass(frozen=True)
class Turn:
    """One model answer: ``text``, a tool call (``tool`` + ``input``), or both, text first."""

    text: str = ""
    tool: str | None = None
    input: Mapping[str, Any] = field(default_factory=dict)
    output_tokens: int | None = None  # None: ceil(characters of the content JSON / 4)

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

    @property
    def stop_reason(self) -> str:
        return "tool_use" if self.tool else "end_turn"

    def answer(self, model: str, input_tokens: int) -> Answer:
        """This turn as one assistant message with fresh ids."""
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
        return Answer(
            id="msg_" + uuid.uuid4().hex[:24],
            model=model,
            blocks=blocks,
            stop_reason=self.stop_reason,
            input_tokens=input_tokens,
            output_tokens=output,
        )


@dataclass(frozen=True)
class Answer:
    """One served assistant message, renderable as JSON or as server-sent events."""

    id: str
    model: str
    blocks: list[dict[str, Any]]
    stop_reason: str
    input_tokens: int
    output_tokens: int

    def _usage(self, output_tokens: int) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
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
            "usage": self._usage(self.output_tokens),
        }

    def events(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The streaming response as (event name, data) pairs, in the real API's order."""
        start = {**self.message(), "content": [], "stop_reason": None}
        start["usage"] = self._usage(1)
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
                "usage": {"output_tokens": self.output_tokens},
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
        return self.turns[index] if index < len(self.turns) else self.fallback


def load_script(path: str | Path) -> Script:
    """A script from a JSON file: ``[{"text": …}, {"tool": "Bash", "input": {…}}, …]``.

    Each turn may also give ``output_tokens``. Errors name the file and the turn.
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
        if (
            not isinstance(text, str)
            or (tool is not None and (not isinstance(tool, str) or not tool))
            or not isinstance(tool_input, dict)
            or (output is not None and (not isinstance(output, int) or output < 0))
        ):
            problems.append(problem(key, "wrong field types"))
            continue
        turns.append(Turn(text=text, tool=tool, input=tool_input, output_tokens=output))
    if problems:
        raise ConfigError(problems)
    return Script(turns)
