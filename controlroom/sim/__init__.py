"""A simulated Anthropic-compatible Messages API: scripted answers, exact usage, on 127.0.0.1.

Tests and the demo point Claude Code (``ANTHROPIC_BASE_URL``), the built-in
worker or the metering proxy at it, then compare what the control room
metered with what the simulator served. ``python -m controlroom.sim`` runs
one in the foreground and prints its URL.
"""

from controlroom.sim.prompt import Prompt, PromptUsage
from controlroom.sim.script import Answer, Failure, Script, Turn, count_input_tokens, load_script
from controlroom.sim.server import DEFAULT_MODEL, Ledger, Served, SimServer

__all__ = [
    "DEFAULT_MODEL",
    "Answer",
    "Failure",
    "Ledger",
    "Prompt",
    "PromptUsage",
    "Script",
    "Served",
    "SimServer",
    "Turn",
    "count_input_tokens",
    "load_script",
]
