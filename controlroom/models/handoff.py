"""The handoff: the only shape context travels in between agents."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Handoff"]


class Handoff(BaseModel):
    """The only shape context travels in between agents: exactly three fields.

    The per-swarm size cap is checked by ``controlroom.adapters.handoff.validate_handoff``
    (it depends on config); the model itself forbids extra and empty fields.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    changed: str = Field(min_length=1)
    next_needs: str = Field(min_length=1)
    risks: str = Field(min_length=1)
