"""The built-in worker: ``controlroom agent``, a small Claude agent that speaks the native protocol.

A program run *as an agent* (the supervisor starts it like any command):
role and task from its config (``role`` reaches it as ``CONTROLROOM_ROLE``,
the task as its argument), upstream handoffs as context, the model reached
through the metering proxy (``CONTROLROOM_MODEL_URL`` and, in swap mode,
``CONTROLROOM_MODEL_KEY``), usage reported live, its result a structured
handoff. Modules: ``worker`` (the loop, retries), ``prompt`` (system prompt,
first message, the two tools), ``protocol`` (native lines out, decisions in),
``cli`` (arguments and environment).

May import: models and the anthropic SDK only; it never reaches into the
control room it runs under (it talks to it through stdout, stdin and HTTP).
"""

from controlroom.agent.cli import main
from controlroom.agent.worker import Settings, Worker

__all__ = ["Settings", "Worker", "main"]
