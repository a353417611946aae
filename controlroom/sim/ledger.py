"""What the simulator served: one ``Served`` per answered message, ``Ledger`` totals.

Kept apart from the HTTP server so a test (or the metering proxy's checks)
can name and sum what went over the wire without reading the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Ledger", "Served"]


class _Total:
    """``total_tokens`` as the API counts it (the simulator stands alone: models' is not ours)."""

    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
        )


@dataclass(frozen=True)
class Served(_Total):
    """One answered ``POST /v1/messages``: what was asked, and the usage that was served."""

    path: str
    stream: bool
    model: str
    turn: int  # index into the script (the number of assistant messages in the request)
    stop_reason: str
    max_tokens: int
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int  # both TTLs
    cache_creation_1h_input_tokens: int
    api_key: str  # x-api-key, or the Bearer token; "" when none
    auth: str  # "x-api-key", "bearer" or "" : how the key came
    request: dict[str, Any]
    answer: dict[str, Any]  # the whole message as it was served (ids, content, usage)


@dataclass(frozen=True)
class Ledger(_Total):
    """Totals of every token kind over some served answers (``SimServer.ledger``)."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0

    @classmethod
    def of(cls, served: list[Served]) -> Ledger:
        return cls(
            requests=len(served),
            input_tokens=sum(s.input_tokens for s in served),
            output_tokens=sum(s.output_tokens for s in served),
            cache_read_input_tokens=sum(s.cache_read_input_tokens for s in served),
            cache_creation_input_tokens=sum(s.cache_creation_input_tokens for s in served),
            cache_creation_1h_input_tokens=sum(s.cache_creation_1h_input_tokens for s in served),
        )
