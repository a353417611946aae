"""What the worker says to the model: its role, its task, its inputs, and its two tools.

The result is not prose to be parsed: the worker ends by a call of the
``handoff`` tool, whose input schema *is* the three-field handoff, so the
model's answer arrives as structured data (and a last turn forces that
call). ``request_gate`` lets the model ask the operator before it finishes
(a deploy, a destructive step); the answer comes back as the tool's result.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["GATE_TOOL", "HANDOFF_TOOL", "TOOLS", "first_message", "system_prompt"]

HANDOFF_TOOL = "handoff"
GATE_TOOL = "request_gate"

_FIELD = {"type": "string", "minLength": 1}

TOOLS: list[dict[str, Any]] = [
    {
        "name": HANDOFF_TOOL,
        "description": (
            "Finish your task: hand your result to the next agent. Call it exactly once, "
            "when you are done. Each field is plain text."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "changed": {**_FIELD, "description": "What you did: what changed."},
                "next_needs": {**_FIELD, "description": "What the next agent needs to know."},
                "risks": {**_FIELD, "description": "What risks remain."},
            },
            "required": ["changed", "next_needs", "risks"],
            "additionalProperties": False,
        },
    },
    {
        "name": GATE_TOOL,
        "description": (
            "Ask the human operator to approve a step before you take it (a deploy, a "
            "migration, anything hard to undo). Blocks until they decide; the result says "
            "whether it was approved and why."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "title": {**_FIELD, "description": "The question, short: 'deploy to staging?'"},
                "detail": {"type": "string", "description": "What exactly would happen."},
            },
            "required": ["title"],
            "additionalProperties": False,
        },
    },
]


def system_prompt(role: str, agent: str) -> str:
    who = role.strip() or f"You are {agent or 'an agent'}, one worker in a supervised swarm."
    return (
        f"{who}\n\n"
        "You work inside controlroom: an operator watches your spending and may stop you. "
        f"When your task is done, call the `{HANDOFF_TOOL}` tool once with what changed, "
        "what the next agent needs, and what risks remain. If a step needs the operator's "
        f"approval first, call `{GATE_TOOL}` and follow the decision."
    )


def first_message(task: str, handoffs: list[dict[str, Any]]) -> str:
    """The task, and the approved handoffs of the agents before this one (as JSON)."""
    text = f"Your task: {task.strip() or '(none given)'}"
    if handoffs:
        inputs = json.dumps(handoffs, ensure_ascii=False, indent=2)
        text += f"\n\nHandoffs from the agents before you (approved by the operator):\n{inputs}"
    return text
