"""Two kinds of turn the demo's simulated model plays: a working step, and the handoff.

``seconds`` is how long the model takes at ``--speed 1``; ``read`` is input
the answer adds (the files the agent read, billed as a server tool's results
are), so the meters move as a working agent's do.
"""

from __future__ import annotations

from typing import Any

from controlroom.sim import Turn

__all__ = ["handoff", "step"]


def step(text: str, tool: str, seconds: float, out: int, read: int = 0, **tool_input: Any) -> Turn:
    """One working turn: a line of status and a tool call."""
    return Turn(
        text=text,
        tool=tool,
        input=tool_input,
        output_tokens=out,
        server_input_tokens=read,
        seconds=seconds,
    )


def handoff(text: str, seconds: float, out: int, changed: str, next_needs: str, risks: str) -> Turn:
    """The last turn: the structured handoff, by the worker's ``handoff`` tool."""
    fields = {"changed": changed, "next_needs": next_needs, "risks": risks}
    return Turn(text=text, tool="handoff", input=fields, output_tokens=out, seconds=seconds)
