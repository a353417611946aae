"""What "total tokens" means, once: the four kinds the API counts, summed.

Cache writes of both TTLs are one count (``cache_creation_input_tokens``
includes the 1-hour part), so the 1-hour figure is never added again. Every
type that carries the four counts (a ``Usage`` event, the sums the store
reads back, an agent's own report) takes its total from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["TokenTotal"]


class TokenTotal:
    """Mixin: ``total_tokens`` from the four counts the class defines as fields."""

    __slots__ = ()

    if TYPE_CHECKING:
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
