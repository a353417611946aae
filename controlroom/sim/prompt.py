"""How the simulator counts a request's input: its prompt, in pieces, with a prompt cache.

Token counts are deterministic, not a real model's: a request's prompt is
its ``tools``, ``system`` and ``messages`` (in that order, the order of the
API's cache prefix), then ``tool_choice`` and ``thinking``, each block
serialised as compact JSON without its ``cache_control`` marker; the input is
``ceil(characters / 4)`` of all of it. ``count_tokens`` answers exactly that
figure, so a client that asks it first knows what a request will cost.

Prompt caching follows the API's rules, simplified (no minimum length): each
block marked ``cache_control`` ends a cacheable prefix (TTL ``"5m"`` unless
it says ``"1h"``). The longest prefix served before is a cache *read*; the
marked prefixes after it are cache *writes*, each segment at the TTL of the
marker that ends it; what follows the last marker is plain input. Every
marked prefix is cached once served.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PROMPT_FIELDS", "Breakpoint", "Prompt", "PromptCache", "PromptUsage", "tokens"]

PROMPT_FIELDS: tuple[str, ...] = ("tools", "system", "messages", "tool_choice", "thinking")
"""The request fields that are input, as ``count_tokens`` accepts them (with ``model``)."""


def tokens(chars: int) -> int:
    """The simulator's token count for ``chars`` characters of prompt."""
    return math.ceil(chars / 4)


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """The end of a cacheable prefix: where it ends (characters), its TTL, its digest."""

    end: int
    ttl: str  # "5m" or "1h"
    digest: str


@dataclass(frozen=True, slots=True)
class PromptUsage:
    """The input side of one answer's usage, by kind."""

    input_tokens: int
    cache_read_input_tokens: int = 0
    cache_creation_5m_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0

    @property
    def cache_creation_input_tokens(self) -> int:
        return self.cache_creation_5m_input_tokens + self.cache_creation_1h_input_tokens


@dataclass(frozen=True, slots=True)
class Prompt:
    """A request's prompt, as the simulator counts and caches it."""

    chars: int
    breakpoints: tuple[Breakpoint, ...]

    @property
    def tokens(self) -> int:
        return tokens(self.chars)

    @classmethod
    def of(cls, request: Mapping[str, Any]) -> Prompt:
        digest = hashlib.sha256()
        chars = 0
        marks: list[Breakpoint] = []
        for piece, ttl in _pieces(request):
            text = json.dumps(piece, ensure_ascii=False, separators=(",", ":"))
            chars += len(text)
            digest.update(text.encode("utf-8", "surrogatepass"))
            if ttl is not None:
                marks.append(Breakpoint(chars, ttl, digest.copy().hexdigest()))
        return cls(chars, tuple(marks))


class PromptCache:
    """The prefixes served so far (not thread-safe: the server calls it under its lock)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def serve(self, prompt: Prompt) -> PromptUsage:
        """The input usage of serving ``prompt`` now; its marked prefixes are cached after."""
        marks = prompt.breakpoints
        hit = max((i for i, m in enumerate(marks) if m.digest in self._seen), default=-1)
        read = tokens(marks[hit].end) if hit >= 0 else 0
        written = {"5m": 0, "1h": 0}
        previous = read
        for mark in marks[hit + 1 :]:
            upto = tokens(mark.end)
            written["1h" if mark.ttl == "1h" else "5m"] += upto - previous
            previous = upto
        self._seen.update(m.digest for m in marks)
        return PromptUsage(
            input_tokens=prompt.tokens - previous,
            cache_read_input_tokens=read,
            cache_creation_5m_input_tokens=written["5m"],
            cache_creation_1h_input_tokens=written["1h"],
        )


def _pieces(request: Mapping[str, Any]) -> list[tuple[object, str | None]]:
    """(piece, TTL of its cache marker or None), in cache-prefix order."""
    pieces: list[tuple[object, str | None]] = []
    tools = request.get("tools")
    if isinstance(tools, list):
        pieces.extend(_block(tool) for tool in tools)
    system = request.get("system")
    if isinstance(system, list):
        pieces.extend(_block(block) for block in system)
    elif system is not None:
        pieces.append((system, None))
    messages = request.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict):
                pieces.append((message, None))
                continue
            pieces.append(({"role": message.get("role")}, None))
            content = message.get("content")
            if isinstance(content, list):
                pieces.extend(_block(block) for block in content)
            else:
                pieces.append((content, None))
    for key in ("tool_choice", "thinking"):
        if key in request:
            pieces.append((request[key], None))
    return pieces


def _block(block: object) -> tuple[object, str | None]:
    if not isinstance(block, dict) or "cache_control" not in block:
        return block, None
    marker = block["cache_control"]
    ttl = marker.get("ttl", "5m") if isinstance(marker, dict) else "5m"
    return {k: v for k, v in block.items() if k != "cache_control"}, "1h" if ttl == "1h" else "5m"
