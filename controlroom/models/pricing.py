"""Model prices: USD per million tokens of each kind, and the built-in table."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_PRICING", "Pricing"]


_MAX_PER_MTOK = 10_000.0
"""The highest price a config may set: USD per million tokens of one kind."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pricing(_Strict):
    """USD per million tokens of each kind, for one model.

    Cache writes have two prices, as the API bills them: ``cache_write_per_mtok``
    for the default 5-minute TTL and ``cache_write_1h_per_mtok`` for the 1-hour
    TTL (unset: twice the input price, Anthropic's rule, so a 1-hour write is
    never metered as cheaper than it is).
    """

    input_per_mtok: float = Field(ge=0, le=_MAX_PER_MTOK)
    output_per_mtok: float = Field(ge=0, le=_MAX_PER_MTOK)
    cache_read_per_mtok: float = Field(default=0.0, ge=0, le=_MAX_PER_MTOK)
    cache_write_per_mtok: float = Field(default=0.0, ge=0, le=_MAX_PER_MTOK)
    cache_write_1h_per_mtok: float | None = Field(default=None, ge=0, le=_MAX_PER_MTOK)

    @property
    def write_1h_per_mtok(self) -> float:
        """The 1-hour cache write price: as configured, else twice the input price."""
        rate = self.cache_write_1h_per_mtok
        return self.input_per_mtok * 2 if rate is None else rate

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        cache_read_input_tokens: int = 0,
        cache_creation_input_tokens: int = 0,
        cache_creation_1h_input_tokens: int = 0,
    ) -> float:
        """USD for these counts; ``cache_creation_input_tokens`` includes the 1-hour part."""
        one_hour = min(cache_creation_1h_input_tokens, cache_creation_input_tokens)
        return (
            input_tokens * self.input_per_mtok
            + output_tokens * self.output_per_mtok
            + cache_read_input_tokens * self.cache_read_per_mtok
            + (cache_creation_input_tokens - one_hour) * self.cache_write_per_mtok
            + one_hour * self.write_1h_per_mtok
        ) / 1_000_000


def _p(inp: float, out: float) -> Pricing:
    return Pricing(
        input_per_mtok=inp,
        output_per_mtok=out,
        cache_read_per_mtok=inp / 10,
        cache_write_per_mtok=inp * 1.25,
        cache_write_1h_per_mtok=inp * 2,
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
