"""Model prices: USD per million tokens of each kind, and the built-in table."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_PRICING", "Pricing"]


_MAX_PER_MTOK = 10_000.0
"""The highest price a config may set: USD per million tokens of one kind."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pricing(_Strict):
    """USD per million tokens of each kind, for one model."""

    input_per_mtok: float = Field(ge=0, le=_MAX_PER_MTOK)
    output_per_mtok: float = Field(ge=0, le=_MAX_PER_MTOK)
    cache_read_per_mtok: float = Field(default=0.0, ge=0, le=_MAX_PER_MTOK)
    cache_write_per_mtok: float = Field(default=0.0, ge=0, le=_MAX_PER_MTOK)

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        cache_read_input_tokens: int = 0,
        cache_creation_input_tokens: int = 0,
    ) -> float:
        return (
            input_tokens * self.input_per_mtok
            + output_tokens * self.output_per_mtok
            + cache_read_input_tokens * self.cache_read_per_mtok
            + cache_creation_input_tokens * self.cache_write_per_mtok
        ) / 1_000_000


def _p(inp: float, out: float) -> Pricing:
    return Pricing(
        input_per_mtok=inp,
        output_per_mtok=out,
        cache_read_per_mtok=inp / 10,
        cache_write_per_mtok=inp * 1.25,
    )


DEFAULT_PRICING: dict[str, Pricing] = {
    "claude-opus-4-5": _p(5.0, 25.0),
    "claude-opus-4-1": _p(15.0, 75.0),
    "claude-opus-4": _p(15.0, 75.0),
    "claude-sonnet-4-5": _p(3.0, 15.0),
    "claude-sonnet-4": _p(3.0, 15.0),
    "claude-haiku-4-5": _p(1.0, 5.0),
    "claude-3-5-haiku": _p(0.8, 4.0),
    "default": _p(3.0, 15.0),
}
"""Built-in prices (USD per million tokens); ``[pricing."model"]`` overrides or adds.

A model name is matched exactly, then by the longest known prefix (so
``claude-sonnet-4-5-20250929`` prices as ``claude-sonnet-4-5``), then ``default``.
"""
