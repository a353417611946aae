"""The adapter for agents with no protocol: every line is log output."""

from __future__ import annotations

from controlroom.adapters.base import BaseAdapter
from controlroom.models import Event

__all__ = ["PlainAdapter"]


class PlainAdapter(BaseAdapter):
    """Any command's stdout (or any agent's stderr) as ``AgentOutput`` lines."""

    format = "plain"

    def _feed(self, line: str) -> list[Event]:
        return [self.output(line)]
